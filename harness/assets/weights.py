"""Official weights files: where they come from, where they are cached, whether they are intact.

One mechanism for every file the harness downloads to run a model or a metric: a
`WeightsFile` says what the file is (its catalogue name, file name, URLs, expected size
and sha256); the tables that list them are the model variants (`models/variants.py`) and
the metrics' own; `weights_catalog` joins them by name for `harness weights`.

Cache: `$HARNESS_HOME/weights` (default `~/.cache/harness/weights`). A run fetches missing
files on first use unless `HARNESS_OFFLINE=1`; when it cannot, it fails before any work
with the file name, the URLs, the cache path and the command to run. A cached file whose
sha256 differs from the expected value (a corrupt or swapped file) is refused before use.

`HARNESS_WEIGHTS_BASE_URL` replaces every URL with `{base}/{filename}`: for a mirror, or a
server inside an air-gapped network holding the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from harness.assets.download import DownloadError, download, file_digest
from harness.errors import HarnessError


@dataclass(frozen=True)
class WeightsFile:
    """One official weights file.

    `sha256` is the full digest, or a prefix of one (some projects publish only the first
    8 hex digits, in the file name); None when nothing is published. `source` says where the
    expected values come from, for the messages when they do not match.
    """

    name: str  # catalogue name: what `harness weights fetch NAME` takes (a model's or metric's name)
    filename: str
    urls: tuple[str, ...]
    size: int | None = None
    sha256: str | None = None
    source: str = "third-party reports, unverified"

    def matches(self, digest: str) -> bool:
        """Whether a file's sha256 agrees with the expected digest (or prefix)."""
        return self.sha256 is None or digest.lower().startswith(self.sha256.lower())


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


def mirrored(item: WeightsFile) -> WeightsFile:
    """`item` with its URLs replaced when `HARNESS_WEIGHTS_BASE_URL` is set."""
    base = os.environ.get("HARNESS_WEIGHTS_BASE_URL", "").strip()
    if base:
        return replace(item, urls=(f"{base.rstrip('/')}/{item.filename}",))
    return item


def cached_path(item: WeightsFile) -> Path:
    """Where `item` is (or would be) cached."""
    return cache_dir() / item.filename


HAND_PLACED_HINT = ("or place the file by hand: copy it to the cache path above, or point the model at it "
                    "(`weights: PATH` in a spec, `--weights PATH` on the command line).")


def _unavailable(item: WeightsFile, why: str, *, mismatch: bool = False, tried: bool = False) -> WeightsUnavailable:
    """The one message for missing weights: why, the URLs (listed once: with their errors when `tried`),
    the cache path and how to fix it."""
    item = mirrored(item)
    if not item.urls:  # published without a direct link (a shared folder): only by hand
        return WeightsUnavailable(
            f"Weights for {item.name} ({item.filename}) are not available: it is not in the cache, and it has no "
            f"direct download link ({item.source}).\nCache path: {cached_path(item)}",
            hint="Download it by hand, then " + HAND_PLACED_HINT.removeprefix("or place the file by hand: "))
    urls = "" if tried else "\nURLs:\n  " + "\n  ".join(item.urls)
    note = (f" The expected size/sha256 come from {item.source}: if you trust this copy, report the actual "
            "value so the table can be corrected." if mismatch else "")
    return WeightsUnavailable(
        f"Weights for {item.name} ({item.filename}) are not available: {why}{urls}\n"
        f"Cache path: {cached_path(item)}{note}",
        hint=f"Run `harness weights fetch {item.name}` where the network is reachable (HARNESS_OFFLINE unset), "
             + HAND_PLACED_HINT + (" Offline, HARNESS_OFFLINE=1 skips every download at once."
                                   if "cannot resolve host" in why else ""))


def _download(item: WeightsFile, *, progress: bool) -> Path:
    item = mirrored(item)
    path = cached_path(item)
    try:
        download(item.urls, path, sha256=item.sha256, size=item.size, progress=progress)
    except DownloadError as exc:
        raise _unavailable(item, exc.message, mismatch="mismatch" in exc.message, tried=True) from None
    file_sha256(path)  # remember the digest beside the file, so later runs need not hash it again
    return path


