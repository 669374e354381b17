"""What every executor implements, and the work it is handed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from harness.data.base import Reporter, Sample
from harness.metrics import MetricChoice
from harness.results import Rendered
from harness.runner import ShardResult
from harness.shards import Shard


@dataclass
class Work:
    """What one model setting computes: the model, the metrics and how they run."""

    model: str
    params: BaseModel
    metrics: list[MetricChoice]
    impl: str  # metrics implementation: skimage | torch
    protocol: str
    batch_size: int
    workers: int  # decoding threads
    reporter: Reporter


class Executor(Protocol):
    """Runs the shards of one `Work` at a time (`start` ... `stop`), for a whole sweep (`close`)."""

    kind: str  # "local" | "ray" (logged)
    device: str  # where the models run (part of the run key)

    def start(self, work: Work) -> None:
        """Load the model (raises `HarnessError` when it cannot start)."""

    def run(self, shards: Sequence[Shard], done: Callable[[Shard, ShardResult], None], bar=None) -> None:
        """Compute every shard; call `done` once per shard, in this process, as each finishes."""

    def render(self, samples: Sequence[Sample], ids: list[str]) -> list[Rendered]:
        """Colorize a few samples again (the sample grid)."""

    def colorize(self, grays: list) -> list:
        """Colorize gray images (a reporter's pictures): outputs, or `ImageError`s for those that failed."""

    def describe(self) -> dict[str, Any]:
        """The model's facts before the run (run params)."""

    def describe_run(self) -> dict[str, Any]:
        """The model's facts after the run (the forward batch actually used ...)."""

    def stop(self) -> None:
        """Release the model."""

    def close(self) -> None:
        """Release the executor's resources at the end of the sweep."""
