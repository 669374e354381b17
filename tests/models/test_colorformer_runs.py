"""ColorFormer through the paths users take: a `harness run` sweep (also over degradations, #21: a model
with random weights loses PSNR with every step of noise severity) and `harness colorize`."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from harness.cli.main import main
from harness.models.registry import get_model_class

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random weights in the official file's layout (BasicSR's {'params': ...}), written by the test."""
    return get_model_class("colorformer").write_random_weights(tmp_path_factory.mktemp("cf") / "net_g.pth", seed=5)


def test_a_sweep_over_noise_severities_runs_colorformer_and_psnr_falls_with_severity(tmp_path, tracking_uri,
                                                                                   photo_dir, checkpoint):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
name: cf-noise
dataset: {{source: folder, path: {photo_dir}}}
models:
  - name: grayscale
  - name: colorformer
    input_size: 64
    weights: {checkpoint}
degradations: [none, {{name: gaussian_noise, severity: [1, 3, 5]}}]
metrics: [psnr, ssim]
grids: {{count: 0}}
report: {{images: 0}}
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0  # bad files are rows
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("cf-noise")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("harness.kind") == "point"]
    psnr = {(r.data.tags["harness.model"], r.data.params.get("degradation", "none"),
             r.data.params.get("degradation_severity", "0")): r.data.metrics["psnr_mean"] for r in runs}
    for model in ("grayscale", "colorformer"):
        chain = [psnr[(model, "none", "0")]] + [psnr[(model, "gaussian_noise", str(s))] for s in (1, 3, 5)]
        assert all(a > b for a, b in zip(chain, chain[1:])), (model, chain)
    assert {r.data.metrics["n_scored"] for r in runs} == {4.0}  # every colour photo scored at every point


def test_colorize_writes_one_png_per_photo(tmp_path, photo_dir, checkpoint, capsys):
    out = tmp_path / "out"
    code = main(["colorize", str(photo_dir), "--model", "colorformer", "--weights", str(checkpoint), "--set",
                 "input_size=64", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert "astronaut.png" in written and "sub/rocket.png" in written and len(written) == 5  # + the gray photo
