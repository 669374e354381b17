"""The official DeOldify generator weights: where they come from, where they are cached.

Cache: `$HARNESS_HOME/weights` (default `~/.cache/harness/weights`). A run fetches missing
weights on first use unless `HARNESS_OFFLINE=1`; when it cannot, it fails before any work
with the file name, the URLs, the cache path and the command to run.

`HARNESS_WEIGHTS_BASE_URL` replaces every URL with `{base}/{filename}`: for a mirror, or a
server inside an air-gapped network holding the same files.

The expected sizes and sha256 digests below come from third-party reports (mirrors and
user posts), not from the DeOldify authors: treat them as unverified until a download
confirms them. A mismatch is an error that names both the expected and the actual value,
so a wrong reference value is easy to spot and correct here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError, unknown_name

HF = "https://huggingface.co/spensercai/DeOldify/resolve/main"


@dataclass(frozen=True)
class WeightsFile:
    """One official weights file: the model it serves, its name, URLs (primary first) and expected facts."""

    model: str
    filename: str
    urls: tuple[str, ...]
    size: int | None
    sha256: str | None


OFFICIAL: dict[str, WeightsFile] = {
    "deoldify-artistic": WeightsFile(
        "deoldify-artistic", "ColorizeArtistic_gen.pth",
        ("https://data.deepai.org/deoldify/ColorizeArtistic_gen.pth", f"{HF}/ColorizeArtistic_gen.pth"),
        255_144_681, "3f750246fa220529323b85a8905f9b49c0e5d427099185334d048fb5b5e22477"),
    "deoldify-stable": WeightsFile(  # dl=1: dl=0 answers with Dropbox's HTML preview page
        "deoldify-stable", "ColorizeStable_gen.pth",
        ("https://www.dropbox.com/s/axsd2g85uyixaho/ColorizeStable_gen.pth?dl=1", f"{HF}/ColorizeStable_gen.pth"),
        874_066_230, "ca9cd7f43fb8b222c9a70f7b292e305a000694b0ff9d2ae4a6747b1a2e1ee5af"),
    "deoldify-video": WeightsFile(
        "deoldify-video", "ColorizeVideo_gen.pth",
        ("https://data.deepai.org/deoldify/ColorizeVideo_gen.pth", f"{HF}/ColorizeVideo_gen.pth"),
        874_066_230, None),
}


class WeightsUnavailable(HarnessError):
    """Official weights are not cached and cannot be fetched now; the message says how to get them."""


def home() -> Path:
    """The harness's own folder: `$HARNESS_HOME`, else `~/.cache/harness`."""
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".cache" / "harness").expanduser()


def cache_dir() -> Path:
    """Where official weights are cached: `home()/weights`."""
    return home() / "weights"


