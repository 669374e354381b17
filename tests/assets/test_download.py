"""Downloads against a local HTTP server: resume, verification, web pages, fallbacks; safe unpacking."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from harness.assets import download as dl
from harness.assets.download import DownloadError, download, file_digest, part_path, safe_extract
from harness.errors import HarnessError

DATA = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(dl, "RETRY_BACKOFF", 0.0)


def ranges_seen(srv, path):
    return [h.get("Range") for p, h in srv.seen if p == path]


@pytest.mark.parametrize("progress", [False, True])
def test_plain_download_verifies_and_leaves_no_part(http_server, tmp_path, progress, capsys):
    http_server.add("/f.bin", DATA)
    dest = tmp_path / "sub" / "f.bin"
    assert download(http_server.url("/f.bin"), dest, sha256=SHA, md5=MD5, size=len(DATA), progress=progress,
                    chunk=4096) == dest
    out, err = capsys.readouterr()
    assert out == "" and (("f.bin" in err) if progress else err == "")  # the bar goes to stderr only
    assert dest.read_bytes() == DATA and not part_path(dest).exists()
    assert file_digest(dest) == SHA and file_digest(dest, "md5") == MD5


def test_dropped_connection_resumes_with_range(http_server, tmp_path):
    http_server.add("/f.bin", DATA, drop_after=30_000)
    dest = tmp_path / "f.bin"
    download(http_server.url("/f.bin"), dest, sha256=SHA, size=len(DATA), progress=False, chunk=1024)
    assert dest.read_bytes() == DATA
    seen = ranges_seen(http_server, "/f.bin")
    assert len(seen) == 2 and seen[0] is None
    assert seen[1].startswith("bytes=") and int(seen[1][6:-1]) > 0  # continued, not restarted


def test_leftover_part_is_resumed_on_the_next_run(http_server, tmp_path):
    http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(DATA[:5000])
    download(http_server.url("/f.bin"), dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == DATA and ranges_seen(http_server, "/f.bin") == ["bytes=5000-"]


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    http_server.add("/f.bin", DATA, ranges=False)
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(b"x" * 5000)  # would corrupt the file if appended to
    download(http_server.url("/f.bin"), dest, sha256=SHA, size=len(DATA), progress=False)
    assert dest.read_bytes() == DATA and ranges_seen(http_server, "/f.bin") == ["bytes=5000-"]


def test_oversized_leftover_part_restarts_after_416(http_server, tmp_path):
    http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(b"x" * (len(DATA) + 10))  # from some other file
    download(http_server.url("/f.bin"), dest, progress=False)
    assert dest.read_bytes() == DATA
    assert ranges_seen(http_server, "/f.bin") == [f"bytes={len(DATA) + 10}-", None]


def test_stale_complete_part_with_wrong_bytes_gets_one_clean_retry(http_server, tmp_path):
    http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(b"y" * len(DATA))  # right size, wrong content
    download(http_server.url("/f.bin"), dest, sha256=SHA, size=len(DATA), progress=False)
    assert dest.read_bytes() == DATA and ranges_seen(http_server, "/f.bin") == [None]


def test_server_errors_are_retried_then_reported(http_server, tmp_path):
    http_server.add("/busy", b"overloaded", status=503, content_type="text/plain")
    with pytest.raises(DownloadError, match="HTTP 503"):
        download(http_server.url("/busy"), tmp_path / "f.bin", progress=False, retries=2)
    assert len(http_server.seen) == 3


def test_wrong_checksum_names_both_values_and_keeps_nothing(http_server, tmp_path):
    http_server.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        download(http_server.url("/f.bin"), dest, sha256=wrong, progress=False)
    assert isinstance(info.value, HarnessError)
    assert wrong in str(info.value) and SHA in str(info.value) and http_server.url("/f.bin") in str(info.value)
    assert not dest.exists() and not part_path(dest).exists()


def test_md5_mismatch(http_server, tmp_path):
    http_server.add("/f.bin", DATA)
    with pytest.raises(DownloadError, match=f"md5 mismatch: expected {'a' * 32}, got {MD5}"):
        download(http_server.url("/f.bin"), tmp_path / "f.bin", md5="a" * 32, progress=False)


def test_truncated_file_names_both_sizes(http_server, tmp_path):
    http_server.add("/short.bin", DATA[:1000])
    with pytest.raises(DownloadError) as info:
        download(http_server.url("/short.bin"), tmp_path / "f.bin", size=len(DATA), progress=False)
    assert "1,000" in str(info.value) and f"{len(DATA):,}" in str(info.value)


@pytest.mark.parametrize("content_type,body", [
    ("text/html; charset=utf-8", b"<p>Sign in to Dropbox</p>"),
    ("application/octet-stream", b"  <!DOCTYPE html><html><body>Not here</body></html>"),
])
def test_web_page_instead_of_file_is_rejected(http_server, tmp_path, content_type, body):
    http_server.add("/page", body, content_type=content_type)
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="returned a web page") as info:
        download(http_server.url("/page"), dest, progress=False)
    assert "instead of the file" in str(info.value)
    assert not dest.exists() and not part_path(dest).exists()
    assert len(http_server.seen) == 1  # not retried: a page will not turn into the file


def test_404_then_fallback_succeeds(http_server, tmp_path):
    http_server.add("/mirror/f.bin", DATA)
    dest = download([http_server.url("/gone/f.bin"), http_server.url("/mirror/f.bin")], tmp_path / "f.bin",
                    sha256=SHA, progress=False)
    assert dest.read_bytes() == DATA
    assert [p for p, _ in http_server.seen] == ["/gone/f.bin", "/mirror/f.bin"]


def test_every_url_failing_lists_each_with_its_error(http_server, tmp_path):
    http_server.add("/page", b"<html></html>", content_type="text/html")
    urls = [http_server.url("/gone"), http_server.url("/page"), "http://127.0.0.1:1/refused"]
    with pytest.raises(DownloadError) as info:
        download(urls, tmp_path / "f.bin", progress=False, timeout=2, retries=1)
    text = str(info.value)
    assert "any of 3 URL(s)" in text
    lines = {u: next(line for line in text.splitlines() if u in line) for u in urls}
    assert "HTTP 404" in lines[urls[0]] and "web page" in lines[urls[1]] and "ConnectionError" in lines[urls[2]]
    assert str(tmp_path / "f.bin") in text  # where to put the file by hand


def test_a_host_that_does_not_resolve_fails_at_once_and_is_not_asked_again(http_server, tmp_path, monkeypatch):
    """Offline, DNS fails: that is final (no retries with back-off), the host's other URLs are not tried,
    a URL on another host still is, and the reason is one short line, not urllib3's chain."""
    import socket
    import time

    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        if host == "weights.example.org":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(dl, "RETRY_BACKOFF", 1.0)  # what a user waits: retries would take seconds
    http_server.add("/f.bin", DATA)
    urls = ["http://weights.example.org/a/f.bin", "http://weights.example.org/b/f.bin", http_server.url("/f.bin")]
    started = time.monotonic()
    assert download(urls, tmp_path / "f.bin", sha256=SHA, progress=False) == tmp_path / "f.bin"
    assert time.monotonic() - started < 2.0
    with pytest.raises(DownloadError) as info:
        download(urls[:2], tmp_path / "g.bin", progress=False)
    assert time.monotonic() - started < 2.0
    text = str(info.value)
    assert f"{urls[0]}: cannot resolve host 'weights.example.org'" in text
    assert f"{urls[1]}: not tried (host 'weights.example.org' did not resolve above)" in text
    assert "NameResolutionError" not in text and "HTTPConnectionPool" not in text and "HARNESS_OFFLINE=1" in text


