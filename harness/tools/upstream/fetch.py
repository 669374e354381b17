"""Fetching the upstream reference code the parity tests compare against, at pinned commits, verified.

The parity tests hold Zhang et al.'s and DDColor's re-implementations to upstream's own code on
shared random weights. That code is not a package one can install, so `harness reference fetch`
downloads the files at the commits below from GitHub (`raw.githubusercontent.com`, or
`$HARNESS_REFERENCE_BASE_URL` for a mirror) into an ignored folder of the checkout
(`.reference/`, which `reference.reference_dir()` then finds), and checks each file's git blob
id, so a file is byte-for-byte the one at that commit. One file differs from upstream on
purpose, as in the workspace's copy: DDColor's `basicsr/archs/__init__.py` is written empty
(upstream's imports basicsr's training registry and its dependencies; `ddcolor/` uses neither).
ColorFormer's four `basicsr` package `__init__.py` files are written empty for the same reason
(upstream's import the training machinery: losses, CUDA ops, lmdb, a generated version file).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from harness.assets.download import DownloadError, download
from harness.assets.weights import offline
from harness.errors import HarnessError

ZHANG = ("richzhang/colorization", "4f6009ed1495b1300231ebeb41cc4015557ddef7")
DDCOLOR = ("piddnad/DDColor", "2adb63f2656ac41cbdf7b894cddd94121a3faf13")
COLORFORMER = ("TencentYoutuResearch/ImageColorization-ColorFormer", "0d3ae850a3990bbdb954bb39feba07b15c1aa357")
DEFAULT_BASE = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class RefFile:
    """One upstream file: its repository and commit, its path there, where it goes, its git blob id."""

    repo: tuple[str, str]
    path: str
    dest: str
    blob: str


def _ddcolor(path: str, blob: str) -> RefFile:
    return RefFile(DDCOLOR, path, f"ddcolor_ref/{path}", blob)


def _colorformer(path: str, blob: str) -> RefFile:
    return RefFile(COLORFORMER, path, f"colorformer_ref/{path}", blob)


MANIFEST = [
    RefFile(ZHANG, "colorizers/__init__.py", "colorizers/__init__.py", "058dfb3b46c5c12872d358e89301739e49cdbf18"),
    RefFile(ZHANG, "colorizers/base_color.py", "colorizers/base_color.py", "00beb39e9f6f73b06ebea0314fc23a0bc75f23b7"),
    RefFile(ZHANG, "colorizers/eccv16.py", "colorizers/eccv16.py", "896ed477c20934dc86a6088117eed63af773ace8"),
    RefFile(ZHANG, "colorizers/siggraph17.py", "colorizers/siggraph17.py", "775a23f25d03f3bf1761e5d2bbf4b400eb2c6047"),
    RefFile(ZHANG, "colorizers/util.py", "colorizers/util.py", "79968ba6b960a8c10047f1ce52400b6bfe766b9c"),
    RefFile(ZHANG, "LICENSE", "LICENSE-colorizers", "6187c76461a7725da199947701a0931af7a20b3f"),
    _ddcolor("ddcolor/__init__.py", "c903d38539bf2c11e7307d76989ab1edba7fbcc5"),
    _ddcolor("ddcolor/model.py", "678fadf8633c3d645d936542b6014efc65ca4ad4"),
    _ddcolor("ddcolor/pipeline.py", "4caff10d0c251f7de559625a7caa9592d6799628"),
    _ddcolor("basicsr/__init__.py", "231259e6d681fa161c8a8bfef93873a6e77540b8"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/__init__.py", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/convnext.py", "ea9a804af2f857a426de315dedcf52fa88b31ed8"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/position_encoding.py", "9fa7b9e0d0d103596d5cae16dfb578a5de8b45c5"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/transformer.py", "f462a10e34a0578304270538524192bbe63e9fde"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/transformer_utils.py", "ea38f399d541ccbc25999fb14201cfcffa3d8f8a"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/unet.py", "4610ba589242266383ba1b7cddca12c653b97daa"),
    _ddcolor("basicsr/archs/ddcolor_arch_utils/util.py", "c7226d8af6b66f8873b0cc8d7035692061118ec3"),
    _ddcolor("LICENSE", "f49a4e16e68b128803cc2dcea614603632b04eac"),
    _colorformer("basicsr/archs/colorformer_arch.py", "517650723a5a0917c5d608c40349a93b4cef3fa7"),
    _colorformer("basicsr/archs/colorformer_arch_util.py", "7d521512d9f6a28ee5b6d130c22caf767353b81e"),
    _colorformer("basicsr/archs/GLHTransformer.py", "fa46a3f688e69c2aed3bce524a31442a14d02f1e"),
    _colorformer("basicsr/utils/registry.py", "655753b3b9cbd0cfe73fe93a77cf1fcc3db6d827"),
    _colorformer("basicsr/utils/img_util.py", "921bcb0e33093b480924d75d27706dc38783554b"),
    _colorformer("basicsr/data/val_dataset.py", "9b1e0af5f50cc80c5de90e5cf328cde2fe1360a5"),
    _colorformer("basicsr/data/transforms.py", "0f1879d505c6022a560ea2cc716266dae4ca7527"),
    _colorformer("License_ColorFormer.txt", "b26323664152b379d4cf585a2e67d03c809b7162"),
]
#: written by the harness, not fetched (see the module docstring)
EMPTY = ["ddcolor_ref/basicsr/archs/__init__.py"] + [
    f"colorformer_ref/basicsr/{p}__init__.py" for p in ("", "archs/", "data/", "utils/")]


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with this content (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def url(item: RefFile) -> str:
    base = os.environ.get("HARNESS_REFERENCE_BASE_URL", "").strip().rstrip("/") or DEFAULT_BASE
    (repo, commit) = item.repo
    return f"{base}/{repo}/{commit}/{item.path}"


def status(dest: Path) -> list[tuple[RefFile, str]]:
    """Each file of the manifest with 'ok', 'missing' or 'DIFFERS' (another content than at the commit)."""
    out = []
    for item in MANIFEST:
        path = dest / item.dest
        out.append((item, "missing" if not path.is_file()
                    else "ok" if git_blob_id(path.read_bytes()) == item.blob else "DIFFERS"))
    return out


def fetch(dest: Path, progress: bool = False) -> list[Path]:
    """Download every file not already there and verified; returns the files written."""
    if offline():
        raise HarnessError("HARNESS_OFFLINE is set: the upstream reference code cannot be fetched.",
                           hint="Unset it, or place the files by hand (see harness/tools/upstream/fetch.py).")
    written = []
    for item, state in status(dest):
        if state == "ok":
            continue
        path = dest / item.dest
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            download(url(item), path, progress=progress)
        except DownloadError as exc:
            raise HarnessError(f"Cannot fetch the upstream reference file {item.path} of {item.repo[0]}: {exc}",
                               hint="Check the network (or HARNESS_REFERENCE_BASE_URL), then run the command "
                                    "again: files already fetched are kept.") from None
        got = git_blob_id(path.read_bytes())
        if got != item.blob:
            path.unlink()
            raise HarnessError(f"{url(item)} is not the file at commit {item.repo[1][:8]}: git blob {got}, "
                               f"expected {item.blob}.", hint="Check HARNESS_REFERENCE_BASE_URL; nothing was kept.")
        written.append(path)
    for name in EMPTY:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(b"")
    return written