def offline() -> bool:
    """True when `HARNESS_OFFLINE` is 1/true/yes: never touch the network."""
    return os.environ.get("HARNESS_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def entry(model: str) -> WeightsFile:
    """The official file of `model`, with URLs replaced when `HARNESS_WEIGHTS_BASE_URL` is set."""
    try:
        item = OFFICIAL[model]
    except KeyError:
        raise unknown_name("model with official weights", model, OFFICIAL) from None
    base = os.environ.get("HARNESS_WEIGHTS_BASE_URL", "").strip()
    if base:
        return replace(item, urls=(f"{base.rstrip('/')}/{item.filename}",))
    return item


def cached_path(model: str) -> Path:
    """Where the official file of `model` is (or would be) cached."""
    return cache_dir() / entry(model).filename


def _unavailable(item: WeightsFile, why: str, *, mismatch: bool = False) -> WeightsUnavailable:
    path = cache_dir() / item.filename
    urls = "\n  ".join(item.urls)
    note = (" The expected size/sha256 are third-party values: if you trust this copy, report the actual "
            "value so harness/weights.py can be corrected." if mismatch else "")
    return WeightsUnavailable(
        f"Weights for {item.model} ({item.filename}) are not available: {why}\n"
        f"URLs:\n  {urls}\nCache path: {path}{note}",
        hint=f"Run `harness weights fetch {item.model}` where the network is reachable (HARNESS_OFFLINE unset), "
             f"or place the file by hand: copy {item.filename} to {path}, or set the model's `weights:` "
             f"parameter in the spec to its path.")


def _download(item: WeightsFile, *, progress: bool) -> Path:
    from harness.download import DownloadError, download

    path = cache_dir() / item.filename
    try:
        download(item.urls, path, sha256=item.sha256, size=item.size, progress=progress)
    except DownloadError as exc:
        raise _unavailable(item, exc.message, mismatch="mismatch" in exc.message) from None
    if item.sha256:  # download just verified it: remember without hashing the file again
        st = path.stat()
        _write_sidecar(path, f"{st.st_size} {st.st_mtime_ns}", item.sha256.lower())
    else:
        file_sha256(path)
    return path


def fetch(model: str, *, force: bool = False, progress: bool = True) -> Path:
    """Download the official file of `model` into the cache, verifying size and sha256 where known.

    An already cached file is kept unless `force`. Refused when `offline()`.
    """
    item = entry(model)
    path = cache_dir() / item.filename
    if path.is_file() and not force:
        return path
    if offline():
        raise _unavailable(item, "HARNESS_OFFLINE is set, so nothing is downloaded.")
    return _download(item, progress=progress)


def ensure_weights(model: str, *, fetch: bool = True, progress: bool = True) -> Path:
    """The cached official file of `model`, downloaded first when missing and `fetch` and not offline.

    Otherwise (or when the download fails) `WeightsUnavailable`, naming the file, URLs,
    cache path, the fetch command and how to place the file by hand.
    """
    item = entry(model)
    path = cache_dir() / item.filename
    if path.is_file():
        return path
    if offline():
        raise _unavailable(item, "it is not in the cache and HARNESS_OFFLINE is set.")
    if not fetch:
        raise _unavailable(item, "it is not in the cache and fetching was not allowed.")
    return _download(item, progress=progress)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_sidecar(path: Path, stamp: str, digest: str) -> None:
    try:
        _sidecar(path).write_text(f"{stamp} {digest}\n")
    except OSError:  # a read-only location: just don't remember
        pass


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, remembered in `<file>.sha256` ("size mtime_ns digest") so big files are hashed once.

    The sidecar is trusted only while the file's size and mtime match it; any change re-hashes.
    """
    from harness.download import file_digest

    path = Path(path)
    st = path.stat()
    stamp = f"{st.st_size} {st.st_mtime_ns}"
    try:
        size, mtime, digest = _sidecar(path).read_text().split()
        if f"{size} {mtime}" == stamp and len(digest) == 64:
            return digest
    except (OSError, ValueError):
        pass
    digest = file_digest(path, "sha256")
    _write_sidecar(path, stamp, digest)
    return digest


def status() -> list[dict]:
    """One row per official model: cached or not, where, size on disk vs expected, sha256 check.

    `sha256` is 'verified' (matches the reference), 'MISMATCH', 'unknown' (no reference
    digest; `sha256_actual` still shows it) or 'not cached'.
    """
    rows = []
    for model in OFFICIAL:
        item = entry(model)
        path = cache_dir() / item.filename
        cached = path.is_file()
        actual = file_sha256(path) if cached else None
        if not cached:
            verdict = "not cached"
        elif item.sha256 is None:
            verdict = "unknown"
        else:
            verdict = "verified" if actual == item.sha256.lower() else "MISMATCH"
        rows.append({"model": model, "filename": item.filename, "cached": cached, "path": str(path),
                     "size_on_disk": path.stat().st_size if cached else None, "expected_size": item.size,
                     "sha256": verdict, "sha256_actual": actual})
    return rows
