"""The local executor: every shard in this process, one model loaded once per model setting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.data.base import Sample
from harness.metrics import build_metrics
from harness.models.registry import get_model_class
from harness.results import Rendered
from harness.runner import ShardResult, colorize_safely, process, renderer
from harness.scoring import Scorer
from harness.shards import Shard


class LocalExecutor:
    """Runs shards one after the other on `device`; see `harness.executors`."""

    kind = "local"

    def __init__(self, device: str):
        self.device = device
        self.work = self.model = self.scorer = None

    def start(self, work) -> None:
        self.work = work
        self.model = get_model_class(work.model)(work.params, device=self.device)
        self.scorer = Scorer(build_metrics(work.metrics, self.device), work.impl, self.device)

    def run(self, shards: Sequence[Shard], done: Callable[[Shard, ShardResult], None], bar=None) -> None:
        w = self.work
        for shard in shards:
            done(shard, process(shard.samples, self.model, self.scorer, w.reporter, batch_size=w.batch_size,
                                workers=w.workers, protocol=w.protocol, bar=bar))

    def render(self, samples: Sequence[Sample], ids: list[str]) -> list[Rendered]:
        return renderer(samples, self.work.reporter, self.model)(ids)

    def colorize(self, grays: list) -> list:
        return colorize_safely(self.model, grays)

    def describe(self) -> dict[str, Any]:
        return self.model.describe()

    def describe_run(self) -> dict[str, Any]:
        return self.model.describe_run()

    def stop(self) -> None:
        for held in (self.model, self.scorer):
            if held is not None:
                held.close()
        self.work = self.model = self.scorer = None

    def close(self) -> None:
        self.stop()
