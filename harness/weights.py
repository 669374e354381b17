"""The official DeOldify generator weights: where they come from, where they are cached.

Cache: `$HARNESS_HOME/weights` (default `~/.cache/harness/weights`). A run fetches missing
weights on first use unless `HARNESS_OFFLINE=1`; when it cannot, it fails before any work
with the file name, the URLs, the cache path and the command to run.
`HARNESS_WEIGHTS_BASE_URL` replaces every URL with `{base}/{filename}` (a mirror or an
air-gapped server). Sizes and sha256 come from third-party reports and are unverified
until a download confirms them; a mismatch is reported with both values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, unknown_name

HF = "https://huggingface.co/spensercai/DeOldify/resolve/main"


@dataclass(frozen=True)
class WeightsFile:
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
    "deoldify-stable": WeightsFile(
        "deoldify-stable", "ColorizeStable_gen.pth",
        ("https://www.dropbox.com/s/axsd2g85uyixaho/ColorizeStable_gen.pth?dl=1", f"{HF}/ColorizeStable_gen.pth"),
        874_066_230, "ca9cd7f43fb8b222c9a70f7b292e305a000694b0ff9d2ae4a6747b1a2e1ee5af"),
    "deoldify-video": WeightsFile(
        "deoldify-video", "ColorizeVideo_gen.pth",
        ("https://data.deepai.org/deoldify/ColorizeVideo_gen.pth", f"{HF}/ColorizeVideo_gen.pth"),
        874_066_230, None),
}


class WeightsUnavailable(HarnessError):
    """Official weights are not cached and cannot be fetched now."""


def home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".cache" / "harness").expanduser()


def cache_dir() -> Path:
    return home() / "weights"


def offline() -> bool:
    return os.environ.get("HARNESS_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def entry(model: str) -> WeightsFile:
    try:
        item = OFFICIAL[model]
    except KeyError:
        raise unknown_name("model with official weights", model, OFFICIAL) from None
    base = os.environ.get("HARNESS_WEIGHTS_BASE_URL")
    if base:
        return WeightsFile(item.model, item.filename, (f"{base.rstrip('/')}/{item.filename}",), item.size, item.sha256)
    return item


def cached_path(model: str) -> Path:
    return cache_dir() / entry(model).filename


def _unavailable(item: WeightsFile, why: str) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"Weights for {item.model} ({item.filename}) are not available: {why}. "
        f"URLs: {', '.join(item.urls)}. Cache path: {cache_dir() / item.filename}.",
        hint=f"Run `harness weights fetch {item.model}` with network access, or place the file by hand: copy it to "
             f"the cache path above, or point the model's `weights:` parameter in the spec at it.")


def fetch(model: str, *, force: bool = False, progress: bool = True) -> Path:
    """Download the official file into the cache (verifying size and checksum)."""
    from harness.download import DownloadError, download

    item = entry(model)
    path = cache_dir() / item.filename
    if path.exists() and not force:
        return path
    try:
        download(item.urls, path, sha256=item.sha256, size=item.size, progress=progress)
    except DownloadError as exc:
        raise _unavailable(item, exc.message) from None
    file_sha256(path)
    return path


def ensure_weights(model: str, *, fetch_missing: bool = True, progress: bool = True) -> Path:
    """The cached official file, fetched first if missing and allowed; else `WeightsUnavailable`."""
    item = entry(model)
    path = cache_dir() / item.filename
    if path.is_file():
        return path
    if offline():
        raise _unavailable(item, "it is not in the cache and HARNESS_OFFLINE is set")
    if not fetch_missing:
        raise _unavailable(item, "it is not in the cache")
    return fetch(model, progress=progress)


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered in `<file>.sha256` (size and mtime) so big files are hashed once."""
    from harness.download import file_digest

    path = Path(path)
    st = path.stat()
    sidecar = path.with_name(path.name + ".sha256")
    stamp = f"{st.st_size} {st.st_mtime_ns}"
    try:
        size_mtime, digest = sidecar.read_text().rsplit(" ", 1)
        if size_mtime == stamp and len(digest) == 64:
            return digest
    except (OSError, ValueError):
        pass
    digest = file_digest(path, "sha256")
    try:
        sidecar.write_text(f"{stamp} {digest}")
    except OSError:  # a read-only location: just don't remember
        pass
    return digest


def status() -> list[dict]:
    rows = []
    for model in OFFICIAL:
        item = entry(model)
        path = cache_dir() / item.filename
        present = path.is_file()
        verified = "unknown"
        if present and item.sha256:
            verified = "yes" if file_sha256(path) == item.sha256 else "MISMATCH"
        rows.append({"model": model, "file": item.filename, "cached": present, "path": str(path),
                     "size": path.stat().st_size if present else None, "expected_size": item.size,
                     "sha256_verified": verified if present else "-"})
    return rows
