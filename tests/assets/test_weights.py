"""Official weights: fetched from a local mirror (HARNESS_WEIGHTS_BASE_URL), verified, cached, explained."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace

import pytest

from harness.assets import download, weights
from harness.assets.weights import WeightsUnavailable
from harness.errors import HarnessError
from harness.tools.catalog import weights_file, weights_files

BLOB = os.urandom(50_000)
SHA = hashlib.sha256(BLOB).hexdigest()
NAME = "ColorizeArtistic_gen.pth"
#: DeOldify Artistic's catalogue entry with this test's file as its expected content
ARTISTIC = replace(weights_file("deoldify-artistic"), size=len(BLOB), sha256=SHA)


@pytest.fixture
def env(tmp_path, monkeypatch, http_server):
    """A private HARNESS_HOME, online, every URL pointing at the local server serving BLOB."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_OFFLINE", raising=False)
    monkeypatch.setenv("HARNESS_WEIGHTS_BASE_URL", http_server.url("/mirror/"))
    monkeypatch.setattr(download, "RETRY_BACKOFF", 0.0)
    http_server.add(f"/mirror/{NAME}", BLOB)
    return http_server


@pytest.mark.upstream
def test_official_urls_are_the_ones_upstream_publishes():
    """upstream DeOldify's README (the `deoldify` package's metadata) links each generator; the table's
    primary URL is that link, Dropbox's `dl=0` preview link turned into the `dl=1` direct download."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        readme = distribution("deoldify").read_text("METADATA") or ""
    except PackageNotFoundError:
        pytest.skip("upstream reference not installed")
    published = dict(re.findall(r"- \[(Artistic|Stable|Video)\]\((https://\S+/Colorize\1_gen\.pth\S*?)\)", readme))
    assert set(published) == {"Artistic", "Stable", "Video"}
    for kind, url in published.items():
        ours = weights_file(f"deoldify-{kind.lower()}").urls[0]
        assert ours == url.replace("?dl=0", "?dl=1"), kind
    deoldify = [w for name, w in weights_files().items() if name.startswith("deoldify-")]
    assert len(deoldify) == 3 and all(len(w.urls) == 2 and w.urls[1].startswith("https://huggingface.co/")
                                      for w in deoldify)  # each with the Hugging Face mirror as fallback


def test_home_and_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert weights.cached_path(weights_file("deoldify-stable")) == tmp_path / "weights" / "ColorizeStable_gen.pth"
    monkeypatch.delenv("HARNESS_HOME")
    assert weights.home() == weights.Path.home() / ".cache" / "harness"
    with pytest.raises(HarnessError, match="Did you mean 'deoldify-stable'"):
        weights_file("deoldify-stabel")


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_offline_flag(monkeypatch, value, expected):
    monkeypatch.setenv("HARNESS_OFFLINE", value)
    assert weights.offline() is expected


def test_base_url_replaces_every_url(env):
    item = weights.mirrored(weights_file("deoldify-stable"))
    assert item.urls == (env.url("/mirror/ColorizeStable_gen.pth"),)


def test_ensure_fetches_once_and_records_digest(env):
    path = weights.ensure(ARTISTIC, progress=False)
    assert path == weights.cached_path(ARTISTIC) and path.read_bytes() == BLOB
    assert path.with_name(NAME + ".sha256").read_text().split()[2] == SHA
    assert weights.ensure(ARTISTIC, progress=False) == path
    assert len(env.seen) == 1  # the second call used the cache


def test_fetch_force_downloads_again(env):
    weights.fetch(ARTISTIC, progress=False)
    weights.fetch(ARTISTIC, progress=False)
    assert len(env.seen) == 1
    weights.fetch(ARTISTIC, force=True, progress=False)
    assert len(env.seen) == 2


def test_checksum_mismatch_names_both_values(env):
    wrong = "ab" * 32
    with pytest.raises(WeightsUnavailable) as info:
        weights.fetch(replace(ARTISTIC, sha256=wrong), progress=False)
    text = str(info.value)
    assert wrong in text and SHA in text and "third-party" in text
    assert not weights.cached_path(ARTISTIC).exists()


def test_a_published_digest_prefix_is_verified(env):
    """Some projects publish only the first 8 hex digits of the sha256 (in the file name): that is checked."""
    assert weights.fetch(replace(ARTISTIC, sha256=SHA[:8]), progress=False).read_bytes() == BLOB
    wrong = ("0" if SHA[0] != "0" else "1") + SHA[1:8]
    with pytest.raises(WeightsUnavailable, match=f"expected {wrong}"):
        weights.fetch(replace(ARTISTIC, sha256=wrong), force=True, progress=False)


def test_size_mismatch_names_both_values(env):
    with pytest.raises(WeightsUnavailable, match="12,345") as info:
        weights.fetch(replace(ARTISTIC, size=12_345), progress=False)
    assert f"{len(BLOB):,}" in str(info.value)


def assert_explains(exc: HarnessError, model: str, filename: str, urls) -> None:
    text = str(exc)
    assert filename in text
    assert all(u in text for u in urls)
    assert str(weights.cache_dir() / filename) in text
    assert f"harness weights fetch {model}" in text
    assert "weights: PATH" in text and "--weights PATH" in text and "copy" in text


def test_offline_missing_file_explains_all_four_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    monkeypatch.delenv("HARNESS_WEIGHTS_BASE_URL", raising=False)
    stable = weights_file("deoldify-stable")
    with pytest.raises(WeightsUnavailable) as info:
        weights.ensure(stable)
    assert_explains(info.value, "deoldify-stable", "ColorizeStable_gen.pth", stable.urls)
    assert "HARNESS_OFFLINE" in str(info.value)
    with pytest.raises(WeightsUnavailable):
        weights.fetch(stable)


def test_fetch_not_allowed_or_failing_explains_too(env):
    with pytest.raises(WeightsUnavailable) as info:
        weights.ensure(ARTISTIC, fetch=False)
    assert_explains(info.value, "deoldify-artistic", NAME, [env.url(f"/mirror/{NAME}")])
    assert env.seen == []
    with pytest.raises(WeightsUnavailable) as info:  # not on the mirror: 404
        weights.ensure(weights_file("deoldify-video"), progress=False)
    assert_explains(info.value, "deoldify-video", "ColorizeVideo_gen.pth", [env.url("/mirror/ColorizeVideo_gen.pth")])
    assert "HTTP 404" in str(info.value)
    assert str(info.value).count(env.url("/mirror/ColorizeVideo_gen.pth")) == 1  # each URL said once, with its error


def test_file_placed_by_hand_is_used_when_intact(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    path = weights.cached_path(ARTISTIC)
    path.parent.mkdir(parents=True)
    path.write_bytes(BLOB)
    assert weights.ensure(ARTISTIC) == path
    video = weights_file("deoldify-video")  # no published digest: nothing to check it against
    weights.cached_path(video).write_bytes(b"weights")
    assert weights.ensure(video) == weights.cached_path(video)


@pytest.mark.parametrize("damage", ["truncated", "swapped", "overwritten after a verified use"])
def test_corrupt_or_swapped_cached_file_is_refused_before_use(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    path = weights.cached_path(ARTISTIC)
    path.parent.mkdir(parents=True)
    if damage == "truncated":
        path.write_bytes(BLOB[:20_000])
    elif damage == "swapped":
        path.write_bytes(os.urandom(len(BLOB)))  # another file of the same size
    else:
        path.write_bytes(BLOB)
        assert weights.ensure(ARTISTIC) == path  # verified once, digest remembered in the sidecar
        path.write_bytes(BLOB[::-1])
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(WeightsUnavailable) as info:
        weights.ensure(ARTISTIC)
    text = str(info.value)
    assert str(path) in text and SHA in text and "harness weights fetch deoldify-artistic --force" in text
    assert hashlib.sha256(path.read_bytes()).hexdigest() in text
    with pytest.raises(WeightsUnavailable):
        weights.fetch(ARTISTIC)  # fetch without --force does not keep a bad file either


def test_status_lists_cached_missing_and_mismatched(env):
    weights.fetch(ARTISTIC, progress=False)
    video = weights_file("deoldify-video")
    weights.cached_path(video).write_bytes(b"by hand")
    stable = replace(weights_file("deoldify-stable"), sha256=SHA)
    art, miss, vid = weights.status(ARTISTIC), weights.status(stable), weights.status(video)
    assert art["cached"] and art["size_on_disk"] == len(BLOB) == art["expected_size"] and art["sha256"] == "verified"
    assert art["filename"] == NAME and art["path"] == str(weights.cached_path(ARTISTIC))
    assert not miss["cached"] and miss["size_on_disk"] is None and miss["sha256"] == "not cached"
    assert vid["cached"] and vid["sha256"] == "unknown"
    assert vid["sha256_actual"] == hashlib.sha256(b"by hand").hexdigest()
    weights.cached_path(stable).write_bytes(b"not stable at all")
    bad = weights.status(stable)
    assert bad["sha256"] == "MISMATCH" and bad["sha256_actual"] == hashlib.sha256(b"not stable at all").hexdigest()


def test_weights_status_command_says_mismatch(env, capsys):
    from harness.cli import main

    path = weights.cached_path(weights_file("deoldify-artistic"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a swapped file")
    assert main(["weights", "status"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("deoldify-artistic"))
    assert "MISMATCH" in line and hashlib.sha256(b"a swapped file").hexdigest() in line and "fetch again" in line


def test_file_sha256_sidecar_is_reused_and_refreshed(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"one")
    calls = []
    real = download.file_digest
    monkeypatch.setattr(weights, "file_digest", lambda p, algo="sha256": calls.append(p) or real(p, algo))
    first = weights.file_sha256(path)
    assert first == hashlib.sha256(b"one").hexdigest() and len(calls) == 1
    size, mtime_ns, digest = path.with_name("w.pth.sha256").read_text().split()
    assert (int(size), int(mtime_ns), digest) == (3, path.stat().st_mtime_ns, first)
    assert weights.file_sha256(path) == first and len(calls) == 1  # from the sidecar
    path.write_bytes(b"two!")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert weights.file_sha256(path) == hashlib.sha256(b"two!").hexdigest() and len(calls) == 2


def test_metric_networks_are_in_the_same_catalogue(tmp_path, monkeypatch, capsys):
    """FID's Inception and LPIPS's backbones go through the same cache, checks and commands as models' weights."""
    from harness.cli import main

    files = weights_files()
    assert files["fid-inception"].filename == "pt_inception-2015-12-05-6726825d.pth"
    assert files["fid-inception"].sha256 == "6726825d" and files["lpips-alex"].sha256 == "7be5be79"
    assert files["lpips-vgg"].urls == ("https://download.pytorch.org/models/vgg16-397923af.pth",)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "fid-inception: pt_inception-2015-12-05-6726825d.pth" in out and "lpips-alex: alexnet-owt" in out
    assert main(["weights", "fetch", "lpips-alex", "fid-inceptio"]) == 2  # every name checked before any download
    assert "Did you mean 'fid-inception'" in capsys.readouterr().err


