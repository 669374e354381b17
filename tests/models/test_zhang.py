"""Zhang et al. (ECCV16, SIGGRAPH17) without the upstream reference: layout, strict loading, shapes,
batching, out-of-memory handling, precision, and `harness colorize`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from harness.cli import main
from harness.errors import HarnessError
from harness.models.registry import build_model, get_model_class
from harness.models.zhang import networks as zhang_nets
from tests.models.conftest import gray


@pytest.fixture(scope="module")
def siggraph17_checkpoint(tmp_path_factory):
    """SIGGRAPH17 with torch's default init (uncalibrated: enough for shapes and key checks)."""
    path = tmp_path_factory.mktemp("zhang") / "siggraph17.pth"
    torch.save(zhang_nets.SIGGRAPH17().state_dict(), path)
    return path


def test_random_weights_file_is_a_plain_legacy_state_dict(eccv16_checkpoint):
    assert eccv16_checkpoint.read_bytes()[:1] == b"\x80"  # torch's pre-1.6 format, as the official files
    state = torch.load(eccv16_checkpoint, weights_only=True)
    assert len(state) == 82 and all(isinstance(v, torch.Tensor) for v in state.values())


def test_shapes_for_odd_sizes_in_one_forward_pass(eccv16_checkpoint, monkeypatch):
    model = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint)}, "cpu")
    seen = []
    real = zhang_nets.ECCV16.forward
    monkeypatch.setattr(zhang_nets.ECCV16, "forward", lambda self, x: seen.append(tuple(x.shape)) or real(self, x))
    grays = [gray(256, 256, 0), gray(256, 256, 1), gray(37, 61, 2), gray(1, 7, 3)]
    outs = model.colorize(grays)
    assert seen == [(4, 1, 256, 256)]  # the batch given is one forward pass
    assert [o.shape for o in outs] == [(256, 256, 3), (256, 256, 3), (37, 61, 3), (1, 7, 3)]
    assert all(o.dtype == np.uint8 for o in outs)
    assert model.describe_run() == {"forward_batch": "4", "batching": "the runner's batch in one forward pass"}
    # calibrated random weights colour the images, differently per image (the parity tests rely on it)
    assert min(np.abs(o.astype(int) - g[..., None]).mean() for o, g in zip(outs[:3], grays[:3])) > 3
    assert np.abs(outs[0].astype(int) - outs[1]).mean() > 3
    assert model.colorize([]) == []


def test_siggraph17_shapes(siggraph17_checkpoint):
    model = build_model("zhang-siggraph17", {"weights": str(siggraph17_checkpoint)}, "cpu")
    outs = model.colorize([gray(45, 71), gray(300, 20, 1)])
    assert [o.shape for o in outs] == [(45, 71, 3), (300, 20, 3)] and outs[0].dtype == np.uint8
    assert "no hints" in model.describe()["architecture"]


def test_strict_load_names_missing_extra_and_misshaped_keys(eccv16_checkpoint, tmp_path):
    state = torch.load(eccv16_checkpoint, weights_only=True)
    del state["model4.2.bias"]
    state["model9.0.weight"] = torch.zeros(3)
    state["model_out.weight"] = torch.zeros(2, 312, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(HarnessError) as info:
        build_model("zhang-eccv16", {"weights": str(path)}, "cpu")
    msg = str(info.value)
    assert "model4.2.bias" in msg and "model9.0.weight" in msg and "model_out.weight (2, 312, 1, 1)" in msg
    assert "1 missing key" in msg and "1 unexpected" in msg and "1 of the wrong shape" in msg


def test_the_other_models_file_is_named(eccv16_checkpoint, siggraph17_checkpoint):
    with pytest.raises(HarnessError, match="These look like zhang-siggraph17 weights: use model zhang-siggraph17"):
        build_model("zhang-eccv16", {"weights": str(siggraph17_checkpoint)}, "cpu")
    with pytest.raises(HarnessError, match="These look like zhang-eccv16 weights"):
        build_model("zhang-siggraph17", {"weights": str(eccv16_checkpoint)}, "cpu")


def test_a_foreign_checkpoint_is_not_taken_for_a_zhang_one(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"layers.0.weight": torch.zeros(1)}, path)
    with pytest.raises(HarnessError, match="not a Zhang et al. colorizer checkpoint"):
        build_model("zhang-eccv16", {"weights": str(path)}, "cpu")


def test_parameters_are_upstreams_only():
    cls = get_model_class("zhang-siggraph17")
    assert set(cls.Params.model_fields) == {"weights", "precision", "exact"} and cls.Params().precision == "fp32"
    assert cls.Params().exact is False  # upstream's host path on request; the default runs on the model's device
    with pytest.raises(HarnessError, match="Unknown parameter 'render_factor'"):
        build_model("zhang-eccv16", {"render_factor": 10})


def test_fp16_on_cpu_is_a_clear_error(eccv16_checkpoint):
    with pytest.raises(HarnessError, match="fp16 needs a CUDA"):
        build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint), "precision": "fp16"}, "cpu")


def test_missing_official_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    cls = get_model_class("zhang-eccv16")
    with pytest.raises(HarnessError) as info:
        cls.preflight(cls.Params())
    msg = str(info.value)
    assert "colorization_release_v2-9b330a0b.pth" in msg and "colorizers.s3" in msg
    assert "harness weights fetch zhang-eccv16" in msg


def test_describe_and_network_reuse(eccv16_checkpoint):
    first = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint)}, "cpu")
    again = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint), "precision": "bf16"}, "cpu")
    assert again._engine.net is first._engine.net  # a precision sweep loads the file once
    info = first.describe()
    assert info["weights_path"] == str(eccv16_checkpoint) and "313 ab bins" in info["architecture"]
    assert info["network_input"].startswith("256x256")
    assert set(first.stage_seconds()) == {"preprocess", "model", "postprocess"}


def test_harness_colorize_fp32_and_bf16(eccv16_checkpoint, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    grays = {"a.png": gray(40, 56, 1), "b.png": gray(33, 64, 2)}
    for name, g in grays.items():
        Image.fromarray(g).save(src / name)
    outs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        args = ["colorize", str(src), "--model", "zhang-eccv16", "--weights", str(eccv16_checkpoint),
                "--device", "cpu", "--out", str(out)]
        assert main(args + ["--set", f"precision={precision}"]) == 0, capsys.readouterr().err
        assert "2 image(s) written" in capsys.readouterr().out
        outs[precision] = {n: np.asarray(Image.open(out / n)) for n in grays}
    for name, g in grays.items():
        fp32, bf16 = outs["fp32"][name].astype(int), outs["bf16"][name].astype(int)
        assert fp32.shape == bf16.shape == (*g.shape, 3)
        signal = np.abs(fp32 - g[..., None]).mean()  # the colour the model adds
        assert signal > 3 and np.abs(bf16 - fp32).mean() < signal  # bf16: the same network, rounded
