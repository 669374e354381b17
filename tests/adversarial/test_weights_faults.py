"""A weights file cut short (#18 D8): a `HarnessError` naming the file and the fix, never an internal
error; inside `harness run` only the points of that model fail, the sweep goes on."""

from __future__ import annotations

import pytest
import torch

from harness.assets.checkpoint import safe_load
from harness.cli import main
from harness.errors import HarnessError
from harness.models.registry import get_model_class


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    state = {"w": torch.arange(4000, dtype=torch.float32)}
    torch.save(state, root / "zip.pth")
    torch.save(state, root / "legacy.pth", _use_new_zipfile_serialization=False)
    return root


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("keep", [3, 10, 300, 1000, -1])
def test_a_cut_weights_file_is_a_harness_error_naming_the_file_and_the_fix(checkpoints, tmp_path, fmt, keep):
    whole = (checkpoints / f"{fmt}.pth").read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[:keep])
    with pytest.raises(HarnessError) as info:
        safe_load(cut)
    message = str(info.value)
    assert str(cut) in message
    assert "fetch" in message  # the fix: delete it and fetch it again (or a whole copy)


def test_inside_harness_run_only_that_models_points_fail(tmp_path, write_spec, tracking_uri, capsys):
    zhang = get_model_class("zhang-eccv16")
    whole = zhang.write_random_weights(tmp_path / "zhang.pth")
    cut = tmp_path / "zhang-cut.pth"
    cut.write_bytes(whole.read_bytes()[:1000])
    spec = write_spec(f"""name: cut-weights
dataset: {{source: samples, limit: 2}}
models:
  - name: zhang-eccv16
    weights: {cut}
  - name: grayscale
metrics: [psnr]
""")
    code = main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "internal error" not in err
    assert "[failed] zhang-eccv16" in err and "truncated or corrupt" in err and str(cut) in err
    assert "[done] grayscale" in err