@pytest.mark.parametrize("kind, name, options, expected", [
    ("model", "ddcolor", {}, "ddcolor-modelscope"),  # the family's name is not a file's: its default file is
    ("model", "ddcolor", {"size": "tiny"}, "ddcolor-paper-tiny"),
    ("model", "ddcolor", {"weights_variant": "artistic"}, "ddcolor-artistic"),
    ("model", "zhang-eccv16", {}, "zhang-eccv16"),
    ("model", "deoldify-video", {}, "deoldify-video"),
    ("metric", "fid", {}, "fid-inception"),
    ("metric", "kid", {}, "fid-inception"),
    ("metric", "lpips", {"net": "vgg"}, "lpips-vgg"),
    ("model", "fake-weighted", {}, None),  # a plug-in model has no official file to fetch
])
def test_a_missing_named_file_points_to_a_fetch_command_that_exists(tmp_path, kind, name, options, expected):
    """The hint's `harness weights fetch NAME` names the catalogue file the same settings would use."""
    import tests.fake_models  # noqa: F401
    from harness.metrics import MetricChoice
    from harness.models.registry import get_model_class, parse_params

    gone = tmp_path / "gone.pth"
    if kind == "model":
        cls, params = get_model_class(name), parse_params(name, {**options, "weights": str(gone)})
    else:
        choice = MetricChoice.parse(name, {**options, "weights": str(gone)})
        cls, params = choice.metric, choice.params
    with pytest.raises(HarnessError) as info:
        cls.preflight(params)
    msg = str(info.value)
    assert f"Weights file '{gone}' for {kind} {name} does not exist" in msg
    assert "relative paths are taken from the working directory" in msg
    commands = re.findall(r"harness weights fetch ([\w-]+)", msg)
    assert commands == ([expected] if expected else [])
    if expected:
        assert weights_file(expected).name == expected  # `harness weights fetch` knows the name
