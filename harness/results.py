"""A sweep point's results from the rows its shards produced: table, summary, timings, grid.

`assemble` is the one place a point's numbers are computed, whether its rows come from one
pass (`runner.evaluate`), from shards (some replayed from the journal after a crash), from
Ray workers, or from the rows of a larger set of images shared by several splits: the
per-image table is taken in the dataset's order, statistics are computed over its "ok" rows,
dataset metrics (FID) reduce the rows of numbers of exactly those images, and the dataset's
reporter adds its own. So the same images give the same numbers however the work was cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.data.base import Dataset, Report, Reporter
from harness.metrics import MetricChoice, summarize_run
from harness.visuals import GridSample, select_grid_ids

BASE_COLUMNS = ["image_id", "path", "status", "width", "height", "seconds"]

#: (image id, gray input, output or an exception, ground truth) of the few images a grid shows
Rendered = tuple[str, np.ndarray, Any, np.ndarray]


@dataclass
class PointResult:
    """Everything measured for one sweep point."""

    label: str
    rows: pd.DataFrame
    summary: dict[str, float]
    timings: dict[str, float]
    metric_columns: list[str]
    grid: list[GridSample] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # extra artifacts from the dataset's reporter
    figures: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)  # artifact path -> local file (video previews)
    notes: dict[str, str] = field(default_factory=dict)  # metric name -> why it has no value, or a caveat


def assemble(dataset: Dataset, shard, scorer, chosen: Sequence[MetricChoice], *, label: str = "", seed: int = 0,
             grid_count: int = 0, render: Callable[[list[str]], list[Rendered]] | None = None,
             colorize: Callable[[list[np.ndarray]], list] | None = None, batch_size: int = 8) -> PointResult:
    """The point's result over `dataset`'s images from `shard` (a `runner.ShardResult` holding at
    least their rows; rows of other images are ignored), see the module docstring. With a
    `grid_count`, `render` colorizes the grid's samples again and `colorize` (gray images in,
    outputs or `ImageError`s out) serves the reporter's pictures (video previews)."""
    wanted = {s.id for s in dataset.samples}
    table = _table([r for r in shard.rows if r["image_id"] in wanted], dataset, dataset.reporter)
    ok = table.loc[table["status"] == "ok", "image_id"].tolist()
    states = {key: np.stack([by_id[i] for i in ok]) if ok and all(i in by_id for i in ok)
              else np.zeros((0, 0), np.float32) for key, by_id in shard.states.items()}
    dataset_scores, notes = scorer.dataset_summary(states, shard.stopped)
    reporter = dataset.reporter
    metric_columns = [c for c in table.columns
                      if c not in BASE_COLUMNS + ["error", *reporter.columns, *reporter.detail_columns]]
    summary = {**summarize_run(table, chosen, seed=seed), **dataset_scores}
    report = reporter.report(table, seed=seed)
    summary.update(report.summary)
    grid = _grid(table, reporter, grid_count, render) if grid_count and render is not None else []
    media = reporter.render(table, colorize, batch_size=batch_size) if grid_count and colorize else Report()
    media.files.update(report.files)  # the mapping `render` returned owns its files' folder (TempFiles)
    return PointResult(label=label, rows=table, summary=summary, timings=finish_timings(shard.timings, table),
                       metric_columns=metric_columns, grid=grid, tables=report.tables,
                       figures={**report.figures, **media.figures}, files=media.files, notes=notes)


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


def _grid(table: pd.DataFrame, reporter: Reporter, count: int,
          render: Callable[[list[str]], list[Rendered]]) -> list[GridSample]:
    """Best, median and worst images by PSNR (or as the reporter chooses), colorized again (only
    these few) for the grid."""
    if "psnr" not in table:
        return []
    chosen = reporter.grid_ids(table, count)
    chosen = select_grid_ids(table, count) if chosen is None else chosen
    if not chosen:
        return []
    tags = dict(chosen)
    scores = table.set_index("image_id")
    grid = []
    for image_id, gray, out, truth in render([i for i, _ in chosen]):
        if isinstance(out, Exception):
            continue
        row = scores.loc[image_id]
        grid.append(GridSample(image_id=image_id, gray=gray, output=out, truth=truth, psnr=float(row["psnr"]),
                               ssim=float(row.get("ssim", float("nan"))), tag=tags[image_id]))
    return grid
