"""The `dataset` section of a spec: one pydantic model per source, chosen by `source`.

Kept apart from `spec.py` (the rest of the schema and the sweep expansion) so each stays
small; `harness.spec` re-exports these names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Sampling(_Strict):
    limit: int | None = Field(None, ge=1, description="Evaluate a deterministic sample of this many images.")
    seed: int = Field(0, description="Seed of the sample drawn when `limit` is set.")


class SamplesData(_Sampling):
    """The natural colour photos that ship inside scikit-image (no download)."""

    source: Literal["samples"]


class FolderData(_Sampling):
    """A directory of colour photos; relative paths are taken from the working directory."""

    source: Literal["folder"]
    path: Path
    recursive: bool = True


class CocoSplit(_Strict):
    """Which COCO images form a split: the union of the named groups (all images when empty)."""

    supercategories: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    min_instances: int | None = Field(None, ge=0)
    image_ids: list[int] = Field(default_factory=list)


class CocoData(_Sampling):
    """COCO images with their instances annotations; each split is a sweep axis value.

    `images` and `annotations` may each list candidates in order of preference, paired by
    position: the first pair whose folder and file exist is used (and logged), so one spec runs
    on COCO val2017 where it is present and on a sample elsewhere.
    """

    source: Literal["coco"]
    images: Path | list[Path]
    annotations: Path | list[Path]
    splits: dict[str, CocoSplit] = Field(default_factory=lambda: {"all": CocoSplit()})

    @field_validator("annotations")
    @classmethod
    def _paired_with_images(cls, value: Path | list[Path], info: ValidationInfo) -> Path | list[Path]:
        lengths = [len(v) if isinstance(v, list) else None for v in (info.data.get("images", value), value)]
        if lengths[0] != lengths[1] or lengths[0] == 0:
            raise ValueError("images and annotations must be one path each, or non-empty lists of candidates of "
                             "the same length, paired by position (the first pair that exists is used)")
        return value


class VideoData(_Sampling):
    """Video clips (files or DAVIS-style frame folders); every evaluated frame is a sample. `limit` counts clips."""

    source: Literal["video"]
    path: Path
    max_frames: int | None = Field(None, ge=1, description="Evaluate at most this many frames of each clip.")
    stride: int = Field(1, ge=1, description="Evaluate every stride-th frame (frame 0, stride, 2*stride, ...).")
    preview_frames: int = Field(90, ge=0, description="Frames in the side-by-side videos of the best and worst "
                                                      "clips (colorized again for them); 0: no videos.")


DatasetSpec = Annotated[Union[SamplesData, FolderData, CocoData, VideoData], Field(discriminator="source")]
#: source name -> its model
SOURCES = {"samples": SamplesData, "folder": FolderData, "coco": CocoData, "video": VideoData}