def verify_cached(item: WeightsFile, path: Path) -> None:
    """Refuse a cached file whose sha256 differs from the expected one (corrupt, truncated or swapped)."""
    digest = file_sha256(path)
    if not item.matches(digest):
        raise WeightsUnavailable(
            f"The cached weights for {item.name} ({path}) are not the official file: sha256 {digest}, expected "
            f"{item.sha256} (from {item.source}). The file is corrupt, truncated or another model's.",
            hint=f"Delete it and run `harness weights fetch {item.name} --force`; if you trust this copy, "
                 "point the model at it explicitly (`weights: PATH` / `--weights PATH`).")


def fetch(item: WeightsFile, *, force: bool = False, progress: bool = True) -> Path:
    """Download `item` into the cache, verifying size and sha256 where known.

    An intact cached file is kept unless `force`. Refused when `offline()`.
    """
    path = cached_path(item)
    if path.is_file() and not force:
        verify_cached(item, path)
        return path
    if offline():
        raise _unavailable(item, "HARNESS_OFFLINE is set, so nothing is downloaded.")
    return _download(item, progress=progress)


def ensure(item: WeightsFile, *, fetch: bool = True, progress: bool = True) -> Path:
    """The verified cached file of `item`, downloaded first when missing and `fetch` and not offline.

    Otherwise (or when the download fails) `WeightsUnavailable`, naming the file, URLs,
    cache path, the fetch command and how to place the file by hand.
    """
    path = cached_path(item)
    if path.is_file():
        verify_cached(item, path)
        return path
    if offline():
        raise _unavailable(item, "it is not in the cache and HARNESS_OFFLINE is set.")
    if not fetch:
        raise _unavailable(item, "it is not in the cache and fetching was not allowed.")
    return _download(item, progress=progress)


def explicit(path: Path, owner: str, official: WeightsFile | None = None) -> Path:
    """A weights file the user named (`weights:` / `--weights`): it must exist; it is not checked
    against the official digest (it may be fine-tuned), but its sha256 is logged with the run.

    `official` is the file the same settings would use otherwise: the hint names its catalogue
    name, the one `harness weights fetch` takes (not the model's or metric's name, which may
    differ: model ddcolor's default file is ddcolor-modelscope, metric fid's fid-inception).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        fallback = (f", or leave it out to use the official weights (`harness weights fetch {official.name}`)"
                    if official is not None else "")
        raise HarnessError(f"Weights file '{path}' for {owner} does not exist.",
                           hint=f"Fix the weights path (relative paths are taken from the working directory)"
                                f"{fallback}.")
    return path


def resolve(chosen: Path | None, item: WeightsFile | None, owner: str) -> Path | None:
    """The weights file a model or metric runs with: the file named by its `weights` setting
    (`explicit`), else its official file (`ensure`: fetched where allowed, verified), else None for
    one without weights. `owner` ("model deoldify-artistic") words the errors."""
    if chosen is not None:
        return explicit(chosen, owner, item)
    return ensure(item) if item is not None else None


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


def status(item: WeightsFile) -> dict:
    """Cached or not, where, size on disk vs expected, and the sha256 verdict of one file.

    `sha256` is 'verified' (matches the expected digest or prefix), 'MISMATCH', 'unknown'
    (nothing to compare with; `sha256_actual` still shows it) or 'not cached'.
    """
    path = cached_path(item)
    cached = path.is_file()
    actual = file_sha256(path) if cached else None
    if actual is None:
        verdict = "not cached"
    elif item.sha256 is None:
        verdict = "unknown"
    else:
        verdict = "verified" if item.matches(actual) else "MISMATCH"
    return {"name": item.name, "filename": item.filename, "cached": cached, "path": str(path),
            "size_on_disk": path.stat().st_size if cached else None, "expected_size": item.size,
            "sha256": verdict, "sha256_actual": actual}
