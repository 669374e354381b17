"""A sweep point's numbers from the rows its shards produced: table, summary, dataset metrics, timings.

`assemble` is the one place a point's numbers are computed, whether its rows come from one
pass, from shards (some replayed from the journal after a crash), from Ray workers, or from
the rows of a larger set of images shared by several splits: the per-image table is taken in
the dataset's order, statistics are computed over its "ok" rows, dataset metrics (FID) reduce
the rows of numbers of exactly those images (`Reducer`), and the dataset's reporter adds its
own. So the same images give the same numbers however the work was cut. It is a reduction
only: the pictures that need the model again are `harness.pipeline.render`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.data.base import Dataset, Reporter
from harness.errors import HarnessError
from harness.metrics import Metric, MetricChoice, build_metrics, summarize_run
from harness.pipeline.types import PointResult, ShardResult, warning_lines

BASE_COLUMNS = ["image_id", "path", "status", "width", "height", "seconds"]
EMPTY = np.zeros((0, 0), np.float32)


class Reducer:
    """The dataset metrics' run-level numbers from the rows of numbers of a set of images."""

    def __init__(self, metrics: Sequence[MetricChoice], device: str = "cpu"):
        self.metrics: list[Metric] = [m for m in build_metrics(metrics, device) if m.kind == "dataset"]

    def states(self, result: ShardResult, ids: list[str]) -> dict[str, np.ndarray]:
        """State key -> the rows of `ids` in that order. An image scored ok whose row is missing is an
        error naming it (a reduction without it would be a different number), unless the metric
        stopped, which `reduce` reports instead."""
        out = {}
        for metric in self.metrics:
            key = metric.state_key()
            if key in out or metric.name in result.stopped:
                continue
            by_id = result.states.get(key, {})
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise HarnessError(f"Dataset metric {metric.name} has no row of numbers for image '{missing[0]}' "
                                   f"({len(missing)} of {len(ids)} scored images lack one).",
                                   hint="The shards' results do not fit together; run again with --force.")
            out[key] = np.stack([by_id[i] for i in ids]) if ids else EMPTY
        return out

    def reduce(self, states: dict[str, np.ndarray], stopped: dict[str, str]) -> tuple[dict[str, float],
                                                                                       dict[str, str]]:
        """Run-level numbers and notes: why a metric has no value (NaN), or a caveat on its value."""
        summary: dict[str, float] = {}
        notes: dict[str, str] = {}
        for metric in self.metrics:
            values: dict[str, Any] = {}
            if metric.name in stopped:
                notes[metric.name] = stopped[metric.name]
            else:
                try:
                    values = metric.reduce(states.get(metric.state_key(), EMPTY))
                    if getattr(metric, "note", None):
                        notes[metric.name] = metric.note
                except Exception as exc:  # noqa: BLE001 - NaN with the reason; the run completes
                    notes[metric.name] = f"{type(exc).__name__}: {exc}"
            summary.update({c: float(values.get(c, float("nan"))) for c in metric.columns})
        return summary, notes


def assemble(dataset: Dataset, result: ShardResult, chosen: Sequence[MetricChoice], *, label: str = "",
             seed: int = 0, device: str = "cpu") -> PointResult:
    """The point's result over `dataset`'s images from `result` (holding at least their rows; rows of
    other images are ignored), see the module docstring. Reductions that have a device form (KID's
    kernels) run on `device`."""
    wanted = {s.id for s in dataset.samples}
    reporter = dataset.reporter
    table = _table([r for r in result.rows if r["image_id"] in wanted], dataset, reporter)
    ok = table.loc[table["status"] == "ok", "image_id"].tolist()
    reducer = Reducer(chosen, device)
    dataset_scores, notes = reducer.reduce(reducer.states(result, ok), result.stopped)
    metric_columns = [c for c in table.columns
                      if c not in BASE_COLUMNS + ["error", *reporter.columns, *reporter.detail_columns]]
    summary = {**summarize_run(table, chosen, seed=seed), **dataset_scores}
    report = reporter.report(table, seed=seed)
    summary.update(report.summary)
    return PointResult(label=label, rows=table, summary=summary, timings=finish_timings(result.timings, table),
                       metric_columns=metric_columns, tables=report.tables, figures=dict(report.figures),
                       files=report.files, notes=notes, warnings=warning_lines(result.warnings),
                       thumbs={i: t for i, t in result.thumbs.items() if i in wanted})


def _table(rows: list[dict[str, Any]], dataset: Dataset, reporter: Reporter) -> pd.DataFrame:
    """The per-image table in dataset order, identity and status columns first."""
    order = {s.id: i for i, s in enumerate(dataset.samples)}
    front = BASE_COLUMNS + ["error", *reporter.columns]
    if not rows:
        return pd.DataFrame(columns=front)
    table = pd.DataFrame(rows).sort_values("image_id", key=lambda c: c.map(order)).reset_index(drop=True)
    return table[front + [c for c in table.columns if c not in front]]


def finish_timings(seconds: dict[str, float], table: pd.DataFrame) -> dict[str, float]:
    """Stage seconds as measured, each stage's share of the total, and images/s."""
    timings = dict(seconds)
    total = timings.get("seconds_total", 0.0)
    for key in [k for k in timings if k.startswith("seconds_") and k != "seconds_total"]:
        timings[f"share_{key[len('seconds_'):]}"] = timings[key] / total if total else 0.0
    scored = int((table["status"] == "ok").sum()) if "status" in table else 0
    timings["images_per_second"] = scored / total if total > 0 else 0.0
    return timings
