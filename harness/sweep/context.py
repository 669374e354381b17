"""What every point of one `harness run` shares, and what happened to each point."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.data.base import Dataset
from harness.executors import Executor
from harness.sweep.points import LoadedSpec, SweepPoint
from harness.sweep.preflight import Ready
from harness.tracking.client import Tracker


@dataclass
class PointOutcome:
    point: SweepPoint
    status: str  # "done" | "reused" | "failed"
    run_id: str | None = None
    message: str = ""
    summary: dict[str, float] = field(default_factory=dict)
    reported: bool = False  # the message was already printed in full (at preflight)
    without: list[str] = field(default_factory=list)  # metrics left out: their weights are missing


@dataclass
class Outcome:
    parent_run_id: str | None
    points: list[PointOutcome]
    tracking_uri: str

    @property
    def exit_code(self) -> int:
        """0 when every point is done or reused with every metric, 1 when any failed or lacks a metric."""
        return 1 if any(p.status == "failed" or p.without for p in self.points) else 0


@dataclass
class SweepContext:
    """What every point of one `harness run` shares: the spec, the executor, the store, the data,
    and the readiness of every model's and metric's weights."""

    loaded: LoadedSpec
    executor: Executor
    impl: str
    tracker: Tracker
    parent: str
    datasets: dict[str | None, Dataset]
    models: dict[tuple, Ready]  # (model, weights param) -> readiness
    metrics: dict[str, Ready]  # metric name -> readiness of its weights
    force: bool = False
    progress: bool = True
    model_images: int = 0  # images the models colorized in this sweep

    @property
    def device(self) -> str:
        return self.executor.device

    @property
    def seed(self) -> int:
        return getattr(self.loaded.spec.dataset, "seed", 0)

    @property
    def report_ids(self) -> frozenset[str]:
        """The images whose thumbnails every point keeps for the report: one choice for the whole sweep."""
        from harness.data.base import union
        from harness.pipeline.thumbs import choose

        return choose([s.id for s in union(list(self.datasets.values())).samples], self.loaded.spec.report.images,
                      self.seed)

    @property
    def usable_metrics(self) -> list:
        """The chosen metrics whose weights are there (the others are left out and reported)."""
        return [m for m in self.loaded.metrics if self.metrics[m.name].error is None]

    @property
    def missing_metrics(self) -> list[str]:
        return [m.name for m in self.loaded.metrics if self.metrics[m.name].error is not None]
