"""The local executor: every shard in this process, one model loaded once per model setting."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from harness.data.base import Sample
from harness.metrics import build_metrics
from harness.models.base import Colorizer
from harness.models.registry import get_model_class
from harness.pipeline.process import colorize_safely, process, render_samples
from harness.pipeline.scoring import PairScorer
from harness.pipeline.types import Rendered, Shard, ShardResult, Work


class LocalExecutor:
    """Runs shards one after the other on `device`; see `harness.executors`.

    `model`, when given, is a model the caller built and owns (`harness.sweep.evaluate`): it is
    used instead of building one from the work's name and parameters, and not closed by `stop`.
    """

    kind = "local"

    def __init__(self, device: str, model: Colorizer | None = None):
        self.device = device
        self.given = model
        self.work: Work | None = None
        self.model: Colorizer | None = None
        self.scorer: PairScorer | None = None

    def start(self, work: Work) -> None:
        self.work = work
        self.model = self.given or get_model_class(work.model)(work.params, device=self.device)
        self.scorer = PairScorer(build_metrics(work.metrics, self.device), work.impl, self.device)

    def run(self, shards: Sequence[Shard], done: Callable[[Shard, ShardResult], None], bar=None) -> None:
        for shard in shards:
            done(shard, process(shard.samples, self.work, self.model, self.scorer, bar))

    def render(self, samples: Sequence[Sample], ids: list[str]) -> list[Rendered]:
        return render_samples(samples, ids, self.work.reporter, self.model, self.work.degradation, self.work.seed)

    def colorize(self, grays: list) -> list:
        return colorize_safely(self.model, grays)

    def describe(self) -> dict[str, Any]:
        return self.model.describe()

    def describe_run(self) -> dict[str, Any]:
        return self.model.describe_run()

    def warnings(self) -> list[str]:
        return self.model.warnings()

    def stop(self) -> None:
        held = [self.scorer] + ([self.model] if self.given is None else [])
        for item in held:
            if item is not None:
                item.close()
        self.work = self.model = self.scorer = None

    def close(self) -> None:
        """End of the sweep: release the model and the networks cached for the next point of a setting."""
        self.stop()
        if "harness.models.engine" in sys.modules:  # only when a network was ever loaded (torch imported)
            sys.modules["harness.models.engine"].clear_cache()
