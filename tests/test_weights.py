"""Official weights: fetched from a local mirror (HARNESS_WEIGHTS_BASE_URL), verified, cached, explained."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import pytest

from harness import download, weights
from harness.errors import HarnessError
from harness.weights import OFFICIAL, WeightsUnavailable

BLOB = os.urandom(50_000)
SHA = hashlib.sha256(BLOB).hexdigest()
NAME = "ColorizeArtistic_gen.pth"


@pytest.fixture
def env(tmp_path, monkeypatch, http_server):
    """A private HARNESS_HOME, online, every URL pointing at the local server, artistic = BLOB."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_OFFLINE", raising=False)
    monkeypatch.setenv("HARNESS_WEIGHTS_BASE_URL", http_server.url("/mirror/"))
    monkeypatch.setitem(OFFICIAL, "deoldify-artistic",
                        replace(OFFICIAL["deoldify-artistic"], size=len(BLOB), sha256=SHA))
    monkeypatch.setattr(download, "RETRY_BACKOFF", 0.0)
    http_server.add(f"/mirror/{NAME}", BLOB)
    return http_server


def test_official_table_is_what_upstream_publishes():
    assert OFFICIAL["deoldify-artistic"].size == 255_144_681
    assert OFFICIAL["deoldify-stable"].urls[0].endswith("?dl=1")
    assert OFFICIAL["deoldify-video"].sha256 is None
    assert all(len(w.urls) == 2 and w.urls[1].startswith("https://huggingface.co/") for w in OFFICIAL.values())


def test_home_and_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert weights.cached_path("deoldify-stable") == tmp_path / "weights" / "ColorizeStable_gen.pth"
    monkeypatch.delenv("HARNESS_HOME")
    assert weights.home() == weights.Path.home() / ".cache" / "harness"
    with pytest.raises(HarnessError, match="Did you mean 'deoldify-stable'"):
        weights.cached_path("deoldify-stabel")


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_offline_flag(monkeypatch, value, expected):
    monkeypatch.setenv("HARNESS_OFFLINE", value)
    assert weights.offline() is expected


def test_base_url_replaces_every_url(env):
    item = weights.entry("deoldify-stable")
    assert item.urls == (env.url("/mirror/ColorizeStable_gen.pth"),)


def test_ensure_weights_fetches_once_and_records_digest(env):
    path = weights.ensure_weights("deoldify-artistic", progress=False)
    assert path == weights.cached_path("deoldify-artistic") and path.read_bytes() == BLOB
    assert path.with_name(NAME + ".sha256").read_text().split()[2] == SHA
    assert weights.ensure_weights("deoldify-artistic", progress=False) == path
    assert len(env.seen) == 1  # the second call used the cache


def test_fetch_force_downloads_again(env):
    weights.fetch("deoldify-artistic", progress=False)
    weights.fetch("deoldify-artistic", progress=False)
    assert len(env.seen) == 1
    weights.fetch("deoldify-artistic", force=True, progress=False)
    assert len(env.seen) == 2


def test_checksum_mismatch_names_both_values(env, monkeypatch):
    wrong = "ab" * 32
    monkeypatch.setitem(OFFICIAL, "deoldify-artistic", replace(OFFICIAL["deoldify-artistic"], sha256=wrong))
    with pytest.raises(WeightsUnavailable) as info:
        weights.fetch("deoldify-artistic", progress=False)
    text = str(info.value)
    assert wrong in text and SHA in text and "third-party" in text
    assert not weights.cached_path("deoldify-artistic").exists()


def test_size_mismatch_names_both_values(env, monkeypatch):
    monkeypatch.setitem(OFFICIAL, "deoldify-artistic", replace(OFFICIAL["deoldify-artistic"], size=12_345))
    with pytest.raises(WeightsUnavailable, match="12,345") as info:
        weights.fetch("deoldify-artistic", progress=False)
    assert f"{len(BLOB):,}" in str(info.value)


def assert_explains(exc: HarnessError, model: str, filename: str, urls) -> None:
    text = str(exc)
    assert filename in text
    assert all(u in text for u in urls)
    assert str(weights.cache_dir() / filename) in text
    assert f"harness weights fetch {model}" in text
    assert "weights:" in text and "copy" in text


def test_offline_missing_file_explains_all_four_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    monkeypatch.delenv("HARNESS_WEIGHTS_BASE_URL", raising=False)
    with pytest.raises(WeightsUnavailable) as info:
        weights.ensure_weights("deoldify-stable")
    assert_explains(info.value, "deoldify-stable", "ColorizeStable_gen.pth", OFFICIAL["deoldify-stable"].urls)
    assert "HARNESS_OFFLINE" in str(info.value)
    with pytest.raises(WeightsUnavailable):
        weights.fetch("deoldify-stable")


def test_fetch_not_allowed_or_failing_explains_too(env):
    with pytest.raises(WeightsUnavailable) as info:
        weights.ensure_weights("deoldify-artistic", fetch=False)
    assert_explains(info.value, "deoldify-artistic", NAME, [env.url(f"/mirror/{NAME}")])
    assert env.seen == []
    with pytest.raises(WeightsUnavailable) as info:  # not on the mirror: 404
        weights.ensure_weights("deoldify-video", progress=False)
    assert_explains(info.value, "deoldify-video", "ColorizeVideo_gen.pth", [env.url("/mirror/ColorizeVideo_gen.pth")])
    assert "HTTP 404" in str(info.value)


def test_file_placed_by_hand_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    path = weights.cached_path("deoldify-video")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    assert weights.ensure_weights("deoldify-video") == path


def test_status_lists_cached_and_missing(env):
    weights.fetch("deoldify-artistic", progress=False)
    video = weights.cached_path("deoldify-video")
    video.write_bytes(b"by hand")
    rows = {r["model"]: r for r in weights.status()}
    assert set(rows) == set(OFFICIAL)
    art, stable, vid = rows["deoldify-artistic"], rows["deoldify-stable"], rows["deoldify-video"]
    assert art["cached"] and art["size_on_disk"] == len(BLOB) == art["expected_size"] and art["sha256"] == "verified"
    assert art["filename"] == NAME and art["path"] == str(weights.cached_path("deoldify-artistic"))
    assert not stable["cached"] and stable["size_on_disk"] is None and stable["sha256"] == "not cached"
    assert vid["cached"] and vid["sha256"] == "unknown"
    assert vid["sha256_actual"] == hashlib.sha256(b"by hand").hexdigest()


def test_file_sha256_sidecar_is_reused_and_refreshed(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"one")
    calls = []
    real = download.file_digest
    monkeypatch.setattr(download, "file_digest", lambda p, algo="sha256": calls.append(p) or real(p, algo))
    first = weights.file_sha256(path)
    assert first == hashlib.sha256(b"one").hexdigest() and len(calls) == 1
    size, mtime_ns, digest = path.with_name("w.pth.sha256").read_text().split()
    assert (int(size), int(mtime_ns), digest) == (3, path.stat().st_mtime_ns, first)
    assert weights.file_sha256(path) == first and len(calls) == 1  # from the sidecar
    path.write_bytes(b"two!")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert weights.file_sha256(path) == hashlib.sha256(b"two!").hexdigest() and len(calls) == 2
