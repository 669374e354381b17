"""Downloading large files and unpacking archives, robustly and safely.

Used for DeOldify weights and COCO archives. A download streams to `<dest>.part`, resumes
with an HTTP Range request after a dropped connection (or on the next run), checks size
and checksum, and only then renames into place, so `dest` is either absent or complete.
A URL that answers with a web page instead of the file (Dropbox 'dl=0', an error page) is
rejected: upstream DeOldify users otherwise meet `invalid load key '<'` much later.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError


class DownloadError(HarnessError):
    """A download that could not complete; the message lists every URL tried and why it failed."""


def file_digest(path: Path, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algo)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_html(first: bytes, content_type: str) -> bool:
    head = first.lstrip()[:64].lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def _fetch_once(url: str, part: Path, *, size: int | None, timeout: float, chunk: int, progress: bool) -> None:
    """Append the rest of `url` to `part`, resuming from its current length."""
    import requests
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=True) as resp:
        if resp.status_code == 416 and size is not None and have >= size:
            return  # already complete
        if resp.status_code >= 400:
            raise DownloadError(f"HTTP {resp.status_code} {resp.reason}")
        if have and resp.status_code != 206:  # server ignored the Range: start over
            have = 0
        mode = "ab" if have else "wb"
        total = size or (int(resp.headers.get("Content-Length", 0)) + have) or None
        iterator = resp.iter_content(chunk_size=chunk)
        first = next(iterator, b"")
        if not have and _looks_like_html(first, resp.headers.get("Content-Type", "")):
            raise DownloadError("the URL returned a web page (HTML) instead of the file")
        with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                           desc=part.name.removesuffix(".part"), disable=not progress,
                                           leave=False) as bar:
            fh.write(first)
            bar.update(len(first))
            for block in iterator:
                fh.write(block)
                bar.update(len(block))


def _verify(part: Path, *, size: int | None, sha256: str | None, md5: str | None) -> None:
    actual = part.stat().st_size
    if size is not None and actual != size:
        raise DownloadError(f"size mismatch: expected {size:,} bytes, got {actual:,}")
    for algo, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            got = file_digest(part, algo)
            if got.lower() != expected.lower():
                raise DownloadError(f"{algo} mismatch: expected {expected}, got {got}")


def download(url: str | Sequence[str], dest: Path, *, sha256: str | None = None, md5: str | None = None,
             size: int | None = None, progress: bool = True, timeout: float = 30.0, chunk: int = 1 << 20,
             retries: int = 3) -> Path:
    """Fetch `url` (or the first of several URLs that works) to `dest`; see the module docstring."""
    import requests

    urls = [url] if isinstance(url, str) else list(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    problems: list[str] = []
    for candidate in urls:
        for attempt in range(retries + 1):
            try:
                _fetch_once(candidate, part, size=size, timeout=timeout, chunk=chunk, progress=progress)
                _verify(part, size=size, sha256=sha256, md5=md5)
                os.replace(part, dest)
                return dest
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                if attempt == retries:
                    problems.append(f"{candidate}: {type(exc).__name__}: {exc}")
            except DownloadError as exc:
                part.unlink(missing_ok=True)  # wrong content: never resume from it
                problems.append(f"{candidate}: {exc.message}")
                break
    raise DownloadError(f"Could not download {dest.name}:\n  " + "\n  ".join(problems),
                        hint=f"Check the network, or place the file at {dest} by hand.")


def _check_member(name: str, dest: Path) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise HarnessError(f"Archive entry '{name}' would be written outside {dest}; refusing to extract anything.",
                           hint="The archive is unsafe or damaged: delete it and download it again.")


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a .zip/.tar[.gz] under `dest`, refusing absolute paths, '..' and links out of `dest`."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for name in names:
                _check_member(name, dest)
            zf.extractall(dest)
        return [dest / n for n in names]
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(m.name, dest)
                if m.issym() or m.islnk():
                    target = (dest / PurePosixPath(m.name).parent / m.linkname) if m.issym() else dest / m.linkname
                    if not str(target.resolve()).startswith(str(dest.resolve()) + os.sep):
                        raise HarnessError(f"Archive entry '{m.name}' links outside {dest}; refusing to extract.")
                elif not (m.isfile() or m.isdir()):
                    raise HarnessError(f"Archive entry '{m.name}' is a special file; refusing to extract.")
            tf.extractall(dest, filter="data")
        return [dest / m.name for m in members]
    raise HarnessError(f"'{archive}' is neither a zip nor a tar archive.")
