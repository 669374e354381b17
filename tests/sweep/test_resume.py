"""Resume: an interrupted sweep (Ctrl-C or kill -9) loses no finished point and duplicates none."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import tests.fake_models  # noqa: F401
from harness.cli import main
from harness.tracking import layout

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
name: resume
dataset:
  source: samples
  limit: 2
models:
  - name: fake-tint
    strength: [0.1, 0.2, 0.3]
    delay: {delay}
grids: {{count: 0}}
metrics: [psnr]
batch_size: 1
device: cpu
"""


def point_runs(uri: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("resume")
    if exp is None:
        return []
    return [r for r in client.search_runs([exp.experiment_id], max_results=1000)
            if r.data.tags.get("harness.kind") == "point"]


def point_statuses(db: Path) -> list[str]:
    """Statuses of point runs read with plain SQL: opening an MlflowClient on a store that the
    child process is still creating would race its schema migration."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return [row[0] for row in con.execute(
                "SELECT r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "WHERE t.key = 'harness.kind' AND t.value = 'point'")]
    except sqlite3.Error:  # tables not created yet
        return []


def finished_keys(uri: str) -> list[str]:
    return [r.data.tags[layout.KEY] for r in point_runs(uri) if r.info.status == "FINISHED"]


def test_ctrl_c_keeps_finished_points_and_resumes(write_spec, tracking_uri, monkeypatch, capsys):
    import harness.executors.local as runner  # where the local executor runs a shard

    spec = write_spec(SPEC.format(delay=0))
    real = runner.process
    calls = {"n": 0}

    def interrupt_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "process", interrupt_on_second)
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 130
    assert "resume" in capsys.readouterr().err
    runs = point_runs(tracking_uri)
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]
    monkeypatch.setattr(runner, "process", real)

    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("[reused]") == 1 and err.count("[done]") == 2
    keys = finished_keys(tracking_uri)
    assert len(keys) == 3 and len(set(keys)) == 3


def test_kill_9_mid_point_resumes_without_duplicates(write_spec, tracking_uri, tmp_path):
    spec = write_spec(SPEC.format(delay=1.0))
    env = {**os.environ, "HARNESS_PLUGINS": "tests.fake_models", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "harness.cli", "run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # wait until one point is finished and the next one is running, then kill -9
        while time.monotonic() < deadline:
            statuses = point_statuses(tmp_path / "mlflow.db")
            if "FINISHED" in statuses and "RUNNING" in statuses:
                break
            if proc.poll() is not None:
                pytest.fail(f"harness exited early: {proc.stderr.read().decode()}")
            time.sleep(0.2)
        else:
            pytest.fail("no point finished within 120 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = point_runs(tracking_uri)
    finished_before = {r.data.tags[layout.KEY] for r in before if r.info.status == "FINISHED"}
    leftovers = [r.info.run_id for r in before if r.info.status == "RUNNING"]
    assert finished_before and leftovers

    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = point_runs(tracking_uri)
    finished = [r.data.tags[layout.KEY] for r in after if r.info.status == "FINISHED"]
    assert len(finished) == 3 and len(set(finished)) == 3  # every point once
    assert finished_before <= set(finished)  # nothing finished was redone or lost
    client = MlflowClient(tracking_uri)
    for run_id in leftovers:
        assert client.get_run(run_id).info.status == "FAILED"
    assert done.stderr.count("[reused]") == len(finished_before)
    # the killed process's sweep (parent) run is closed too: nothing of the experiment stays RUNNING
    everything = client.search_runs([client.get_experiment_by_name("resume").experiment_id], max_results=1000)
    assert [r.info.run_id for r in everything if r.info.status == "RUNNING"] == []
    parents = sorted((r for r in everything if r.data.tags.get("harness.kind") == "sweep"),
                     key=lambda r: r.info.start_time)
    assert [r.info.status for r in parents] == ["KILLED", "FINISHED"]
    assert "left RUNNING by a killed process" in parents[0].data.tags["harness.note"]
    assert "[cleanup] sweep run" in done.stderr


# ----- the run key: every input that changes the numbers gives a new run ------------------------
KEY_SPEC = """\
name: key
dataset: {{source: folder, path: {folder}, seed: {seed}}}
models:
  - name: fake-weighted
    weights: {weights}
metrics: {metrics}
grids: {{count: 0}}
batch_size: {batch_size}
device: {device}
metrics_impl: {impl}
protocol: {protocol}
"""
BASE = dict(seed=0, metrics="[psnr]", batch_size=2, impl="skimage", device="cpu", protocol="native")


@pytest.fixture
def key_setup(tmp_path, tracking_uri, capsys):
    """A folder of two photos, a weights file, and `run(**changes)` -> '[done]' or '[reused]'
    (the spec it writes is `run.spec`)."""
    from PIL import Image

    from tests.conftest import small_photos

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        Image.fromarray(small_photos()[name]).save(folder / name)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights v1")

    def run(**changes) -> str:
        run.spec.write_text(KEY_SPEC.format(folder=folder, weights=weights, **{**BASE, **changes}))
        assert main(["run", str(run.spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
        err = capsys.readouterr().err
        return "[reused]" if "[reused]" in err else "[done]" if "[done]" in err else err

    run.spec = tmp_path / "key.yaml"
    assert run() == "[done]"
    assert run() == "[reused]"  # control: nothing changed
    return run, folder, weights


def test_changed_data_gives_a_new_run(key_setup):
    run, folder, _ = key_setup
    (folder / "coffee.png").write_bytes((folder / "astronaut.png").read_bytes())  # same name, other content
    assert run() == "[done]"
    (folder / "new.png").write_bytes((folder / "astronaut.png").read_bytes())
    assert run() == "[done]"


def test_changed_weights_file_gives_a_new_run(key_setup):
    run, _, weights = key_setup
    weights.write_bytes(b"weights v2")
    assert run() == "[done]"


@pytest.mark.parametrize("change", [
    {"metrics": "[psnr, ssim]"}, {"metrics": "[ssim]"}, {"batch_size": 1}, {"seed": 1}, {"impl": "torch"},
    {"protocol": "resize256"}],
    ids=["metric-added", "metric-swapped", "batch_size", "seed", "metrics_impl", "protocol"])
def test_changed_setting_gives_a_new_run(key_setup, change):
    run, _, _ = key_setup
    assert run(**change) == "[done]"
    assert run(**change) == "[reused]"


def test_a_changed_metric_option_or_metric_weights_file_gives_a_new_run(key_setup, inception_file, tmp_path):
    from tests.metrics.test_perceptual import features_only_alexnet

    run, _, _ = key_setup
    kid = "[psnr, {{name: kid, subsets: {n}, subset_size: 2, weights: %s}}]" % inception_file
    assert run(metrics=kid.format(n=5)) == "[done]"
    assert run(metrics=kid.format(n=5)) == "[reused]"
    assert run(metrics=kid.format(n=6)) == "[done]"  # same metric, same weights, another option value
    backbone = features_only_alexnet(tmp_path / "alexnet.pth")
    lpips = f"[psnr, {{name: lpips, weights: {backbone}}}]"
    assert run(metrics=lpips) == "[done]"
    assert run(metrics=lpips) == "[reused]"
    features_only_alexnet(backbone, lambda s: s.__setitem__("features.0.bias", s["features.0.bias"] + 1))
    assert run(metrics=lpips) == "[done]"  # same path, other content: the key holds the file's sha256


def test_a_new_scoring_version_gives_a_new_run(key_setup, monkeypatch):
    import harness.sweep.identity

    run, _, _ = key_setup
    monkeypatch.setattr(harness.sweep.identity, "SCORING_VERSION", harness.sweep.identity.SCORING_VERSION + 1)
    assert run() == "[done]"


def test_a_cpu_run_is_never_reused_for_a_cuda_spec(key_setup, monkeypatch, tracking_uri):
    """A fake CUDA device: the model and metrics touch no GPU, only the device names differ."""
    import harness.device
    import harness.pipeline.process as process
    from harness.data.images import is_grayscale

    run, _, _ = key_setup
    monkeypatch.setattr(harness.device, "_cuda_count", lambda: 1)
    monkeypatch.setattr(process, "is_grayscale", lambda rgb, device: is_grayscale(rgb))  # the check on the CPU
    assert run(device="cuda") == "[done]"  # the CPU run exists, same everything else: not reused
    assert run(device="cuda") == "[reused]"
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("key")
    devices = sorted(r.data.params["device"] for r in client.search_runs([exp.experiment_id])
                     if r.data.tags.get("harness.kind") == "point")
    assert devices == ["cpu", "cuda"]
    assert run() == "[reused]"  # and the CUDA run is not taken for the CPU spec: the CPU one is


def test_a_live_process_running_the_same_point_is_refused(key_setup, tracking_uri, capsys):
    """A RUNNING point run whose process is alive on this host is another sweep at work: not run twice."""
    import socket

    run, _, _ = key_setup
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("key")
    done = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = client.create_run(exp.experiment_id, tags={
            "harness.kind": "point", layout.KEY: done.data.tags[layout.KEY], "harness.host": socket.gethostname(),
            "harness.pid": str(sleeper.pid)})
        assert main(["run", str(run.spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"still running in process {sleeper.pid}" in err
        assert client.get_run(busy.info.run_id).info.status == "RUNNING"  # left alone
    finally:
        sleeper.kill()
        sleeper.wait()
    assert main(["run", str(run.spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0  # its process died
    assert client.get_run(busy.info.run_id).info.status == "FAILED"
