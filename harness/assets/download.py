"""Downloading large files and unpacking archives, robustly and safely.

Used for DeOldify weights and COCO archives. `download` streams into `<dest>.part`,
continues with an HTTP Range request after a dropped connection (and on the next run, from
whatever a killed run left behind), checks size and checksum, and only then renames the
file into place: `dest` is either absent or complete and verified.

A URL that answers with a web page instead of the file (a Dropbox `dl=0` link, a login or
error page served with status 200) is rejected at once: upstream DeOldify users otherwise
meet `invalid load key '<'` much later, when torch tries to unpickle the HTML. One page is
followed instead: Google Drive answers a large file's link with a "can't scan this file for
viruses" page whose form (or, in older pages, a `confirm=` link) leads to the file; the
download continues from that URL once (`drive_confirmation`).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from harness.assets.archives import safe_extract  # noqa: F401 - where callers have found it
from harness.errors import HarnessError

#: Seconds to wait before the first retry after a transient failure; doubled each retry, capped at 10.
RETRY_BACKOFF = 0.5


class DownloadError(HarnessError):
    """A download that could not complete; the message lists every URL tried and why it failed."""


class _Confirm(Exception):
    """A download page that confirms into the file (Google Drive's large-file warning): go to `url`."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


def drive_confirmation(page: str, url: str) -> str | None:
    """The URL a Google Drive large-file warning page confirms into, or None for any other page.

    Current pages: a form `id="download-form"` whose hidden inputs (id, export, confirm, uuid)
    go to its action; older ones: a link carrying `confirm=TOKEN`.
    """
    from html import unescape
    from urllib.parse import urlencode, urljoin

    form = re.search(r"<form[^>]*id=[\"']download-form[\"'][^>]*>(.*?)</form>", page, re.S | re.I)
    if form:
        action = re.search(r"action=[\"']([^\"']+)[\"']", form.group(0), re.I)
        fields = re.findall(r"<input[^>]*type=[\"']hidden[\"'][^>]*>", form.group(1), re.I)
        pairs = []
        for field in fields:
            name, value = re.search(r"name=[\"']([^\"']*)[\"']", field), re.search(r"value=[\"']([^\"']*)[\"']", field)
            if name:
                pairs.append((unescape(name.group(1)), unescape(value.group(1)) if value else ""))
        if action and any(k == "confirm" for k, _ in pairs):
            target = urljoin(url, unescape(action.group(1)))
            return f"{target}?{urlencode(pairs)}" if urlsplit(target).scheme in ("http", "https") else None
    link = re.search(r"href=[\"']([^\"']*[?&](?:amp;)?confirm=[^\"']+)[\"']", page, re.I)
    if link:
        target = urljoin(url, unescape(link.group(1)))
        return target if urlsplit(target).scheme in ("http", "https") else None
    return None


class _Transient(Exception):
    """A failure worth retrying on the same URL (continuing from the bytes already written)."""


def file_digest(path: str | Path, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's contents (`algo` is any hashlib name), read in chunks."""
    digest = hashlib.new(algo)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    """Where `download` keeps the unverified bytes of `dest`: `<dest>.part`."""
    return dest.with_suffix(dest.suffix + ".part")


def _looks_like_html(first: bytes) -> bool:
    head = first.lstrip()[:64].lower()
    return head.startswith((b"<!doctype", b"<html"))


def _html_error(content_type: str) -> DownloadError:
    return DownloadError(
        f"the URL returned a web page (HTML{', ' + content_type if content_type else ''}) instead of the file; "
        "it is probably a download page, a login page or an error page (a Dropbox link needs ?dl=1, not ?dl=0)")


def _range_start(content_range: str | None) -> int | None:
    """First byte of a 'bytes START-END/TOTAL' Content-Range header, or None."""
    match = re.match(r"\s*bytes\s+(\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _fetch_once(session, url: str, part: Path, *, size: int | None, timeout: float, chunk: int,
                progress: bool, name: str) -> None:
    """Bring `part` up to the whole of `url`, resuming from its current length when the server allows.

    Raises `_Transient` (or a requests connection error) for what a retry may fix and
    `DownloadError` for what it will not (HTTP 4xx, a web page, a wrong announced size).
    """
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # cannot be ours: start over
        part.unlink()
        have = 0
    if size is not None and have == size:
        return  # a previous run got every byte; only verification is left
    headers = {"Accept-Encoding": "identity"}  # byte offsets must refer to the file itself
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, stream=True, timeout=timeout, headers=headers) as resp:
        code = resp.status_code
        if code == 416 and have:
            part.unlink()
            raise _Transient(f"the server refused to resume at byte {have:,}; restarting from 0")
        if code == 429 or code >= 500:
            raise _Transient(f"HTTP {code} {resp.reason}")
        if code >= 400:
            raise DownloadError(f"HTTP {code} {resp.reason}")
        if have and (code != 206 or _range_start(resp.headers.get("Content-Range")) != have):
            have = 0  # the server ignored the Range (200) or answered another one: start over
        content_type = resp.headers.get("Content-Type", "")
        if "text/html" in content_type.lower():
            _confirm_or_refuse(resp, url, content_type)
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total != size:
            raise DownloadError(f"size mismatch: the server announces {total:,} bytes, expected {size:,}")
        blocks = resp.iter_content(chunk_size=chunk)
        first = next(blocks, b"")
        if not have and _looks_like_html(first):
            _confirm_or_refuse(resp, url, content_type, first)
        with open(part, "ab" if have else "wb") as fh, tqdm(
                total=size or total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                file=sys.stderr, disable=not progress, leave=False) as bar:
            fh.write(first)
            bar.update(len(first))
            for block in blocks:
                fh.write(block)
                bar.update(len(block))


def _confirm_or_refuse(resp, url: str, content_type: str, first: bytes = b"") -> None:
    """A web page: `_Confirm` where it is Google Drive's large-file warning, else the web-page error."""
    page = first
    for block in resp.iter_content(chunk_size=1 << 16):
        page += block
        if len(page) > 1 << 20:  # a warning page is a few kB; a bigger page is something else
            break
    target = drive_confirmation(page.decode("utf-8", "replace"), url)
    if target is None:
        raise _html_error(content_type)
    raise _Confirm(target)


def _verify(part: Path, *, size: int | None, sha256: str | None, md5: str | None) -> None:
    """Size first (cheap, and says 'truncated'), then each checksum given (or its prefix); both values
    on a mismatch."""
    actual = part.stat().st_size
    if size is not None and actual != size:
        kind = "truncated" if actual < size else "too large"
        raise DownloadError(f"size mismatch ({kind}): expected {size:,} bytes, got {actual:,}")
    for algo, expected in (("sha256", sha256), ("md5", md5)):
        if expected:  # a digest, or a published prefix of one (e.g. the 8 hex digits in a file name)
            got = file_digest(part, algo)
            if not got.lower().startswith(expected.strip().lower()):
                raise DownloadError(f"{algo} mismatch: expected {expected.strip().lower()}, got {got}")


def _unresolved_host(exc: BaseException) -> str | None:
    """The host name whose DNS lookup failed somewhere in `exc`'s causes, else None.

    A failed lookup is final (no network, or no such host): retrying it only makes an offline
    user wait, so `download` gives up on that host at once."""
    import socket

    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cause = stack.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            match = re.search(r"host='([^']+)'", str(exc)) or re.search(r"resolve '([^']+)'", str(exc))
            return match.group(1) if match else "?"
        stack += [cause.__cause__, cause.__context__, *[a for a in getattr(cause, "args", ()) if
                                                        isinstance(a, BaseException)]]
        reason = getattr(cause, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DownloadError):
        return exc.message
    if isinstance(exc, _Transient):
        return str(exc)
    host = _unresolved_host(exc)
    if host is not None:
        return f"cannot resolve host '{host}' (no network, or DNS does not answer)"
    text = str(exc)
    inner = re.search(r"Caused by \w+\((?:<[^>]+>, )?'?(.*?)'?\)\)?$", text)
    return f"{type(exc).__name__}: {inner.group(1) if inner else text}"[:300]


def download(url: str | Sequence[str], dest: str | Path, *, sha256: str | None = None, md5: str | None = None,
             size: int | None = None, progress: bool = True, timeout: float = 30.0, chunk: int = 1 << 20,
             retries: int = 3) -> Path:
    """Fetch `url` to `dest` and return `dest`; a list of URLs is a primary and its fallbacks, in order.

    Each URL gets `retries` further attempts after a dropped connection, a timeout or a 5xx,
    each continuing from the bytes already in `<dest>.part`. HTTP 4xx, a web page or a failed
    verification moves on to the next URL. When every URL fails, `DownloadError` lists each
    URL with its last error. A leftover `.part` is kept across URLs only when a checksum can
    tell a mixed-up file; it is deleted whenever its content is known to be wrong.
    """
    import requests

    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise DownloadError(f"No URL given for {dest}.")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    if part.is_symlink():  # never write through a link planted where the bytes go
        part.unlink()
    transient = (_Transient, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    problems: list[str] = []
    unresolved: set[str] = set()  # hosts whose lookup failed: final, never asked again in this call
    with requests.Session() as session:
        session.headers["User-Agent"] = "harness-download/1"
        for index, candidate in enumerate(urls):
            if index and not (sha256 or md5):
                part.unlink(missing_ok=True)  # nothing could tell bytes of two sources apart
            host = urlsplit(candidate).hostname
            if host in unresolved:
                problems.append(f"{candidate}: not tried (host '{host}' did not resolve above)")
                continue
            error = "no attempt made"
            restarted = confirmed = False
            attempt = 0
            while attempt <= retries:
                resumed = part.exists() and part.stat().st_size > 0
                try:
                    _fetch_once(session, candidate, part, size=size, timeout=timeout, chunk=chunk,
                                progress=progress, name=dest.name)
                    _verify(part, size=size, sha256=sha256, md5=md5)
                except _Confirm as exc:
                    if confirmed:  # a second warning page: it is not confirming into the file
                        error = _html_error("").message
                        break
                    confirmed, candidate = True, exc.url
                    continue
                except transient as exc:
                    error = _describe(exc)
                    if _unresolved_host(exc) is not None:
                        unresolved.add(host)
                        break
                    attempt += 1
                    if attempt <= retries:
                        time.sleep(min(RETRY_BACKOFF * 2 ** (attempt - 1), 10.0))
                    continue
                except DownloadError as exc:
                    part.unlink(missing_ok=True)  # wrong content: never resume from it
                    error = _describe(exc)
                    if resumed and not restarted and "mismatch" in exc.message:
                        restarted = True  # the old bytes may be what was wrong: one clean try
                        continue
                    break
                except requests.RequestException as exc:  # a malformed URL, too many redirects ...
                    error = _describe(exc)
                    break
                except OSError as exc:
                    raise DownloadError(f"Cannot write {part}: {exc}.",
                                        hint="Check free disk space and permissions.") from None
                os.replace(part, dest)
                return dest
            problems.append(f"{candidate}: {error}")
    raise DownloadError(
        f"Could not download {dest.name} from any of {len(urls)} URL(s):\n  " + "\n  ".join(problems),
        hint=f"Check the network (or the URL), or place a correct copy at {dest} by hand"
             + (" (HARNESS_OFFLINE=1 skips downloads at once)." if unresolved else "."))
