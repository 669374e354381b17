"""Metric weights at the sweep level, through `harness run` into MLflow: a metric whose weights file is
unusable or missing is left out before any work (exit 1, the cause in full), the other metrics score every
image; FID's small-sample caveat reaches the run's tag and `harness compare`.

One sweep serves every test here (grayscale on 3 bundled photos, offline, an empty weights cache):
- `lpips`: its official AlexNet is not cached and HARNESS_OFFLINE forbids fetching it;
- `kid`: named file unpickles `shutil.rmtree` (a global torch does not block by itself);
- `fid`: random, calibrated Inception weights in pytorch-fid's format (valid).
"""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import torch
from mlflow.tracking import MlflowClient

from harness.cli import main
from harness.tracking import layout
from tests.conftest import RemovesADirectory

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, inception_file):
    root = tmp_path_factory.mktemp("metric-weights")
    victim = root / "victim"
    victim.mkdir()
    evil = root / "evil_inception.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": RemovesADirectory(victim)}, evil)
    spec = root / "spec.yaml"
    spec.write_text(f"""\
name: metric-weights
dataset: {{source: samples, limit: 3}}
models:
  - name: grayscale
metrics: [psnr, lpips, {{name: fid, weights: {inception_file}}}, {{name: kid, weights: {evil}}}]
grids: {{count: 0}}
batch_size: 2
device: cpu
""")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_OFFLINE", "1")
        mp.setenv("HARNESS_HOME", str(root / "home"))  # an empty weights cache
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["run", str(spec), "--tracking-uri", uri, "--no-progress"])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("metric-weights")
    (point,) = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point"]
    return {"code": code, "err": err.getvalue(), "run": point, "uri": uri, "evil": evil, "victim": victim}


def test_a_metric_file_that_would_run_code_is_refused_before_any_work(sweep):
    err, run = sweep["err"], sweep["run"]
    assert sweep["code"] == 1  # a metric asked for is not computed: not a clean run
    assert err.count("[missing] metric kid (left out of every point)") == 1
    assert f"Weights file '{sweep['evil']}' names shutil.rmtree besides tensors; refused" in err
    assert sweep["victim"].is_dir()  # nothing from the file ran
    assert run.data.tags[layout.METRIC_NOTE + "kid"].startswith(f"not computed: Weights file '{sweep['evil']}'")
    assert "kid_mean" not in run.data.metrics
    # the other metrics scored every image: the bad file cost nothing but its own metric
    m = run.data.metrics
    assert (m["n_scored"], m["n_failed"]) == (3, 0) and math.isfinite(m["psnr_mean"]) and m["psnr_mean"] > 10
    assert run.data.params["metrics"].split(",")[0] == "psnr" and "kid" not in run.data.params["metrics"]


def test_missing_metric_weights_offline_leave_that_metric_out(sweep):
    err, run = sweep["err"], sweep["run"]
    assert err.count("[missing] metric lpips (left out of every point)") == 1  # said once, in full
    assert "alexnet-owt-7be5be79.pth" in err and "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in err
    assert "Cache path: " in err and "harness weights fetch lpips-alex" in err
    assert "[done] grayscale: psnr_mean=" in err and "(without lpips, kid: weights missing or unusable" in err
    assert run.data.tags[layout.METRIC_NOTE + "lpips"].startswith("not computed: Weights for lpips-alex")
    assert "lpips_mean" not in run.data.metrics


def test_fid_on_a_small_sample_says_it_is_biased_in_the_run_and_in_compare(sweep, capsys):
    run = sweep["run"]
    assert run.data.metrics["n_fid"] == 3 and run.data.metrics["fid"] > 1  # calibrated weights: a real distance
    assert run.data.tags[layout.METRIC_NOTE + "fid"] == ("FID over 3 images (< 2000) is strongly biased upward; compare "
                                                 "only runs with the same number of images")
    assert main(["compare", "--metric", "fid", "--tracking-uri", sweep["uri"]]) == 0
    out = capsys.readouterr().out
    assert "FID over 3–3 images: below 2,000 FID is strongly biased upward" in out
    assert main(["compare", "--metric", "psnr_mean", "--tracking-uri", sweep["uri"]]) == 0
    assert "biased" not in capsys.readouterr().out  # the caveat is FID's, not every ranking's
