"""`harness reference fetch`: the parity tests' upstream code at pinned commits, every file's git blob
checked, served here by a local stand-in for raw.githubusercontent.com (never the internet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.tools.upstream import fetch

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mirror(http_server, monkeypatch):
    """The stand-in server as the base URL, and network allowed."""
    monkeypatch.delenv("HARNESS_OFFLINE", raising=False)
    monkeypatch.setenv("HARNESS_REFERENCE_BASE_URL", http_server.url(""))
    return http_server


def test_files_are_fetched_verified_and_not_fetched_twice(mirror, monkeypatch, tmp_path):
    body = b"def f():\n    return 1\n"
    monkeypatch.setattr(fetch, "MANIFEST", [fetch.RefFile(("o/r", "c0ffee"), "a/x.py", "pkg/x.py",
                                                          fetch.git_blob_id(body))])
    mirror.add("/o/r/c0ffee/a/x.py", body, content_type="text/plain")
    assert fetch.fetch(tmp_path) == [tmp_path / "pkg" / "x.py"]
    assert (tmp_path / "pkg" / "x.py").read_bytes() == body
    assert (tmp_path / "ddcolor_ref" / "basicsr" / "archs" / "__init__.py").read_bytes() == b""  # the one change
    requests = len(mirror.seen)
    assert fetch.fetch(tmp_path) == [] and len(mirror.seen) == requests  # verified files are kept
    assert [state for _, state in fetch.status(tmp_path)] == ["ok"]


def test_a_file_that_is_not_the_commits_is_refused_and_not_kept(mirror, monkeypatch, tmp_path):
    monkeypatch.setattr(fetch, "MANIFEST", [fetch.RefFile(("o/r", "c0ffee"), "x.py", "x.py",
                                                          fetch.git_blob_id(b"the real one\n"))])
    mirror.add("/o/r/c0ffee/x.py", b"an edited copy\n", content_type="text/plain")
    with pytest.raises(HarnessError, match="is not the file at commit c0ffee"):
        fetch.fetch(tmp_path)
    assert not (tmp_path / "x.py").exists()


def test_offline_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    with pytest.raises(HarnessError, match="HARNESS_OFFLINE is set"):
        fetch.fetch(tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/reference is absent (only in the dev workspace)")
def test_the_pinned_files_are_the_workspaces_and_a_fetched_tree_imports(mirror, tmp_path, capsys):
    """The manifest's blob ids are those of the workspace's verbatim copies; serving those, the command
    fetches a tree the parity tests can import."""
    assert [(i.dest, s) for i, s in fetch.status(SHARED) if s != "ok"] == []
    for item in fetch.MANIFEST:
        repo, commit = item.repo
        mirror.add(f"/{repo}/{commit}/{item.path}", (SHARED / item.dest).read_bytes(), content_type="text/plain")
    mirror.max_requests = 100
    dest = tmp_path / "ref"
    assert main(["reference", "fetch", "--dest", str(dest)]) == 0
    assert f"{len(fetch.MANIFEST)} file(s) fetched" in capsys.readouterr().out
    code = ("from harness.tools.upstream import reference; c = reference.load('colorizers'); "
            "d = reference.load('ddcolor'); from harness.tools.upstream import colorformer as f; "
            "print(c.eccv16.__module__, d.DDColor.__name__, f.load()[0].__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"HARNESS_REFERENCE_DIR": str(dest), "PATH": "/usr/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["colorizers.eccv16", "DDColor", "ColorFormer"]
