"""COCO download against a local HTTP server serving generated archives."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

import harness.data.coco_download as cd
from harness.cli import main
from harness.errors import HarnessError


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def coco_server(http_server, monkeypatch):
    images = {f"{i:012d}.jpg": jpeg(i) for i in (1, 2, 3)}
    ann = {"images": [{"id": i, "file_name": f"{i:012d}.jpg", "height": 8, "width": 8,
                       "coco_url": f"http://images.cocodataset.org/val2017/{i:012d}.jpg"} for i in (1, 2, 3)],
           "annotations": [], "categories": []}
    padding = np.random.default_rng(9).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()  # > one 1 MiB chunk
    val = zip_bytes({**{f"val2017/{n}": b for n, b in images.items()}, "val2017/padding.bin": padding})
    annotations = zip_bytes({"annotations/instances_val2017.json": json.dumps(ann).encode()})
    http_server.add("/zips/val2017.zip", val, drop_after=len(val) // 2)  # first try is cut mid-way
    http_server.add("/annotations/annotations_trainval2017.zip", annotations)
    for name, data in images.items():
        http_server.add(f"/val2017/{name}", data)
    monkeypatch.setenv("HARNESS_COCO_BASE_URL", http_server.url(""))
    monkeypatch.setitem(cd.ARCHIVES, "val2017", cd.Archive("/zips/val2017.zip", len(val),
                                                           hashlib.md5(val).hexdigest()))
    monkeypatch.setitem(cd.ARCHIVES, "annotations", cd.Archive("/annotations/annotations_trainval2017.zip",
                                                               len(annotations), hashlib.md5(annotations).hexdigest()))
    monkeypatch.setattr("harness.assets.download.RETRY_BACKOFF", 0, raising=False)
    return http_server, images


def test_full_archive_resumes_and_extracts(coco_server, tmp_path, capsys):
    server, images = coco_server
    assert main(["data", "download", "coco", "--split", "val2017", "--annotations", "--dest", str(tmp_path)]) == 0
    for name, data in images.items():
        assert (tmp_path / "val2017" / name).read_bytes() == data
    assert json.loads((tmp_path / "annotations" / "instances_val2017.json").read_text())["images"]
    ranged = [h for p, h in server.seen if p == "/zips/val2017.zip" and "Range" in h]
    assert ranged, "the cut download was resumed with an HTTP Range request"
    before = len(server.seen)
    assert main(["data", "download", "coco", "--dest", str(tmp_path)]) == 0  # already there: nothing fetched
    assert len(server.seen) == before


def test_subset_by_ids_and_limit(coco_server, tmp_path):
    assert main(["data", "download", "coco", "--ids", "2,3", "--dest", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "val2017").iterdir()) == ["000000000002.jpg", "000000000003.jpg"]
    assert main(["data", "download", "coco", "--limit", "1", "--seed", "0", "--dest", str(tmp_path / "b")]) == 0
    assert len(list((tmp_path / "b" / "val2017").iterdir())) == 1
    with pytest.raises(HarnessError, match="not in"):
        cd.download_coco("val2017", tmp_path, ids=[99])


def test_bad_checksum_is_rejected(coco_server, tmp_path, monkeypatch):
    monkeypatch.setitem(cd.ARCHIVES, "val2017", cd.Archive("/zips/val2017.zip", None, "0" * 32))
    with pytest.raises(HarnessError, match="md5"):
        cd.download_coco("val2017", tmp_path)
    assert not (tmp_path / "val2017").exists()


def test_path_traversal_archive_is_refused(http_server, tmp_path, monkeypatch):
    evil = zip_bytes({"val2017/ok.jpg": b"x", "../../escape.txt": b"pwned"})
    http_server.add("/zips/val2017.zip", evil)
    monkeypatch.setenv("HARNESS_COCO_BASE_URL", http_server.url(""))
    monkeypatch.setitem(cd.ARCHIVES, "val2017", cd.Archive("/zips/val2017.zip", len(evil), None))
    with pytest.raises(HarnessError, match="escape.txt"):
        cd.download_coco("val2017", tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "dest" / "val2017" / "ok.jpg").exists()
