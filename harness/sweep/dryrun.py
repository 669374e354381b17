"""What a sweep would cost and what it lacks, before it runs (`harness run SPEC --dry-run`).

Model work is images × FLOPs per image, where the model knows its FLOPs
(`Colorizer.flops_per_image`, counted without weights or compute, and remembered in a small cache
file beside the weights, keyed by the model's code, so a second dry run takes about a second). A
model setting colorizes the union of its splits' images once (see `harness.sweep.setting`), so
the sweep's work is the sum over settings of their unions; separate runs per split would pay the
sum of the splits. Image counts are the images each split lists (those later excluded as
grayscale or unreadable are counted too: an upper bound). Each problem (data absent, weights not
cached) is said once, not once per point.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.assets import weights as official
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


def _code_digest(cls) -> str:
    """A digest of the source files of the model's family (its package, or its module)."""
    module = __import__(cls.__module__, fromlist=["_"])
    path = Path(module.__file__)
    files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def flops(point: SweepPoint) -> float | None:
    """FLOPs per image of the point's model, from the cache file when its code has not changed."""
    cls = get_model_class(point.model)
    key = json.dumps([__version__, point.model, point.resolved, _code_digest(cls)], sort_keys=True)
    cache = official.home() / "flops.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = cls.flops_per_image(point.params)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(known))
        except OSError:  # a read-only home: count again next time
            pass
    return known[key]


def settings(loaded: LoadedSpec) -> tuple[list[Setting], dict]:
    """Every model setting with its work, and why a split's size is unknown (its data is absent)."""
    ids, errors = _images(loaded)
    out = []
    for points in by_setting(loaded.points):
        per_split = [len(ids[p.split]) if p.split in ids else None for p in points]
        known = all(p.split in ids for p in points)
        union = len(set().union(*(ids[p.split] for p in points))) if known else None
        out.append(Setting(points[0].setting, points, per_split, union, flops(points[0])))
    return out, errors


def _work(images: int | None, flops: float | None) -> str:
    if not flops:
        return (f"{images:,} images " if images is not None else "") + "(no FLOP count: the model has no network)"
    per = f"{flops / 1e9:,.1f} GFLOP per image"
    return f"{images:,} images × {per} = {images * flops / 1e12:,.1f} TFLOP" if images is not None else per


def _weights_line(owner: str, item, given) -> str | None:
    """One weights file of a model or metric: given in the spec, cached, or not (and how to get it)."""
    if given is not None:
        return f"  {owner}: {given} (given in the spec)"
    if item is None:
        return None
    if official.cached_path(item).is_file():
        return f"  {owner}: {item.filename} cached"
    if not item.urls:  # published without a link a download could follow (ColorFormer's Drive folder)
        return f"  {owner}: {item.filename} not cached, and it has no download link: place it by hand at " \
               f"{official.cached_path(item)} (docs/models.md)"
    return (f"  {owner}: {item.filename} not cached: `harness run` fetches it, or `harness weights fetch {item.name}`"
            + (" (HARNESS_OFFLINE is set: it will not be fetched)" if official.offline() else ""))


def weights_lines(loaded: LoadedSpec) -> list[str]:
    """Which official weights files the sweep's models and metrics need and whether they are cached
    (nothing is fetched)."""
    lines = []
    for model in dict.fromkeys(p.model for p in loaded.points):
        point = next(p for p in loaded.points if p.model == model)
        cls = get_model_class(model)
        item = cls.variant.official_weights(point.params) if cls.variant is not None else None
        lines.append(_weights_line(model, item, getattr(point.params, "weights", None)))
    for choice in loaded.metrics:
        lines.append(_weights_line(f"metric {choice.name}", choice.metric.official_weights(choice.params),
                                   getattr(choice.params, "weights", None)))
    lines = [line for line in lines if line is not None]
    return ["weights:", *lines] if lines else []


def report(loaded: LoadedSpec) -> list[str]:
    """The dry run's lines: data and weights problems once each, model work per point and per model
    setting, the total, and the saving of shared splits."""
    found, errors = settings(loaded)
    lines = []
    for error in dict.fromkeys(errors.values()):
        splits = [str(s) for s, e in errors.items() if e == error]
        which = f"split{'s' if len(splits) > 1 else ''} {', '.join(splits)}" if splits != ["None"] else "the dataset"
        lines.append(f"data of {which} not available here: {error}")
    lines += weights_lines(loaded)
    lines.append("model work (images listed × FLOPs per image):")
    for s in found:
        if s.union is None:  # no image counts: one line per setting
            splits = f" ({len(s.points)} splits)" if len(s.points) > 1 else ""
            lines.append(f"  {s.label}{splits}: {_work(None, s.flops)}")
            continue
        for point, n in zip(s.points, s.per_split):
            lines.append(f"  {point.label}: {_work(n, s.flops)}")
        if len(s.points) > 1:
            lines.append(f"  = {s.label}, its {len(s.points)} splits computed together: {_work(s.union, s.flops)}"
                         f" (the splits list {sum(s.per_split):,})")
    if any(s.union is None for s in found):
        lines.append("total: image counts unknown until the data is there (see above)")
        return lines
    shared = sum(s.union for s in found)
    separate = sum(sum(s.per_split) for s in found)
    flops_shared = sum(s.union * s.flops for s in found if s.flops)
    flops_separate = sum(sum(s.per_split) * s.flops for s in found if s.flops)
    lines.append(f"total: {shared:,} images colorized, {flops_shared / 1e15:,.3f} PFLOP "
                 f"(separate runs per split: {separate:,} images, {flops_separate / 1e15:,.3f} PFLOP; "
                 f"shared splits save {1 - flops_shared / flops_separate if flops_separate else 0:.0%} of the FLOPs)")
    return lines
