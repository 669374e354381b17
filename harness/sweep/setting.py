"""One model setting's points computed together: the one composition of the pipeline.

The points of a model setting differ only by split, so the model colorizes the union of their
images once, in shards (journaled as they finish when a journal is given, so a killed run
resumes inside the work), and each point is assembled from those shared rows. Then, while the
model is still loaded, each point's pictures are rendered. `harness run` (`experiment`) and
`evaluate` both go through `compute_setting`, so what the tests prove is what users get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.data.base import Dataset, union
from harness.executors import Executor
from harness.pipeline.assemble import assemble
from harness.pipeline.render import render
from harness.pipeline.types import PointResult, Work
from harness.sweep.shards import Computed, Journal, compute


@dataclass
class SettingJob:
    """What to compute for one model setting: its work, the dataset of each of its points, and how."""

    work: Work
    datasets: list[Dataset]  # one per point (split), in the points' order
    labels: list[str]
    shard_size: int
    journal: Journal | None = None  # None: nothing persisted (a one-off `evaluate`)
    grid_count: int = 0  # images in each point's sample grid (0: no grid, no previews)
    seed: int = 0
    bar: Any = None  # a progress bar counting images


@dataclass
class SettingResult:
    points: list[PointResult]
    computed: Computed
    images: int  # images of the union the points share
    described_run: dict[str, Any] = field(default_factory=dict)  # the model's facts after the run


def compute_setting(executor: Executor, job: SettingJob) -> SettingResult:
    """Compute, assemble and render the job's points on `executor` (started on `job.work`); the
    executor is left started for the caller to stop."""
    images = union(job.datasets)
    computed = compute(executor, images.samples, job.shard_size, job.journal, job.bar)
    points = []
    for i, (dataset, label) in enumerate(zip(job.datasets, job.labels)):
        result = assemble(dataset, computed.result, job.work.metrics, label=label, seed=job.seed,
                          device=executor.device)
        first = i == 0  # the shared model work is counted on the first split's run
        result.timings.update(n_model_images=computed.result.model_images if first else 0,
                              n_model_images_resumed=computed.resumed_images if first else 0,
                              n_shared_images=len(images), n_shards=computed.shards,
                              n_shards_resumed=computed.resumed, seconds_wall=computed.seconds_wall)
        points.append(result)
    for result, dataset in zip(points, job.datasets):  # the render stage, while the model is loaded
        render(result, dataset, job.grid_count, executor, job.work.batch_size)
    model_warnings = executor.warnings()
    for result in points:
        result.warnings.extend(model_warnings)
    return SettingResult(points, computed, len(images), executor.describe_run())
