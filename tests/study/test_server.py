"""`harness study serve` as a real server (a subprocess): votes through the page in headless Chromium, a
server killed mid-study, two raters at once, the token beyond loopback, and bad requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from harness.study.store import open_study
from tests.browser import launch, needs_chromium
from tests.study.conftest import POINTS

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(study, uri, host="127.0.0.1"):
    """The server in its own process; yields its base URL (always reached on 127.0.0.1)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "study", "serve", study.id, "--tracking-uri", uri,
                             "--host", host, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": os.getcwd(), "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.1)
        proc.base = base
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


def call(url: str, body=None, headers=None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            raw = reply.read()
            return reply.status, (json.loads(raw) if reply.headers.get_content_type() == "application/json" else {})
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def study(sweep):
    from harness.study.create import StudyRequest, create_study
    from harness.tracking.client import Tracker

    uri, _ = sweep
    made = create_study(Tracker("study-test", uri, create=False), StudyRequest(POINTS, seed=5, cap=5))
    return open_study(made.id, uri), uri


def test_bad_requests_get_a_4xx_with_a_reason(study):
    study, uri = study
    trial = study.trials[0].id
    with serving(study, uri) as server:
        base = server.base
        assert call(f"{base}/api/vote", {"rater": "eve", "trial": 99999, "choice": "left"})[0] == 404
        status, body = call(f"{base}/api/vote", {"rater": "eve", "trial": trial, "choice": "up"})
        assert status == 400 and "choice must be one of" in body["error"]
        assert call(f"{base}/api/vote", b"not json")[0] == 400
        assert call(f"{base}/api/vote", [1, 2])[0] == 400
        assert call(f"{base}/api/vote", b"x" * 20_000)[0] == 413  # small enough to be sent whole before the reply
        assert call(f"{base}/api/vote", {"rater": "<script>", "trial": trial, "choice": "left"})[0] == 400
        assert call(f"{base}/api/vote", {"rater": "eve", "trial": "x", "choice": "left"})[0] == 400
        assert call(f"{base}/api/next")[0] == 400  # no rater
        assert call(f"{base}/img/{trial}/truth")[0] == 404  # only gray, left, right: never a point's name
        assert call(f"{base}/img/99999/left")[0] == 404
        assert call(f"{base}/nowhere")[0] == 404 and call(f"{base}/api/vote")[0] == 405
        assert call(f"{base}/api/vote", {"rater": "eve", "trial": trial, "choice": "tie"}) == (200, {"ok": True,
                                                                                                   "done": 1})
        status, body = call(f"{base}/api/vote", {"rater": "eve", "trial": trial, "choice": "left"})
        assert status == 409 and "already judged" in body["error"]
        assert server.poll() is None  # still serving


def test_beyond_loopback_every_request_needs_the_token(study):
    study, uri = study
    with serving(study, uri, host="0.0.0.0") as server:
        base = server.base
        link = server.stdout.readline().decode()
        assert f"/?rater=NAME&token={study.token} " in link  # the link it prints carries the token
        assert call(f"{base}/")[0] == 403 and call(f"{base}/api/next?rater=a&token=wrong")[0] == 403
        assert call(f"{base}/img/{study.trials[0].id}/gray")[0] == 403
        assert call(f"{base}/api/next?rater=a&token={study.token}")[0] == 200
        assert call(f"{base}/api/next?rater=a", headers={"X-Study-Token": study.token})[0] == 200


def test_a_killed_server_loses_no_vote_and_two_raters_vote_at_once(study):
    study, uri = study
    before = len(study.votes())
    with serving(study, uri) as server:
        for _ in range(3):
            trial = call(f"{server.base}/api/next?rater=kim")[1]["trial"]
            assert call(f"{server.base}/api/vote", {"rater": "kim", "trial": trial, "choice": "left"})[0] == 200
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    assert len(study.votes()) == before + 3
    with serving(study, uri) as server:
        assert call(f"{server.base}/api/next?rater=kim")[1]["done"] == 3  # resumes where kim stopped
        results = {}

        def rater(name):
            got = []
            while "trial" in (nxt := call(f"{server.base}/api/next?rater={name}")[1]):
                got.append(call(f"{server.base}/api/vote", {"rater": name, "trial": nxt["trial"], "choice": "right"}))
            results[name] = got

        threads = [threading.Thread(target=rater, args=(name,)) for name in ("lou", "max")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(s == 200 for got in results.values() for s, _ in got)
        assert [len(results["lou"]), len(results["max"])] == [study.cap, study.cap]  # the per-rater cap
        status, body = call(f"{server.base}/api/vote", {"rater": "lou", "trial": study.trials[-1].id, "choice": "tie"})
        assert status == 409 and "cap" in body["error"]
    votes = study.votes()
    assert len(votes) == before + 3 + 2 * study.cap and len(set(votes)) == len(votes)


@needs_chromium
def test_a_rater_votes_through_the_page_in_chromium(study):
    from playwright.sync_api import sync_playwright

    study, uri = study
    with serving(study, uri) as server, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1100, "height": 560})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base}/")
        page.fill("#name", "pat")
        page.click("#who button")
        page.wait_for_selector("body[data-state=voting]")
        page.wait_for_function("['left', 'gray', 'right'].every(id => document.getElementById(id).naturalWidth > 0)")
        assert page.inner_text("#progress") == f"0 / {study.cap}"
        assert not any(p in page.content() for p in POINTS[1:])  # the page never names a point
        if os.environ.get("HARNESS_STUDY_SCREENSHOT"):
            page.screenshot(path=os.environ["HARNESS_STUDY_SCREENSHOT"], type="jpeg", quality=80)
        shown = []
        for key in ["ArrowLeft", "ArrowRight", "ArrowDown", "ArrowLeft"]:
            shown.append(int(page.get_attribute("body", "data-trial")))
            page.keyboard.press(key)
            page.wait_for_function(f"document.body.dataset.trial != '{shown[-1]}'")
        page.click("#vote-right")  # the fifth vote, by button: the cap
        page.wait_for_selector("body[data-state=done]")
        assert "Done: thank you, pat (5 votes)" in page.inner_text("#message") and errors == []
        browser.close()
    mine = [(trial, choice) for rater, trial, choice in study.votes() if rater == "pat"]
    assert [c for _, c in mine] == ["left", "right", "tie", "left", "right"] and [t for t, _ in mine][:4] == shown
