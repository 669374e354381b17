"""`harness data download coco`: the official COCO 2017 archives, or a few images by id.

Archives stream with resume and a checksum check (COCO publishes none; the md5 values
below are the widely reproduced ones) and extract safely (no absolute paths, no '..').
With `ids` or `limit`, only the annotations archive is fetched whole and the chosen images
come one by one from their `coco_url`. `HARNESS_COCO_BASE_URL` replaces
http://images.cocodataset.org (a mirror, or a test server). An image's `file_name` must name a
file inside `dest/<split>/` and its `coco_url` must be under the official host (http or https)
or the configured base: the annotations file is data, and data does not choose where files go or
where they come from (an entry that breaks either rule stops the download before any image).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.assets.archives import safe_extract
from harness.assets.download import download
from harness.data.base import select
from harness.errors import HarnessError
from harness.paths import OutsideRoot, contained, url_under

OFFICIAL_BASE = "http://images.cocodataset.org"


@dataclass(frozen=True)
class Archive:
    path: str  # under the base URL
    size: int | None
    md5: str | None


ARCHIVES = {
    "val2017": Archive("/zips/val2017.zip", 815_585_330, "442b8da7639aecaf257c1dceb8ba8c80"),
    "train2017": Archive("/zips/train2017.zip", None, None),  # ~18 GB; no checksum we can vouch for
    "annotations": Archive("/annotations/annotations_trainval2017.zip", 252_907_541,
                           "f4bbac642086de4f52a3fdda2de5fa2c"),
}


def _base() -> str:
    return os.environ.get("HARNESS_COCO_BASE_URL", OFFICIAL_BASE).rstrip("/")


def _url(original: str) -> str:
    return _base() + original[len(OFFICIAL_BASE):] if original.startswith(OFFICIAL_BASE) else original


def _allowed_bases() -> list[str]:
    return sorted({OFFICIAL_BASE, "https://images.cocodataset.org", _base()})


def _checked(ann: Path, folder: Path, info: dict) -> tuple[str, Path]:
    """(URL, target) of one image entry, both checked (see the module docstring)."""
    image_id, name, url = info.get("id"), str(info.get("file_name", "")), str(info.get("coco_url", ""))
    try:
        target = contained(folder, name)
    except OutsideRoot as exc:
        raise HarnessError(f"{ann}: image id {image_id} has file_name '{name}', which {exc.reason}; refusing to "
                           f"write outside {folder}.", hint="Use the official annotations file (fetch it again "
                                                            "with --annotations) or fix that entry.") from None
    if not url_under(_url(url), _allowed_bases()):
        raise HarnessError(f"{ann}: image id {image_id} has coco_url '{url}', which is not on "
                           f"{' or '.join(_allowed_bases())}; refusing to fetch it.",
                           hint="Use the official annotations file, or set HARNESS_COCO_BASE_URL to the mirror "
                                "that serves these images.")
    return _url(url), target


def fetch_archive(name: str, dest: Path, *, progress: bool = True) -> list[Path]:
    """Download (resumably) and safely extract one official archive under `dest`."""
    item = ARCHIVES[name]
    archive = dest / "_downloads" / Path(item.path).name
    done = archive.with_name(archive.name + ".extracted")
    if done.exists():
        return []
    download(_base() + item.path, archive, md5=item.md5, size=item.size, progress=progress)
    files = safe_extract(archive, dest)
    done.write_text("ok\n")
    return files


def annotations_file(dest: Path, split: str) -> Path:
    return dest / "annotations" / f"instances_{split}.json"


def fetch_images(split: str, dest: Path, *, ids: list[int] | None = None, limit: int | None = None,
                 seed: int = 0, progress: bool = True) -> list[Path]:
    """Fetch chosen images of `split` by their `coco_url` into `dest/split/` (existing files are kept)."""
    from tqdm.auto import tqdm

    ann = annotations_file(dest, split)
    if not ann.is_file():
        raise HarnessError(f"{ann} is missing; the image list comes from it.",
                           hint="Run with --annotations first (or place the annotations file there).")
    images: dict = {}
    for img in json.loads(ann.read_text())["images"]:
        if img.get("id") in images:
            raise HarnessError(f"{ann} lists image id {img.get('id')} twice ('{images[img['id']].get('file_name')}' "
                               f"and '{img.get('file_name')}').", hint="Use the official annotations file "
                                                                      "(fetch it again with --annotations).")
        images[img.get("id")] = img
    if ids:
        unknown = [i for i in ids if i not in images]
        if unknown:
            raise HarnessError(f"Image ids {unknown[:10]} are not in {ann.name}.", hint="Check the ids and the split.")
        chosen = sorted(ids)
    else:
        chosen = select(sorted(images), limit, seed)
    planned = [_checked(ann, dest / split, images[image_id]) for image_id in chosen]  # every entry before any fetch
    out = []
    for url, target in tqdm(planned, desc=f"{split} images", unit="img", disable=not progress):
        if not target.exists():
            download(url, target, progress=False)
        out.append(target)
    return out


def download_coco(split: str, dest: Path, *, annotations: bool = False, ids: list[int] | None = None,
                  limit: int | None = None, seed: int = 0, progress: bool = True) -> dict[str, int]:
    """Everything `harness data download coco` does; returns counts for the summary line."""
    if split not in ("val2017", "train2017"):
        raise HarnessError(f"Unknown COCO split '{split}'.", hint="Use val2017 or train2017.")
    dest.mkdir(parents=True, exist_ok=True)
    counts = {"annotation_files": 0, "images": 0}
    if annotations or ids or limit:
        counts["annotation_files"] = len(fetch_archive("annotations", dest, progress=progress))
    if ids or limit:
        counts["images"] = len(fetch_images(split, dest, ids=ids, limit=limit, seed=seed, progress=progress))
    else:
        counts["images"] = len(fetch_archive(split, dest, progress=progress))
    return counts
