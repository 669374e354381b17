"""DeOldify through the whole harness: a render-factor sweep into MLflow, offline failure, `harness colorize`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from harness.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stable_checkpoint(tmp_path_factory):
    from harness.models.deoldify.checkpoint import randomize_, save_fastai
    from harness.models.deoldify.unet import STABLE, build

    return save_fastai(randomize_(build(STABLE), seed=2), tmp_path_factory.mktemp("ck") / "stable.pth")


def test_sweep_of_both_models_runs_into_mlflow(write_spec, tracking_uri, artistic_checkpoint, stable_checkpoint,
                                               capsys):
    spec = write_spec(f"""\
name: deoldify-e2e
dataset: {{source: samples, limit: 2, seed: 0}}
models:
  - name: grayscale
  - name: deoldify-artistic
    render_factor: [4, 8]
    weights: {artistic_checkpoint}
  - name: deoldify-stable
    render_factor: [4, 8]
    weights: {stable_checkpoint}
grids: {{count: 2}}
batch_size: 2
device: cpu
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr().err
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("deoldify-e2e")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point"]
    assert len(runs) == 5
    by_label = {r.data.tags["harness.label"]: r for r in runs}
    art = by_label[f"deoldify-artistic[render_factor=8,weights={artistic_checkpoint}]"]
    p = art.data.params
    assert p["render_factor"] == "8" and p["precision"] == "fp32" and p["device"] == "cpu"
    assert len(p["weights_sha256"]) == 64 and p["render_size"] == "128"
    assert art.data.metrics["n_scored"] > 0 and "psnr_mean" in art.data.metrics
    stable = [r for label, r in by_label.items() if label.startswith("deoldify-stable")]
    assert len(stable) == 2 and all(r.info.status == "FINISHED" for r in stable)


def test_missing_official_weights_fail_fast_while_baseline_runs(write_spec, tracking_uri, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    spec = write_spec("""\
name: offline
dataset: {source: samples, limit: 2}
models:
  - name: grayscale
  - name: deoldify-artistic
    render_factor: [10, 20]
device: cpu
""")
    from harness.assets import weights

    calls = []
    real = weights.ensure
    monkeypatch.setattr(weights, "ensure", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert len(calls) == 1  # resolved once for both render factors, not once per point
    assert err.index("[failed] deoldify-artistic:") < err.index("[done] grayscale")  # known before any work
    assert err.count("[failed] deoldify-artistic[render_factor=") == 2 and err.count("(details above)") == 2
    assert err.count("harness weights fetch deoldify-artistic") == 1  # the full message once
    assert "ColorizeArtistic_gen.pth" in err and str(tmp_path / "home" / "weights") in err
    assert "\nRun `harness weights fetch" in err  # the hint starts its own line after the URL list
    client = MlflowClient(tracking_uri)
    parent = next(r for r in client.search_runs([client.get_experiment_by_name("offline").experiment_id])
                  if r.data.tags.get("harness.kind") == "sweep")
    assert parent.info.status == "FAILED"  # and the UI says why:
    assert parent.data.tags["harness.failed"] == "deoldify-artistic[render_factor=10], deoldify-artistic[render_factor=20]"
    assert "harness weights fetch deoldify-artistic" in parent.data.tags["mlflow.note.content"]
    path = client.download_artifacts(parent.info.run_id, "outcomes.json", str(tmp_path))
    outcomes = json.loads(Path(path).read_text())
    assert [(o["label"], o["status"]) for o in outcomes] == [
        ("grayscale", "done"), ("deoldify-artistic[render_factor=10]", "failed"),
        ("deoldify-artistic[render_factor=20]", "failed")]


def test_colorize_command_writes_pngs_and_skips_bad_files(photo_dir, tmp_path, artistic_checkpoint, capsys):
    out = tmp_path / "out"
    code = main(["colorize", str(photo_dir), "--model", "deoldify-artistic", "--set", "render_factor=4",
                 "--weights", str(artistic_checkpoint), "--device", "cpu", "--out", str(out)])
    assert code == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["astronaut.png", "chelsea.png", "coffee.png", "gray_as_rgb.png", "sub/rocket.png"]
    assert np.asarray(Image.open(out / "chelsea.png")).shape == (80, 100, 3)
    err = capsys.readouterr().err
    assert "skipped" in err and "empty.jpg" in err and "notes.txt" in err


def test_spec_batch_size_is_the_forward_pass_batch_on_the_cpu(write_spec, tracking_uri, artistic_checkpoint,
                                                              monkeypatch, capsys):
    from harness.models.deoldify.unet import Generator

    seen = []
    real = Generator.forward
    monkeypatch.setattr(Generator, "forward", lambda self, x: seen.append(len(x)) or real(self, x))
    spec = write_spec(f"""\
name: batching
dataset: {{source: samples}}
models:
  - name: deoldify-artistic
    render_factor: 2
    weights: {artistic_checkpoint}
grids: {{count: 0}}
metrics: [psnr]
batch_size: 3
device: cpu
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr().err
    # 9 samples in chunks of 3; the grayscale camera (in the first chunk) never reaches the model
    assert seen == [2, 3, 3]
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("batching")
    run = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point")
    assert run.data.params["batch_size"] == "3" and run.data.params["forward_batch"] == "3"
    assert run.data.params["batching"] == "the runner's batch in one forward pass, channels-last"
    assert run.data.params["exact"] == "False" and run.data.params["memory_format"] == "channels_last"


def test_colorize_refuses_a_file_that_is_not_a_checkpoint(photo_dir, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("epoch 101: loss 0.3\n")
    code = main(["colorize", str(photo_dir), "--set", "render_factor=2", "--weights", str(notes), "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "is not a PyTorch checkpoint" in err and str(notes) in err and "KeyError" not in err


def test_colorize_without_weights_says_how_to_pass_them(photo_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    code = main(["colorize", str(photo_dir), "--device", "cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "--weights PATH" in err and "harness weights fetch deoldify-artistic" in err


def test_colorize_an_empty_folder_is_an_error(tmp_path, artistic_checkpoint, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["colorize", str(tmp_path / "empty"), "--weights", str(artistic_checkpoint), "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "No files to colorize" in err and str(tmp_path / "empty") in err
    assert not (tmp_path / "out").exists()
