"""Before any work: every model's and metric's weights resolved once, and what cannot run said once.

A sweep point whose model cannot start (missing weights, say) fails fast with the reason
while the other points run; a metric whose weights are missing is left out of every point
(with one full message) while the other metrics run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.assets.weights import file_sha256
from harness.console import say
from harness.errors import HarnessError
from harness.models.registry import get_model_class
from harness.sweep.points import LoadedSpec, SweepPoint


@dataclass
class Ready:
    """Whether something with weights can run: the sha256 of its weights (None without), or why not."""

    sha256: str | None = None
    error: str | None = None


def _ready(what: str, check: Callable[[], Path | None], tag: str = "failed") -> Ready:
    try:
        weights = check()
    except HarnessError as exc:
        say(f"[{tag}] {what}: {exc}")
        return Ready(error=str(exc))
    return Ready(sha256=file_sha256(Path(weights)) if weights is not None else None)


def model_key(point: SweepPoint) -> tuple:
    """Points with the same key share their weights (model and `weights` parameter)."""
    return point.model, str(getattr(point.params, "weights", None))


def preflight_models(points: list[SweepPoint]) -> dict[tuple, Ready]:
    """Resolve (fetching where allowed) the weights of every model before any work starts.

    Each distinct model and weights setting is resolved once, so an unreachable download
    is tried once per model, not once per sweep point, and a point that cannot run is
    known before the others spend their time.
    """
    ready: dict[tuple, Ready] = {}
    for point in points:
        if model_key(point) not in ready:
            cls = get_model_class(point.model)
            ready[model_key(point)] = _ready(point.model, lambda: cls.preflight(point.params))
    return ready


def preflight_metrics(loaded: LoadedSpec) -> dict[str, Ready]:
    """The weights of every chosen metric, resolved once for the sweep. A metric whose weights
    are missing is left out of every point (said once, in full, here); the others still run."""
    return {c.name: _ready(f"metric {c.name} (left out of every point)", lambda: c.metric.preflight(c.params),
                           "missing") for c in loaded.metrics}
