"""What a sweep would cost, before it runs (`harness run SPEC --dry-run`).

Model work is images × FLOPs per image, where the model knows its FLOPs
(`Colorizer.flops_per_image`, counted without weights or compute). A model setting colorizes
the union of its splits' images once (see `experiment`), so the sweep's work is the sum
over settings of their unions; separate runs per split would pay the sum of the splits.
Image counts are the images each split lists (those later excluded as grayscale or
unreadable are counted too: an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.data import build_dataset
from harness.errors import HarnessError
from harness.models.registry import get_model_class
from harness.sweep.points import LoadedSpec, SweepPoint, by_setting


@dataclass
class Setting:
    """One model setting of the sweep: its points (splits), images and FLOPs per image."""

    label: str
    points: list[SweepPoint]
    per_split: list[int | None]  # images each point lists (None: data not available)
    union: int | None  # images the model colorizes for all of them together
    flops: float | None  # per image


def _images(loaded: LoadedSpec) -> tuple[dict, dict]:
    """Split -> the ids of its images, and split -> why its data is not available."""
    ids: dict = {}
    errors: dict = {}
    for split in dict.fromkeys(p.split for p in loaded.points):
        try:
            ids[split] = {s.id for s in build_dataset(loaded.spec.dataset, split).samples}
        except HarnessError as exc:
            errors[split] = str(exc).splitlines()[0]
    return ids, errors


def settings(loaded: LoadedSpec) -> tuple[list[Setting], dict]:
    """Every model setting with its work, and why a split's size is unknown (its data is absent)."""
    ids, errors = _images(loaded)
    out = []
    for points in by_setting(loaded.points):
        per_split = [len(ids[p.split]) if p.split in ids else None for p in points]
        known = all(p.split in ids for p in points)
        union = len(set().union(*(ids[p.split] for p in points))) if known else None
        flops = get_model_class(points[0].model).flops_per_image(points[0].params)
        out.append(Setting(points[0].setting, points, per_split, union, flops))
    return out, errors


def _work(images: int | None, flops: float | None) -> str:
    text = f"{images:,} images" if images is not None else "? images"
    if not flops:
        return text + " (no FLOP count: the model has no network)"
    total = f"{images * flops / 1e12:,.1f} TFLOP" if images is not None else "?"
    return text + f" × {flops / 1e9:,.1f} GFLOP = {total}"


def report(loaded: LoadedSpec) -> list[str]:
    """The dry run's lines: model work per point, per model setting, in total, and the saving of shared splits."""
    found, errors = settings(loaded)
    lines = ["model work (images listed × FLOPs per image):"]
    for split, error in errors.items():
        lines.append(f"  data of split {split or '(none)'} is not available here: {error}")
    for s in found:
        for point, n in zip(s.points, s.per_split):
            lines.append(f"  {point.label}: {_work(n, s.flops)}")
        if len(s.points) > 1:
            listed = sum(n for n in s.per_split if n is not None) if s.union is not None else None
            lines.append(f"  = {s.label}, its {len(s.points)} splits computed together: {_work(s.union, s.flops)}"
                         + (f" (the splits list {listed:,})" if listed is not None else ""))
    if any(s.union is None for s in found):
        lines.append("total: unknown until the data is there (see above)")
        return lines
    shared = sum(s.union for s in found)
    separate = sum(sum(s.per_split) for s in found)
    flops_shared = sum(s.union * s.flops for s in found if s.flops)
    flops_separate = sum(sum(s.per_split) * s.flops for s in found if s.flops)
    lines.append(f"total: {shared:,} images colorized, {flops_shared / 1e15:,.3f} PFLOP "
                 f"(separate runs per split: {separate:,} images, {flops_separate / 1e15:,.3f} PFLOP; "
                 f"shared splits save {1 - flops_shared / flops_separate if flops_separate else 0:.0%} of the FLOPs)")
    return lines
