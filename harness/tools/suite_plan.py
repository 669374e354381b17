"""What `harness bench --suite gpu` measures, at which sizes and budgets, and what a step is given."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

#: seconds a part may run past its step's budget before the hard limit interrupts it
GRACE_S = 15.0


@dataclass(frozen=True)
class Plan:
    """What the suite measures and how long each step may take (seconds)."""

    model: str = "deoldify-artistic"
    render_factors: tuple[int, ...] = (10, 21, 35)
    precisions: tuple[str, ...] = ("fp32", "bf16")
    upstream_images: int = 32
    upstream_batch: int = 16
    peak_render_factor: int = 35
    peak_batches: tuple[int, ...] = (1, 4, 8, 16, 24, 32)
    peak_passes: int = 2  # forward passes per timed round at each batch size
    e2e_images: int = 256
    e2e_size: tuple[int, int] = (640, 480)  # width, height of the end-to-end run's photos (COCO-like)
    e2e_render_factor: int = 35
    e2e_batch: int = 16
    matmul_size: int = 8192
    rounds: int = 2
    budgets: dict[str, float] = field(default_factory=lambda: {
        "environment": 20.0, "vs_upstream": 150.0, "model_only": 90.0, "end_to_end": 120.0})

    def hard_limit(self) -> float:
        return sum(self.budgets.values()) + GRACE_S * len(self.budgets)


GPU = Plan()
#: the same steps at sizes a CPU runs in about a minute (the tests' plan)
TINY = Plan(render_factors=(2,), precisions=("fp32",), upstream_images=2, upstream_batch=2, peak_render_factor=2,
            peak_batches=(1, 2), peak_passes=1, e2e_images=4, e2e_size=(64, 48), e2e_render_factor=2, e2e_batch=2,
            matmul_size=128, rounds=1, budgets={"environment": 30.0, "vs_upstream": 300.0, "model_only": 120.0,
                                                "end_to_end": 200.0})


@dataclass
class StepContext:
    """What a step gets: where and what to measure, its budget, and the parts it has recorded."""

    device: str
    plan: Plan
    workdir: Path
    budget: float
    earlier: list[dict[str, Any]]  # the entries of the steps before this one
    shared: dict[str, Any]  # what steps hand on (the weights file ...)
    parts: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def each(self, items, what: str = "parts"):
        """Yield `items` while the budget allows: the first always; another only when the longest part so
        far still fits in what is left. Stopping early is recorded in `stopped`."""
        items, longest = list(items), 0.0
        for i, item in enumerate(items):
            if i and self.elapsed() + longest > self.budget:
                self.stopped = (f"stopped at its budget ({self.budget:.0f} s) after {i} of {len(items)} {what}; "
                                f"not measured: {', '.join(map(str, items[i:]))}")
                return
            start = time.perf_counter()
            yield item
            longest = max(longest, time.perf_counter() - start)

    def measure(self, key: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Record `key` with the figures `fn()` returns, or with its error (the step goes on)."""
        start = time.perf_counter()
        try:
            part = {**key, **fn()}
        except Exception as exc:  # noqa: BLE001 - recorded, never fatal
            part = {**key, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
        part["seconds"] = round(time.perf_counter() - start, 2)
        self.parts.append(part)
        return part


@dataclass(frozen=True)
class Step:
    name: str
    what: Callable[[Plan], str]  # one line: what the step measures at the plan's sizes
    run: Callable[[StepContext], dict[str, Any]]  # the step's figures; its parts go through the context
