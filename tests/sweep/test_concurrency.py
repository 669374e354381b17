"""One store, many processes: `harness run`s started together never fail on the store's creation and
never compute a point twice (issue #18, D11 and D12)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def start(spec: Path, uri: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "HARNESS_PLUGINS": "tests.fake_models", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(spec), "--tracking-uri", uri,
                             "--no-progress"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def point_runs(uri: str, name: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    return [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point"]


def test_two_runs_starting_together_on_a_new_store_both_finish(write_spec, tmp_path):
    """MLflow migrates a new SQLite store on first use; two processes doing it at once used to fail."""
    spec = write_spec("name: new\ndataset: {source: samples, limit: 2}\nmodels: [{name: grayscale}]\n"
                      "metrics: [psnr]\ngrids: {count: 0}\ndevice: cpu\n")
    for trial in range(2):
        uri = f"sqlite:///{tmp_path / f'new-{trial}.db'}"
        procs = [start(spec, uri, tmp_path) for _ in range(2)]
        results = [finish(p) for p in procs]
        assert [code for code, _ in results] == [0, 0], [err[-2000:] for _, err in results]
        runs = point_runs(uri, "new")
        assert [r.info.status for r in runs] == ["FINISHED"]  # computed once, reused by the other
        assert sorted(err.count("[reused]") for _, err in results) == [0, 1]


def test_the_same_spec_started_twice_computes_each_point_once(write_spec, tracking_uri, tmp_path):
    spec = write_spec("""\
name: twice
dataset: {source: samples, limit: 3}
models:
  - name: fake-tint
    delay: 2.0
metrics: [psnr]
grids: {count: 0}
batch_size: 1
device: cpu
""")  # 6 s of model work: the second process arrives while the first computes
    first = start(spec, tracking_uri, tmp_path)
    time.sleep(0.3)
    second = start(spec, tracking_uri, tmp_path)
    (code_a, err_a), (code_b, err_b) = finish(first), finish(second)
    assert (code_a, code_b) == (0, 0), (err_a[-2000:], err_b[-2000:])
    runs = point_runs(tracking_uri, "twice")
    assert [r.info.status for r in runs] == ["FINISHED"]
    client = MlflowClient(tracking_uri)
    sweeps = client.search_runs([runs[0].info.experiment_id], "tags.`harness.kind` = 'sweep'")
    assert sorted(r.data.metrics["n_model_images"] for r in sweeps) == [0, 3]  # every image once, by one of them
    waited = err_a if "[waiting]" in err_a else err_b
    assert "another harness process is computing it on this store" in waited and "[reused]" in waited
