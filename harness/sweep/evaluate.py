"""One dataset through one model from Python, on the path `harness run` takes, without a tracking store.

`evaluate(dataset, model, metrics, **options)` runs the local executor with the given model,
the shards and `assemble` (`harness.sweep.setting.compute_setting`), so its numbers are the
ones a sweep point gets; nothing is journaled or logged. For notebooks and the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.config.schema import DEFAULT_SHARD_SIZE
from harness.data.base import Dataset
from harness.device import decode_workers
from harness.executors.local import LocalExecutor
from harness.metrics import MetricChoice, choices
from harness.models.base import Colorizer
from harness.pipeline.scoring import resolve_impl
from harness.pipeline.types import PointResult, Work
from harness.sweep.setting import SettingJob, compute_setting


@dataclass(frozen=True)
class Options:
    """How `evaluate` runs: the spec's settings of the same names (see docs/spec.md)."""

    label: str = ""
    batch_size: int = 8
    workers: int | None = None  # decoding threads; default: the available cores
    prefetch: int = 2
    protocol: str = "native"
    impl: str = "auto"  # metrics_impl: auto | skimage | torch
    shard_size: int = DEFAULT_SHARD_SIZE
    grid_count: int = 0
    seed: int = 0
    progress: bool = False
    degradation: tuple[str, int] | None = None  # (name, severity) done to the gray input


def evaluate(dataset: Dataset, model: Colorizer, metrics: Sequence[str | MetricChoice], **options) -> PointResult:
    """Score `model` on every image of `dataset`; `options` are `Options`' fields."""
    from tqdm.auto import tqdm

    opts = Options(**options)
    device = str(getattr(model, "device", "cpu"))
    work = Work(model.name, model.params, choices(metrics), resolve_impl(opts.impl, device), opts.protocol,
                opts.batch_size, decode_workers(opts.workers), dataset.reporter, opts.prefetch,
                degradation=opts.degradation, seed=opts.seed)
    executor = LocalExecutor(device, model=model)
    bar = tqdm(total=len(dataset), desc=opts.label or dataset.name, unit="img", disable=not opts.progress,
               leave=False)
    executor.start(work)
    try:
        job = SettingJob(work, [dataset], [opts.label], opts.shard_size, None, opts.grid_count, opts.seed, bar)
        return compute_setting(executor, job).points[0]
    finally:
        executor.stop()
        bar.close()
