"""COCO as ground truth: images plus instances annotations, split into named subsets.

A split is the union of its criteria: an image belongs if it contains any instance of a
listed supercategory or category (note pycocotools' `getImgIds(catIds=[...])` returns the
intersection, so it is not used for this), has at least `min_instances` non-crowd
instances, or is listed in `image_ids`. An empty split is every image. Ids are sorted
before the seeded sample, so a spec always picks the same images. The annotations are
read once per process and shared by every sweep point. What COCO adds to a run's results
(object versus background scores, the per-category breakdown) is `coco_report`. An annotations
file is data: a `file_name` that leaves the images folder is never read (a `failed:outside_folder`
row), and an image id listed twice is an error naming the file and the id.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.base import Dataset, Sample, select
from harness.data.coco_report import CocoReporter
from harness.data.images import decode_rgb
from harness.data.sample_data import provide, sample_kind
from harness.errors import HarnessError, ImageError, did_you_mean
from harness.paths import OutsideRoot, contained


@dataclass
class CocoIndex:
    """The parts of a COCO annotations file the harness uses, indexed once."""

    path: Path
    coco: Any  # pycocotools.coco.COCO
    cat_name: dict[int, str] = field(default_factory=dict)
    cat_super: dict[int, str] = field(default_factory=dict)
    image_cats: dict[int, set[int]] = field(default_factory=dict)
    instances: dict[int, int] = field(default_factory=dict)  # non-crowd instances per image

    def supercategories(self, image_id: int) -> list[str]:
        return sorted({self.cat_super[c] for c in self.image_cats.get(image_id, ())})

    def object_mask(self, image_id: int, height: int, width: int, supercategory: str | None = None) -> np.ndarray:
        """Union of the instance masks (crowd regions included) of an image, optionally of one supercategory."""
        coco = self.coco
        mask = np.zeros((height, width), dtype=bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=None)):
            if supercategory is not None and self.cat_super[ann["category_id"]] != supercategory:
                continue
            m = coco.annToMask(ann)
            if m.shape != mask.shape:  # annotations of a resized copy: skip rather than misalign
                continue
            mask |= m.astype(bool)
        return mask


@lru_cache(maxsize=4)
def load_index(annotations: Path) -> CocoIndex:
    """Read an instances JSON with pycocotools (once per process per file)."""
    from pycocotools.coco import COCO

    if not annotations.is_file():
        raise HarnessError(f"COCO annotations file '{annotations}' does not exist.",
                           hint="Fix dataset.annotations, or fetch it with "
                                "`harness data download coco --annotations`.")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints timing chatter
            coco = COCO(str(annotations))
    except Exception as exc:
        raise HarnessError(f"Cannot read COCO annotations '{annotations}': {type(exc).__name__}: {exc}.",
                           hint="It must be a COCO instances JSON (images, annotations, categories).") from None
    _refuse_duplicate_ids(annotations, coco.dataset.get("images", []))
    index = CocoIndex(path=annotations, coco=coco)
    for cat in coco.loadCats(coco.getCatIds()):
        index.cat_name[cat["id"]] = cat["name"]
        index.cat_super[cat["id"]] = cat.get("supercategory", cat["name"])
    cats: dict[int, set[int]] = defaultdict(set)
    counts: dict[int, int] = defaultdict(int)
    for ann in coco.dataset.get("annotations", []):
        cats[ann["image_id"]].add(ann["category_id"])
        if not ann.get("iscrowd", 0):
            counts[ann["image_id"]] += 1
    index.image_cats, index.instances = dict(cats), dict(counts)
    return index


def _refuse_duplicate_ids(annotations: Path, images: list[dict]) -> None:
    """One id, one image: pycocotools keeps the last entry of an id silently (one id scored from another's file)."""
    seen: dict[Any, str] = {}
    for entry in images:
        image_id, name = entry.get("id"), str(entry.get("file_name", ""))
        if image_id in seen:
            raise HarnessError(f"COCO annotations '{annotations}' list image id {image_id} twice "
                               f"('{seen[image_id]}' and '{name}').",
                               hint="Give every entry of 'images' its own id (and fix the annotations that "
                                    "refer to it).")
        seen[image_id] = name


def split_ids(index: CocoIndex, split: str, rule) -> list[int]:
    """Image ids of one split (see the module docstring for the union semantics)."""
    all_ids = sorted(index.coco.getImgIds())
    if not (rule.supercategories or rule.categories or rule.image_ids or rule.min_instances is not None):
        return all_ids
    supers = set(index.cat_super.values())
    names = set(index.cat_name.values())
    for kind, wanted, valid in (("supercategories", rule.supercategories, supers),
                                ("categories", rule.categories, names)):
        for name in wanted:
            if name not in valid:
                raise HarnessError(
                    f"dataset.splits.{split}.{kind}: unknown name '{name}' in {index.path}.{did_you_mean(name, valid)}",
                    hint=f"Valid {kind}: {', '.join(sorted(valid))}.")
    chosen: set[int] = set()
    want_super, want_cat = set(rule.supercategories), set(rule.categories)
    for image_id in all_ids:
        cats = index.image_cats.get(image_id, set())
        if any(index.cat_super[c] in want_super for c in cats) or any(index.cat_name[c] in want_cat for c in cats):
            chosen.add(image_id)
        elif rule.min_instances is not None and index.instances.get(image_id, 0) >= rule.min_instances:
            chosen.add(image_id)
    known = set(all_ids)
    missing = [i for i in rule.image_ids if i not in known]
    if missing:
        raise HarnessError(f"dataset.splits.{split}.image_ids: {missing[:10]} not in {index.path}.",
                           hint="List ids that the annotations file contains.")
    chosen.update(rule.image_ids)
    return sorted(chosen)


def _loader(path: Path):
    return lambda: decode_rgb(path)


def _sample(images: Path, index: CocoIndex, image_id: int) -> Sample:
    """One image's sample; a `file_name` that leaves the images folder (absolute, '..', a link out) is
    never read: its sample is a `failed:outside_folder` row naming the annotations file and the id."""
    info = index.coco.imgs[image_id]
    meta = {"coco_id": image_id, "supercategories": index.supercategories(image_id)}
    name = str(info.get("file_name", ""))
    try:
        path = contained(images, name)
    except OutsideRoot as exc:
        error = ImageError("outside_folder", f"image id {image_id} in {index.path}: file_name '{name}' {exc.reason} "
                                             f"(it must name a file inside the images folder {images})")
        return Sample(id=str(image_id), loader=_raiser(error), path=name, meta=meta)
    return Sample(id=str(image_id), loader=_loader(path), path=str(path), meta=meta)


def _raiser(error: ImageError):
    def load():
        raise error

    return load


def choose_files(spec_dataset, write_sample: bool = True) -> tuple[Path, Path, int]:
    """The first candidate pair (images folder, annotations file) that exists, and its position.

    With one pair, a missing folder or file is named on its own; with several, the error lists
    every candidate and what is missing of each. A pair naming where `harness data sample` writes
    its COCO folder is written when no pair exists (and only chosen when `write_sample` is False: validating).
    """
    images, annotations = spec_dataset.images, spec_dataset.annotations
    listed = list(zip(images, annotations)) if isinstance(images, list) else [(images, annotations)]
    pairs = [(Path(i).expanduser(), Path(a).expanduser()) for i, a in listed]
    for position, (images, annotations) in enumerate(pairs):
        if images.is_dir() and annotations.is_file():
            return images, annotations, position
    for position, (images, annotations) in enumerate(pairs):
        if sample_kind(images, annotations) == "coco":  # the harness's own sample, written on first use
            if write_sample:
                provide(images, annotations)
            return images, annotations, position
    if len(pairs) == 1:
        images, annotations = pairs[0]
        if not images.is_dir():
            raise HarnessError(f"COCO images folder '{images}' does not exist.",
                               hint="Fix dataset.images, or fetch it with `harness data download coco`.")
        return images, annotations, 0  # load_index names the missing annotations file
    lines = [f"  {n}. images '{i}' ({'found' if i.is_dir() else 'missing'}), annotations '{a}' "
             f"({'found' if a.is_file() else 'missing'})" for n, (i, a) in enumerate(pairs, 1)]
    raise HarnessError("None of the COCO candidates in dataset.images / dataset.annotations exists (relative paths "
                       "are taken from the working directory, here " + str(Path.cwd()) + "):\n" + "\n".join(lines),
                       hint="Run from the folder the paths are relative to, fetch COCO val2017 with `harness data "
                            "download coco --split val2017 --annotations --dest data/coco`, add the harness's own "
                            "sample (data/sample/coco/images, data/sample/coco/instances.json) as the last "
                            "candidate, or fix the paths.")


def build(spec_dataset, split: str | None) -> Dataset:
    """The COCO images of `split`, limited and seeded as the spec says (from the first candidate pair that exists)."""
    images, annotations, position = choose_files(spec_dataset)
    index = load_index(annotations.resolve())
    candidates = len(spec_dataset.images) if isinstance(spec_dataset.images, list) else 1
    split = split or next(iter(spec_dataset.splits))
    ids = select(split_ids(index, split, spec_dataset.splits[split]), spec_dataset.limit, spec_dataset.seed)
    samples = [_sample(images, index, image_id) for image_id in ids]
    info = {"source": "coco", "path": str(images.resolve()), "annotations": str(index.path), "split": split,
            "limit": spec_dataset.limit, "seed": spec_dataset.seed, "size": len(samples)}
    if candidates > 1:  # which of the spec's candidates this is (its paths are logged above)
        info["candidate"] = f"{position + 1} of {candidates}"
    return Dataset(name=images.resolve().name, source="coco", samples=samples, info=info, split=split,
                   fingerprint_items=[str(index.path), ids], reporter=CocoReporter(index))

