"""Dataset sources: bundled sample photos, a folder of photos, COCO, video clips."""

from __future__ import annotations

from pathlib import Path

from harness.data import coco, folder, samples, video
from harness.data.base import Dataset, Sample
from harness.data.sample_data import sample_kind
from harness.errors import HarnessError


def build_dataset(spec_dataset, split: str | None = None) -> Dataset:
    """The dataset (and split) a spec's `dataset` section describes."""
    source = spec_dataset.source
    if source == "samples":
        return samples.build(limit=spec_dataset.limit, seed=spec_dataset.seed)
    if source == "folder":
        return folder.build(spec_dataset.path, recursive=spec_dataset.recursive,
                            limit=spec_dataset.limit, seed=spec_dataset.seed,
                            reference=spec_dataset.ground_truth != "none")
    if source == "coco":
        return coco.build(spec_dataset, split)
    if source == "video":
        return video.build(spec_dataset)
    raise ValueError(f"unknown dataset source {source!r}")


def unavailable(spec_dataset) -> str | None:
    """Why the spec's data cannot be read here (None: it can, or it is the harness's own
    sample, written on first use); reads no image and writes nothing (for `harness validate`)."""
    try:
        if spec_dataset.source == "coco":
            images, annotations, _ = coco.choose_files(spec_dataset, write_sample=False)
            if not annotations.is_file() and sample_kind(images, annotations) is None:
                return f"COCO annotations file '{annotations}' does not exist."
        elif spec_dataset.source == "video":
            video.choose_path(spec_dataset.path, write_sample=False)
        elif spec_dataset.source == "folder" and not Path(spec_dataset.path).expanduser().is_dir():
            return f"Dataset folder '{spec_dataset.path}' does not exist."
    except HarnessError as exc:
        return str(exc)
    return None


__all__ = ["Dataset", "Sample", "build_dataset", "unavailable"]