# ----- archives -----------------------------------------------------------------------------

def make_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def test_safe_extract_zip(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", [("a.txt", "A"), ("sub/b.txt", "B"), ("sub/", "")])
    written = safe_extract(archive, tmp_path / "out")
    out = (tmp_path / "out").resolve()
    assert sorted(written) == [out / "a.txt", out / "sub/b.txt"]
    assert (out / "sub/b.txt").read_text() == "B"


@pytest.mark.parametrize("bad", ["../evil.txt", "sub/../../evil.txt", "/abs/evil.txt", "C:/evil.txt"])
def test_safe_extract_zip_refuses_escapes_and_writes_nothing(tmp_path, bad):
    archive = make_zip(tmp_path / "bad.zip", [("first.txt", "fine"), (bad, "evil")])
    with pytest.raises(HarnessError) as info:
        safe_extract(archive, tmp_path / "out")
    assert bad in str(info.value)
    assert list((tmp_path / "out").iterdir()) == []  # the good entry before it was not written either
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_zip_symlink_out_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../etc")
    with pytest.raises(HarnessError, match="'link' links outside"):
        safe_extract(archive, tmp_path / "out")


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_info(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_info(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_safe_extract_tar_gz_with_inside_link(tmp_path):
    archive = make_tar(tmp_path / "ok.tar.gz", [file_info("d/a.txt", b"A"), link_info("d/l", "a.txt")])
    written = safe_extract(archive, tmp_path / "out")
    assert {p.name for p in written} == {"a.txt", "l"}
    assert (tmp_path / "out/d/l").read_text() == "A"


@pytest.mark.parametrize("member", [
    file_info("../evil.txt", b"x"),
    file_info("/tmp/evil.txt", b"x"),
    link_info("d/up", "../../outside"),
    link_info("abs", "/etc/passwd"),
    link_info("hard", "../outside", tarfile.LNKTYPE),
])
def test_safe_extract_tar_refuses_escapes(tmp_path, member):
    archive = make_tar(tmp_path / "bad.tar.gz", [file_info("ok.txt", b"ok"), member])
    with pytest.raises(HarnessError) as info:
        safe_extract(archive, tmp_path / "out")
    assert f"'{member[0].name}'" in str(info.value)
    assert os.listdir(tmp_path / "out") == []


def test_safe_extract_rejects_non_archives(tmp_path):
    page = tmp_path / "x.zip"
    page.write_text("<html></html>")
    with pytest.raises(HarnessError, match="neither a zip nor a tar"):
        safe_extract(page, tmp_path / "out")


# ----- Google Drive's large-file confirmation ----------------------------------------------------

def _drive_warning(action: str) -> bytes:
    """The page Google Drive answers a large file's link with (the structure of its current form)."""
    return (f'<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>'
            f'<p>Google Drive can\'t scan this file for viruses.</p>'
            f'<form id="download-form" action="{action}" method="get">'
            f'<input type="submit" id="uc-download-link" value="Download anyway"/>'
            f'<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export" value="download">'
            f'<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-1">'
            f'</form></body></html>').encode()


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_drive_large_file_warning_is_confirmed(http_server, tmp_path, content_type):
    http_server.add("/uc?export=download&id=FILEID", _drive_warning(http_server.url("/download")),
                    content_type=content_type)
    http_server.add("/download?id=FILEID&export=download&confirm=t&uuid=u-1", DATA)
    dest = tmp_path / "net_g.pth"
    assert download(http_server.url("/uc?export=download&id=FILEID"), dest, sha256=SHA, progress=False) == dest
    assert dest.read_bytes() == DATA
    assert [p for p, _ in http_server.seen] == ["/uc?export=download&id=FILEID",
                                                "/download?id=FILEID&export=download&confirm=t&uuid=u-1"]


def test_drive_older_confirm_link_is_followed(http_server, tmp_path):
    page = b'<html><body><a id="uc-download-link" href="/uc?export=download&amp;confirm=AbCd&amp;id=X">x</a></body></html>'
    http_server.add("/uc?export=download&id=X", page, content_type="text/html")
    http_server.add("/uc?export=download&confirm=AbCd&id=X", DATA)
    dest = tmp_path / "f.bin"
    download(http_server.url("/uc?export=download&id=X"), dest, progress=False)
    assert dest.read_bytes() == DATA


def test_a_warning_that_confirms_into_another_warning_is_refused(http_server, tmp_path):
    loop = _drive_warning(http_server.url("/download"))
    http_server.add("/uc", loop, content_type="text/html")
    http_server.add("/download?id=FILEID&export=download&confirm=t&uuid=u-1", loop, content_type="text/html")
    with pytest.raises(DownloadError, match="web page"):
        download(http_server.url("/uc"), tmp_path / "f.bin", progress=False)
    assert len(http_server.seen) == 2 and not (tmp_path / "f.bin").exists()


def test_other_pages_are_still_refused():
    assert dl.drive_confirmation("<html><form id='login'><input type='hidden' name='confirm'></form></html>",
                                 "https://x") is None
    assert dl.drive_confirmation("<html><a href='javascript:confirm=1'>x</a></html>", "https://x") is None
