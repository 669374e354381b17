"""What a spec may say: the schema of every section, as pydantic models whose unknown keys are errors.

The dataset section is one model per source, chosen by `source`; a model entry takes the
model's own parameters beside `name` (validated against that model's `Params` when the sweep
is expanded, `harness.sweep.points`), and a metric entry its options likewise. Reading a file
into a `Spec`, with errors naming the line, is `harness.config.load`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from harness.config.params import Strict


class _Sampling(Strict):
    limit: int | None = Field(None, ge=1, description="Evaluate a deterministic sample of this many images.")
    seed: int = Field(0, description="Seed of the sample drawn when `limit` is set.")


class SamplesData(_Sampling):
    """The natural colour photos that ship inside scikit-image (no download)."""

    source: Literal["samples"]


class FolderData(_Sampling):
    """A directory of colour photos; relative paths are taken from the working directory.

    `ground_truth: none`: the files are scans with no colour original (gray or toned); the models get
    their luma and only reference-free metrics may be asked for."""

    source: Literal["folder"]
    path: Path
    recursive: bool = True
    ground_truth: Literal["color", "none"] = Field(
        "color", description="`color`: the files are the colour truth; `none`: scans without one (reference-free).")


class CocoSplit(Strict):
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
    path: Path | list[Path] = Field(description="A clip, or a folder of clips or frame folders; or a list of "
                                                "candidates in order of preference (the first that exists is used).")
    max_frames: int | None = Field(None, ge=1, description="Evaluate at most this many frames of each clip.")
    stride: int = Field(1, ge=1, description="Evaluate every stride-th frame (frame 0, stride, 2*stride, ...).")
    preview_frames: int = Field(90, ge=0, description="Frames in the side-by-side videos of the best and worst "
                                                      "clips (colorized again for them); 0: no videos.")


DatasetSpec = Annotated[Union[SamplesData, FolderData, CocoData, VideoData], Field(discriminator="source")]
#: source name -> its model
SOURCES = {"samples": SamplesData, "folder": FolderData, "coco": CocoData, "video": VideoData}


DEFAULT_METRICS = ["psnr", "ssim", "colorfulness", "delta_e"]
DEFAULT_SHARD_SIZE = 256  # images per shard: a few minutes of work on a CPU, seconds on a GPU


class GridSpec(Strict):
    count: int = Field(6, ge=0, le=60, description="Images shown in the sample grid (best, median, worst by PSNR).")


class ReportSpec(Strict):
    """The sweep's comparison report (`report.html`): which images its gallery shows."""

    images: int = Field(200, ge=0, le=5000, description="Images in the report's gallery: all when there are at "
                                                        "most this many, else a seeded sample (0: no gallery). Their "
                                                        "thumbnails are kept as the points run, ~10 KB each.")


class ExecutorSpec(Strict):
    """Where the shards of a sweep point run: this process (`local`) or Ray workers (`ray`)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="Ray cluster to join (else RAY_ADDRESS, else a local Ray).")
    workers: int | None = Field(None, ge=1, description="Ray workers (default: one per GPU, else one per "
                                                         "cpus_per_worker CPUs).")
    gpus_per_worker: float | None = Field(None, ge=0, description="GPUs per Ray worker (default: 1 when the "
                                                                   "cluster has GPUs and device is not cpu, else 0).")
    cpus_per_worker: float = Field(1, gt=0, description="CPUs per Ray worker (its torch threads on the CPU).")


class DegradationEntry(Strict):
    """A degradation of the model's gray input and its severities (each a sweep point); a bare name
    in `degradations` takes all five. The catalogue is `harness.data.degrade` (docs/spec.md)."""

    name: str
    severity: int | list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5],
                                      description="Severities 1..5 (a list is a sweep axis).")

    @property
    def severities(self) -> list[int]:
        return self.severity if isinstance(self.severity, list) else [self.severity]


class ModelEntry(BaseModel):
    """`name` plus the model's own parameters; a list value is a sweep axis."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MetricEntry(BaseModel):
    """A metric with options: `{name: lpips, net: vgg}` (a bare name takes the defaults)."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Spec(Strict):
    name: str = Field(min_length=1, description="MLflow experiment name.")
    dataset: DatasetSpec
    models: list[ModelEntry] = Field(min_length=1)
    metrics: list[str | MetricEntry] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)
    grids: GridSpec = Field(default_factory=GridSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    batch_size: int = Field(8, ge=1, le=4096, description="Images per model call: one forward pass of a network.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    metrics_impl: Literal["auto", "skimage", "torch"] = Field(
        "auto", description="Scoring implementation: torch on the model's device, or the scikit-image reference.")
    protocol: Literal["native", "resize256", "center_crop256"] = Field(
        "native", description="Resolution every metric scores at: native, or a paper's 256x256 protocol.")
    workers: int | None = Field(None, ge=0, le=64, description="Threads decoding images ahead of the model "
                                                                "(default: the CPU cores this process may use).")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="Images per shard: the unit of work that is "
                                                                  "journaled, resumed and handed to a worker.")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    degradations: list[str | DegradationEntry] = Field(
        default_factory=lambda: ["none"], min_length=1,
        description="Damage done to the model's gray input, a sweep axis: `none` (the clean input) and "
                    "{name, severity} entries; the ground truth stays clean.")

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, value: list[str | MetricEntry]) -> list[str | MetricEntry]:
        names = [m if isinstance(m, str) else m.name for m in value]
        if len(set(names)) != len(names):
            raise ValueError("metrics are listed more than once")
        return value


