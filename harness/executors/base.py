"""What every executor implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from harness.data.base import Sample
from harness.pipeline.types import Rendered, Shard, ShardResult, Work


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

    def warnings(self) -> list[str]:
        """The model's fallbacks so far (`Colorizer.warnings`): a forward batch lowered after out-of-memory ..."""

    def stop(self) -> None:
        """Release the model."""

    def close(self) -> None:
        """Release the executor's resources at the end of the sweep."""
