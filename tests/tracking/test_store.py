"""A store that fails or is not there: a clear error naming it within seconds, never a hang or a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.tracking.store import HTTP_BOUNDS, GuardedClient, bound_http

ROOT = Path(__file__).resolve().parents[2]
SPEC = "name: s\ndataset: {source: samples, limit: 2}\nmodels: [{name: grayscale}]\nmetrics: [psnr]\n" \
       "grids: {count: 0}\ndevice: cpu\n"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], cwd: Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={"PYTHONPATH": str(ROOT), "HARNESS_OFFLINE": "1", "PATH": "/usr/bin"})
    return done, time.perf_counter() - start


def test_a_server_where_nothing_listens_is_a_clear_error_within_seconds(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    uri = f"http://127.0.0.1:{closed_port()}"
    done, seconds = run(["run", "s.yaml", "--tracking-uri", uri, "--no-progress"], tmp_path)
    assert done.returncode == 2 and seconds < 30, (seconds, done.stderr)
    assert f"Cannot reach the MLflow tracking server {uri}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_server_that_answers_errors_is_a_clear_error_within_seconds(tmp_path, http_server):
    """Something listens but is not (or no longer) an MLflow server: MLflow's retries are bounded."""
    (tmp_path / "s.yaml").write_text(SPEC)
    uri = http_server.url("")
    done, seconds = run(["run", "s.yaml", "--tracking-uri", uri, "--no-progress"], tmp_path)
    assert done.returncode == 2 and seconds < 60, (seconds, done.stderr)
    assert uri in done.stderr and "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_http_bounds_are_set_only_where_the_user_set_none(monkeypatch):
    for key in HTTP_BOUNDS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        bound_http(f"http://127.0.0.1:{server.getsockname()[1]}")
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"  # the user's choice stands
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == HTTP_BOUNDS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]


class _Dying:
    """A client whose store went away mid-run."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def log_batch(self, *args, **kwargs):
        raise self.exc

    def broken_code(self):
        raise TypeError("a bug, not the store")


@pytest.mark.parametrize("exc, said", [
    (__import__("requests").exceptions.ConnectionError("Max retries exceeded"), "failed (log_batch: ConnectionError"),
    (OSError(28, "No space left on device"), "No space left on the device of the tracking store"),
])
def test_a_failing_store_call_is_an_error_naming_the_store(exc, said):
    client = GuardedClient(_Dying(exc), "http://mlflow.example:5000")
    with pytest.raises(HarnessError) as info:
        client.log_batch("run", metrics=[])
    assert said in str(info.value) and "http://mlflow.example:5000" in str(info.value)
    with pytest.raises(TypeError):  # a bug in the caller stays a bug
        client.broken_code()


def test_a_full_disk_mid_run_is_an_error_naming_the_file_not_a_traceback(write_spec, tracking_uri, monkeypatch,
                                                                        capsys):
    import harness.sweep.shards as shards
    from harness.cli import main

    def full(self, shard, result):
        raise OSError(28, "No space left on device", str(self.folder / "shard-00000.npz"))

    monkeypatch.setattr(shards.Journal, "save", full)
    assert main(["run", str(write_spec(SPEC)), "--tracking-uri", tracking_uri, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: No space left on device" in err and "shard-00000.npz" in err and "free space there" in err
    assert "internal error" not in err and "Traceback" not in err
