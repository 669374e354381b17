"""Paths and URLs from data stay where they belong (#18 D2, D3, D16, D9): annotations, downloads, archives.

Every fixture is made here: a COCO folder whose `file_name`s climb out, an annotations file that
points downloads elsewhere, archives whose links chain out of the destination."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

import harness.data.coco_download as cd
from harness.assets.archives import safe_extract
from harness.config.schema import CocoData, CocoSplit
from harness.data import coco
from harness.data.base import Reporter
from harness.errors import HarnessError, ImageError
from harness.paths import OutsideRoot, contained, escape_reason, url_under
from harness.pipeline.process import load


def png(seed: int = 0, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


# ----- harness.paths ----------------------------------------------------------------------------

def test_contained_refuses_absolute_climbing_and_linked_names(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    assert contained(root, "a/b.jpg") == root / "a" / "b.jpg"
    for name, why in (("/etc/passwd", "absolute"), ("C:/x.jpg", "absolute"), ("../../x.jpg", "'..'"),
                      ("a/../../x", "'..'"), ("out/x.jpg", "symbolic link"), ("", "empty")):
        with pytest.raises(OutsideRoot, match=why):
            contained(root, name)
    assert escape_reason(root, "fine.jpg") is None


def test_url_under_checks_scheme_host_port_and_path():
    bases = ["http://images.cocodataset.org", "http://127.0.0.1:8000/mirror"]
    assert url_under("http://images.cocodataset.org/val2017/1.jpg", bases)
    assert url_under("http://127.0.0.1:8000/mirror/val2017/1.jpg", bases)
    for url in ("http://evil.example/val2017/1.jpg", "https://images.cocodataset.org.evil.example/x",
                "http://127.0.0.1:8001/mirror/x", "http://127.0.0.1:8000/other/x", "file:///etc/passwd",
                "http://127.0.0.1:8000/mirror/../x"):
        assert not url_under(url, bases), url


# ----- D2, D3: COCO file_name and ids ----------------------------------------------------------------

def coco_folder(tmp_path, images: list[dict]):
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "images" / "ok.png").write_bytes(png(1, 40))
    (tmp_path / "secret.png").write_bytes(png(2, 40))
    (root / "images" / "link").symlink_to(tmp_path)
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    coco.load_index.cache_clear()
    return root, ann


def test_coco_file_name_outside_the_images_folder_is_a_failed_row_never_read(tmp_path):
    secret = str(tmp_path / "secret.png")
    root, ann = coco_folder(tmp_path, [{"id": 1, "file_name": "ok.png"}, {"id": 2, "file_name": "../../secret.png"},
                                       {"id": 3, "file_name": secret}, {"id": 4, "file_name": "link/secret.png"}])
    ds = coco.build(CocoData(source="coco", images=root / "images", annotations=ann,
                             splits={"all": CocoSplit()}), "all")
    assert ds.samples[0].load().shape == (40, 40, 3)
    for sample in ds.samples[1:]:
        with pytest.raises(ImageError) as info:
            sample.load()
        assert info.value.reason == "outside_folder"
        assert f"image id {sample.id}" in info.value.detail and str(ann) in info.value.detail
        row = load(sample, Reporter())
        assert row["status"] == "failed:outside_folder" and "file_name" in row["error"]


def test_duplicate_coco_image_ids_are_an_error_naming_the_file_and_the_id(tmp_path):
    root, ann = coco_folder(tmp_path, [{"id": 7, "file_name": "ok.png"}, {"id": 7, "file_name": "other.png"}])
    with pytest.raises(HarnessError, match=r"image id 7 twice \('ok.png' and 'other.png'\)") as info:
        coco.load_index(ann.resolve())
    assert str(ann.resolve()) in str(info.value)


# ----- D16: download coco --ids --------------------------------------------------------------------------

@pytest.fixture
def annotations_dest(tmp_path, http_server, monkeypatch):
    """A dest whose annotations file is already there (the archive step is skipped), a local mirror."""
    dest = tmp_path / "dest"
    (dest / "annotations").mkdir(parents=True)
    (dest / "_downloads").mkdir()
    (dest / "_downloads" / "annotations_trainval2017.zip.extracted").write_text("ok\n")
    monkeypatch.setenv("HARNESS_COCO_BASE_URL", http_server.url(""))
    monkeypatch.setattr("harness.assets.download.RETRY_BACKOFF", 0, raising=False)
    http_server.add("/val2017/1.jpg", png(1))
    http_server.add("/elsewhere/2.jpg", png(2))

    def write(images):
        (dest / "annotations" / "instances_val2017.json").write_text(json.dumps({"images": images}))
        return dest

    return write


@pytest.mark.parametrize("name", ["../../../escape.jpg", "/tmp/harness-escape-test.jpg", "sub/../../escape.jpg"])
def test_download_refuses_file_names_outside_dest(annotations_dest, tmp_path, name):
    dest = annotations_dest([{"id": 1, "file_name": "1.jpg", "coco_url": "http://images.cocodataset.org/val2017/1.jpg"},
                             {"id": 2, "file_name": name, "coco_url": "http://images.cocodataset.org/val2017/1.jpg"}])
    with pytest.raises(HarnessError, match=r"image id 2 has file_name .* refusing to write outside"):
        cd.download_coco("val2017", dest, ids=[1, 2], progress=False)
    assert not (dest / "val2017" / "1.jpg").exists()  # every entry is checked before the first fetch
    assert not (tmp_path / "escape.jpg").exists() and not os.path.exists("/tmp/harness-escape-test.jpg")


def test_download_refuses_a_coco_url_off_the_official_host_or_the_mirror(annotations_dest, http_server):
    foreign = "http://evil.example/val2017/1.jpg"
    dest = annotations_dest([{"id": 1, "file_name": "1.jpg", "coco_url": foreign}])
    with pytest.raises(HarnessError, match="coco_url 'http://evil.example/val2017/1.jpg', which is not on"):
        cd.download_coco("val2017", dest, ids=[1], progress=False)
    other_path = http_server.url("/elsewhere/2.jpg")  # the mirror's host, outside the COCO layout: allowed base
    dest = annotations_dest([{"id": 1, "file_name": "1.jpg", "coco_url": other_path}])
    assert cd.download_coco("val2017", dest, ids=[1], progress=False)["images"] == 1
    dest = annotations_dest([{"id": 1, "file_name": "1.jpg", "coco_url": "http://images.cocodataset.org/val2017/1.jpg"},
                             {"id": 1, "file_name": "x.jpg", "coco_url": "http://images.cocodataset.org/val2017/1.jpg"}])
    with pytest.raises(HarnessError, match="image id 1 twice"):
        cd.download_coco("val2017", dest, ids=[1], progress=False)


# ----- D9: archives -------------------------------------------------------------------------------------

def tar_with(path, members):
    with tarfile.open(path, "w") as tf:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tf.addfile(info, io.BytesIO(value))
            else:
                info.type, info.linkname = (tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE), value
                tf.addfile(info)
    return path


@pytest.mark.parametrize("members, bad", [
    ([("p", "sym", "."), ("p/q", "sym", ".."), ("p/q/escape.txt", "file", b"x")], "p/q"),
    ([("a", "sym", "b"), ("b", "sym", "."), ("a/up", "sym", "../.."), ("a/up/x", "file", b"x")], "a/up"),
    ([("d", "sym", "."), ("d/d/d/../x", "file", b"x")], "d/d/d/../x"),
    ([("loop", "sym", "loop2"), ("loop2", "sym", "loop"), ("loop/x", "file", b"x")], "loop/x"),
    ([("h", "hard", "../outside")], "h"),
])
def test_a_chain_of_links_out_of_the_destination_is_refused_before_anything_is_written(tmp_path, members, bad):
    archive = tar_with(tmp_path / "chain.tar", [("first.txt", "file", b"ok")] + members)
    with pytest.raises(HarnessError) as info:
        safe_extract(archive, tmp_path / "out")
    assert f"'{bad}'" in str(info.value) and str(archive) in str(info.value)
    assert os.listdir(tmp_path / "out") == []
    assert not (tmp_path / "escape.txt").exists()


def test_a_link_on_disk_in_the_destination_cannot_carry_a_member_out(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "planted").symlink_to(tmp_path)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("planted/escape.txt", "x")
    with pytest.raises(HarnessError, match="'planted/escape.txt' would be written outside"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_links_that_stay_inside_still_extract(tmp_path):
    archive = tar_with(tmp_path / "ok.tar", [("d/a.txt", "file", b"A"), ("p", "sym", "d"), ("p/l", "sym", "a.txt"),
                                             ("h", "hard", "d/a.txt")])
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "l").read_text() == "A" and (tmp_path / "out" / "h").read_text() == "A"
