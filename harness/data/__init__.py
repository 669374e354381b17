"""Dataset sources: bundled sample photos, a folder of photos, COCO, video clips."""

from __future__ import annotations

from harness.data import coco, folder, samples, video
from harness.data.base import Dataset, Sample


def build_dataset(spec_dataset, split: str | None = None) -> Dataset:
    """The dataset (and split) a spec's `dataset` section describes."""
    source = spec_dataset.source
    if source == "samples":
        return samples.build(limit=spec_dataset.limit, seed=spec_dataset.seed)
    if source == "folder":
        return folder.build(spec_dataset.path, recursive=spec_dataset.recursive,
                            limit=spec_dataset.limit, seed=spec_dataset.seed)
    if source == "coco":
        return coco.build(spec_dataset, split)
    if source == "video":
        return video.build(spec_dataset)
    raise ValueError(f"unknown dataset source {source!r}")


__all__ = ["Dataset", "Sample", "build_dataset"]
