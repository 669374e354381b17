"""`harness ui` serves the harness's own store on 127.0.0.1, opens on the latest sweep's runs (checked in
a real browser), and takes its server down with it."""

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

from tests.browser import launch, needs_chromium

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(tmp_path, tracking_uri):
    """`harness ui` in a subprocess (in the test's own process group, as from a shell script),
    waited on until the UI answers; returns (process, port, server pid, the line it printed first)."""
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
    return proc, port, server, first


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


SWEEP = """
name: ui-check
dataset: {source: folder, path: PHOTOS}
models:
  - name: grayscale
  - name: fake-tint
    strength: [0.1, 0.4]
metrics: [psnr, ssim]
grids: {count: 0}
report: {images: 0}
"""


@needs_chromium
def test_ui_opens_in_a_browser_on_the_latest_sweeps_runs_with_their_metrics(tmp_path, tracking_uri, photo_dir):
    """Not the tag but the page: MLflow 3.17's UI, opened at the address `harness ui` prints, shows the
    runs table of the latest sweep's points with their main metrics as columns, not the GenAI overview."""
    from playwright.sync_api import sync_playwright

    import tests.fake_models  # noqa: F401 - registers fake-tint
    from harness.cli.main import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(SWEEP.replace("PHOTOS", str(photo_dir)))
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    proc, port, server, first = start_ui(tmp_path, tracking_uri)
    try:
        url = re.search(r"at (http://\S+)", first).group(1)
        assert "workflowType=machine_learning" in url and "viewStateShareKey=" in url
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(url)
            page.wait_for_selector("text=fake-tint[strength=0.4]", timeout=60_000)
            page.wait_for_selector("text=psnr_mean", timeout=30_000)
            page.screenshot(path=str(tmp_path / "ui.png"))
            text = page.inner_text("body")
            browser.close()
        for label in ("grayscale", "fake-tint[strength=0.1]", "fake-tint[strength=0.4]"):
            assert label in text  # the sweep's points, not only its parent
        assert "ssim_mean" in text and "Token Usage" not in text and "Detect Issues" not in text
        assert (tmp_path / "ui.png").stat().st_size > 10_000
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
