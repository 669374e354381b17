"""`harness ui` serves the harness's own store on 127.0.0.1, opens experiments on their runs, and
takes its server down with it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(tmp_path, tracking_uri):
    """`harness ui` in a subprocess (in the test's own process group, as from a shell script),
    waited on until the UI answers; returns (process, port, server pid, experiments answer)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "ui", "--port", str(port), "--tracking-uri",
                             tracking_uri], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = proc.stdout.readline().decode()
    assert f"http://127.0.0.1:{port}" in first, first
    server = int(re.search(r"server pid (\d+)", first).group(1))
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
    return proc, port, server, body


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ui_serves_the_store_and_opens_experiments_on_their_runs(tmp_path, tracking_uri):
    from harness.tracking.client import Tracker

    Tracker("ui-check", tracking_uri)  # creates the store and one experiment
    proc, _, server, body = start_ui(tmp_path, tracking_uri)
    try:
        exp = next(e for e in body["experiments"] if e["name"] == "ui-check")
        tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
        assert tags["mlflow.experimentKind"] == "custom_model_development"  # the runs table, not GenAI overview
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    assert not group_alive(server)


def test_sigterm_takes_the_server_and_its_workers_down(tmp_path, tracking_uri):
    from harness.tracking.client import Tracker

    Tracker("ui-check", tracking_uri)
    proc, port, server, _ = start_ui(tmp_path, tracking_uri)
    assert group_alive(server) and os.getpgid(server) == server  # the server leads a group of its own
    try:
        os.kill(proc.pid, signal.SIGTERM)  # the harness process only, as `kill PID` does
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while group_alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(server), "the MLflow server (or a worker) outlived `harness ui`"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    finally:
        if group_alive(server):
            os.killpg(server, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
