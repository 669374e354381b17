"""`harness ui` serves the harness's own store on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_serves_the_store(tmp_path, tracking_uri):
    from harness.tracking import Tracker

    Tracker("ui-check", tracking_uri)  # creates the store and one experiment
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "ui", "--port", str(port), "--tracking-uri",
                             tracking_uri], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and body is None:
            if proc.poll() is not None:
                pytest.fail(proc.stdout.read().decode())
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    body = json.loads(resp.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "UI did not answer within 90 s"
        assert "ui-check" in [e["name"] for e in body["experiments"]]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    out = proc.stdout.read().decode()
    assert f"http://127.0.0.1:{port}" in out
