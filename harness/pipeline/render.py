"""The render stage: the few images a point shows, colorized again while the model is still loaded.

After a point's rows are assembled (`harness.pipeline.assemble`), its sample grid (best,
median and worst images by PSNR, or as the dataset's reporter chooses) and the reporter's
pictures that need the model (a video run's side-by-side clips) are made here, through the
executor that holds the model, before it is released. Nothing here reduces numbers.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd

from harness.data.base import Dataset, Report
from harness.metrics import higher_is_better
from harness.pipeline.types import GridSample, PointResult, Rendered


class Renders(Protocol):
    """What the render stage needs of an executor: the loaded model, on some samples or gray images."""

    def render(self, samples: Any, ids: list[str]) -> list[Rendered]: ...

    def colorize(self, grays: list) -> list: ...


def _split(count: int) -> tuple[int, int, int]:
    """(best, median, worst) counts: thirds, the remainder going to best, then worst."""
    third, extra = divmod(count, 3)
    n_best, n_worst = third + (extra > 0), third + (extra > 1)
    return n_best, count - n_best - n_worst, n_worst


def select_grid_ids(rows: pd.DataFrame, count: int, by: str = "psnr") -> list[tuple[str, str]]:
    """`count` scored images for the grid: best, around the median and worst by `by`.

    Only rows with status "ok" and a value count. "Best" follows the metric's direction
    (lowest first for delta_e). With fewer rows than `count` every row is used once.
    Ties are broken by image_id so the choice is reproducible. Returns (image_id, tag)
    pairs ordered best, median, worst; [] when nothing qualifies or `by` is not a column.
    """
    if count <= 0 or by not in rows.columns or "status" not in rows.columns:
        return []
    values = pd.to_numeric(rows[by], errors="coerce")
    ok = rows.assign(_value=values)[(rows["status"].astype(str) == "ok") & values.notna()]
    descending = higher_is_better(by) is not False
    ranked = ok.sort_values(["_value", "image_id"], ascending=[not descending, True], kind="mergesort")
    ids = ranked["image_id"].tolist()
    n = len(ids)
    n_best, n_median, n_worst = _split(min(count, n))
    start = min(max((n - n_median) // 2, n_best), n - n_worst - n_median)  # median window, centred
    chosen = [(i, "best") for i in ids[:n_best]]
    chosen += [(i, "median") for i in ids[start:start + n_median]]
    chosen += [(i, "worst") for i in ids[n - n_worst:]]
    return chosen


def grid(table: pd.DataFrame, dataset: Dataset, count: int, model: Renders) -> list[GridSample]:
    """The sample grid's rows: the chosen images colorized again (only these few)."""
    by = "psnr" if "psnr" in table else "colorfulness" if "colorfulness" in table else None
    if count <= 0 or by is None:
        return []
    chosen = dataset.reporter.grid_ids(table, count)
    chosen = select_grid_ids(table, count, by) if chosen is None else chosen
    if not chosen:
        return []
    tags = dict(chosen)
    scores = table.set_index("image_id")
    rows = []
    for image_id, gray, out, truth in model.render(dataset.samples, [i for i, _ in chosen]):
        if isinstance(out, Exception):
            continue
        row = scores.loc[image_id]
        rows.append(GridSample(image_id=image_id, gray=gray, output=out, truth=truth, psnr=float(row.get("psnr", float("nan"))),
                               ssim=float(row.get("ssim", float("nan"))), tag=tags[image_id]))
    return rows


def render(result: PointResult, dataset: Dataset, count: int, model: Renders, batch_size: int) -> None:
    """Add to `result` its sample grid of `count` images and the reporter's pictures (none when
    `count` is 0), colorized by `model` `batch_size` at a time."""
    if count <= 0:
        return
    result.grid = grid(result.rows, dataset, count, model)
    media = dataset.reporter.render(result.rows, model.colorize, batch_size=batch_size) or Report()
    result.figures.update(media.figures)
    if media.files:
        # the mapping the reporter returned owns its files' folder (TempFiles): keep it, add the others
        media.files.update(result.files)
        result.files = media.files
