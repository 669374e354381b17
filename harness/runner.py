"""Evaluate one sweep point: load -> gray -> colorize (batched) -> score -> aggregate.

Knows nothing of MLflow or the CLI: it takes a dataset and a built model and returns a
`PointResult`. Decoding, the model and scoring overlap (threads), so the model is not kept
waiting on PIL or scikit-image. A bad image never stops the run: it becomes a
`failed:<reason>` row; a grayscale ground truth becomes an `excluded:grayscale` row. Only
the images of the batch in flight are in memory. What a dataset adds beyond the metrics
comes from its `Reporter`, whatever the source.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.data.base import Dataset, Report, Reporter, Sample
from harness.data.images import is_grayscale, to_gray
from harness.errors import HarnessError, ImageError
from harness.metrics import MIN_SIDE, MetricChoice, build_metrics, choices, protocols, summarize_run
from harness.models.base import Colorizer
from harness.scoring import Scorer
from harness.visuals import GridSample, select_grid_ids

BASE_COLUMNS = ["image_id", "path", "status", "width", "height", "seconds"]


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
    notes: dict[str, str] = field(default_factory=dict)  # metric name -> why it has no value


@dataclass
class _Item:
    sample: Sample
    gt: np.ndarray
    gray: np.ndarray
    seconds: float


def _chunks(samples: Sequence[Sample], size: int) -> Iterator[Sequence[Sample]]:
    for start in range(0, len(samples), size):
        yield samples[start:start + size]


def _check_output(out: Any, gray: np.ndarray) -> np.ndarray:
    arr = np.asarray(out)
    if arr.shape != gray.shape + (3,) or arr.dtype != np.uint8:
        raise ImageError("bad_output", f"model returned {arr.dtype} {arr.shape}, expected uint8 {gray.shape + (3,)}")
    return arr


def colorize_safely(model: Colorizer, grays: list[np.ndarray]) -> list[np.ndarray | ImageError]:
    """Colorize a batch; if the batch fails, retry image by image so one bad image fails alone.

    `HarnessError` (a configuration problem such as missing weights) and interrupts propagate.
    """
    try:
        outs = model.colorize(grays)
        if len(outs) != len(grays):
            raise RuntimeError(f"model returned {len(outs)} images for {len(grays)}")
        return [_check_output(o, g) for o, g in zip(outs, grays)]
    except (HarnessError, KeyboardInterrupt):
        raise
    except Exception as batch_exc:
        if len(grays) == 1:
            if isinstance(batch_exc, ImageError):
                return [batch_exc]
            return [ImageError("colorize", f"{type(batch_exc).__name__}: {batch_exc}")]
        return [colorize_safely(model, [g])[0] for g in grays]


def _row(sample: Sample, reporter: Reporter, **values: Any) -> dict[str, Any]:
    return {"image_id": sample.id, "path": sample.path, **reporter.describe(sample), **values}


def _load(sample: Sample, reporter: Reporter) -> _Item | dict[str, Any]:
    """Decode one sample and derive its gray input; a row dict when it cannot be scored."""
    start = time.perf_counter()
    try:
        gt = sample.load()
    except ImageError as exc:
        return _row(sample, reporter, width=None, height=None, status=f"failed:{exc.reason}", error=exc.detail,
                    seconds=time.perf_counter() - start)
    h, w = gt.shape[:2]
    if min(h, w) < MIN_SIDE:
        return _row(sample, reporter, width=w, height=h, status="failed:too_small",
                    error=f"image is {w}x{h} px; scoring needs at least {MIN_SIDE} px on each side "
                          f"(SSIM's {MIN_SIDE}x{MIN_SIDE} window)", seconds=time.perf_counter() - start)
    if is_grayscale(gt):
        return _row(sample, reporter, width=w, height=h, status="excluded:grayscale", error="",
                    seconds=time.perf_counter() - start)
    return _Item(sample, gt, to_gray(gt), time.perf_counter() - start)


def _score(scorer: Scorer, reporter: Reporter, items: list[_Item], outs: list, share: float,
           protocol: str = "native") -> tuple[list[dict[str, Any]], float]:
    """Rows of a colorized batch: the metrics' columns (on the images as `protocol` scores them),
    the reporter's extra scores (native resolution), or the failure."""
    start = time.perf_counter()
    good = [(i, o) for i, o in zip(items, outs) if not isinstance(o, ImageError)]
    scores = iter(scorer.score([(protocols.apply(protocol, i.gt), protocols.apply(protocol, o)) for i, o in good]))
    rows = []
    for item, out in zip(items, outs):
        t0 = time.perf_counter()
        row = _row(item.sample, reporter, width=item.gt.shape[1], height=item.gt.shape[0])
        if isinstance(out, ImageError):
            row.update(status=f"failed:{out.reason}", error=out.detail)
        else:
            values = next(scores)
            try:
                if isinstance(values, Exception):
                    raise values
                row.update(values, status="ok", error="")
                row.update(reporter.score(item.sample, item.gt, out))
            except Exception as exc:  # noqa: BLE001 - recorded, never fatal
                row.update(status="failed:score", error=f"{type(exc).__name__}: {exc}")
        row["seconds"] = item.seconds + share + (time.perf_counter() - t0)
        rows.append(row)
    return rows, time.perf_counter() - start


def evaluate(dataset: Dataset, model: Colorizer, metrics: Sequence[str | MetricChoice], *, label: str = "",
             batch_size: int = 8, grid_count: int = 0, seed: int = 0, progress: bool = False,
             impl: str = "skimage", workers: int = 2, prefetch: int = 2, protocol: str = "native") -> PointResult:
    """Score `model` on every image of `dataset`; see the module docstring.

    `batch_size` images go to the model per call (one forward pass for a network); metrics
    score the images as the evaluation `protocol` says (`harness.metrics.protocols`).
    Decoding runs in `workers` threads up to `prefetch` batches ahead, and a batch is
    scored in a background thread while the next one is colorized, so at most
    prefetch + 2 batches are in memory whatever the dataset size.
    """
    from tqdm.auto import tqdm

    chosen = choices(metrics)
    device = getattr(model, "device", "cpu")
    scorer = Scorer(build_metrics(chosen, device), impl, device)
    reporter = dataset.reporter
    rows: list[dict[str, Any]] = []
    timings = {"seconds_decode": 0.0, "seconds_wait_data": 0.0, "seconds_colorize": 0.0, "seconds_score": 0.0}
    chunks = list(_chunks(dataset.samples, batch_size))
    wall = time.perf_counter()
    bar = tqdm(total=len(dataset), desc=label or dataset.name, unit="img", disable=not progress, leave=False)
    load = lambda s: _load(s, reporter)  # noqa: E731
    try:
        with ThreadPoolExecutor(max(workers, 1), thread_name_prefix="decode") as loader, \
                ThreadPoolExecutor(1, thread_name_prefix="score") as scoring:
            try:
                queued: deque = deque(loader.map(load, chunk) for chunk in chunks[:prefetch])
                pending = None
                for index, chunk in enumerate(chunks):
                    t0 = time.perf_counter()
                    loaded = list(queued.popleft())
                    if index + prefetch < len(chunks):
                        queued.append(loader.map(load, chunks[index + prefetch]))
                    t1 = time.perf_counter()
                    items = [x for x in loaded if isinstance(x, _Item)]
                    rows.extend(x for x in loaded if not isinstance(x, _Item))
                    outs = colorize_safely(model, [it.gray for it in items]) if items else []
                    t2 = time.perf_counter()
                    if pending is not None:
                        _collect(pending, rows, timings)
                    pending = scoring.submit(_score, scorer, reporter, items, outs, (t2 - t1) / max(len(items), 1),
                                             protocol)
                    timings["seconds_decode"] += sum(it.seconds for it in items)
                    timings["seconds_wait_data"] += t1 - t0
                    timings["seconds_colorize"] += t2 - t1
                    bar.update(len(chunk))
                if pending is not None:
                    _collect(pending, rows, timings)
            except BaseException:
                loader.shutdown(wait=False, cancel_futures=True)
                scoring.shutdown(wait=False, cancel_futures=True)
                raise
        dataset_scores = scorer.finish()
    finally:
        scorer.close()
        bar.close()
    table = _table(rows, dataset, reporter)
    metric_columns = [c for c in table.columns
                      if c not in BASE_COLUMNS + ["error", *reporter.columns, *reporter.detail_columns]]
    _finish_timings(timings, model, table, wall)
    summary = {**summarize_run(table, chosen, seed=seed), **dataset_scores}
    report = reporter.report(table, seed=seed)
    summary.update(report.summary)
    grid = _grid(dataset, model, table, grid_count) if grid_count else []
    media = reporter.render(table, lambda grays: colorize_safely(model, grays), batch_size=batch_size) \
        if grid_count else Report()
    media.files.update(report.files)  # the mapping `render` returned owns its files' folder (TempFiles)
    return PointResult(label=label, rows=table, summary=summary, timings=timings, metric_columns=metric_columns,
                       grid=grid, tables=report.tables, figures={**report.figures, **media.figures},
                       files=media.files, notes=dict(scorer.notes))


def _table(rows: list[dict[str, Any]], dataset: Dataset, reporter: Reporter) -> pd.DataFrame:
    """The per-image table in dataset order, identity and status columns first."""
    order = {s.id: i for i, s in enumerate(dataset.samples)}
    table = pd.DataFrame(rows).sort_values("image_id", key=lambda c: c.map(order)).reset_index(drop=True)
    front = BASE_COLUMNS + ["error", *reporter.columns]
    return table[front + [c for c in table.columns if c not in front]]


def _finish_timings(timings: dict[str, float], model: Colorizer, table: pd.DataFrame, wall: float) -> None:
    """Total wall time, the model's own stage clocks, each stage's share, images/s, peak GPU memory."""
    total = timings["seconds_total"] = time.perf_counter() - wall
    for stage, seconds in model.stage_seconds().items():  # inside seconds_colorize
        timings[f"seconds_{stage}"] = seconds
    for key in [k for k in timings if k.startswith("seconds_") and k != "seconds_total"]:
        timings[f"share_{key[len('seconds_'):]}"] = timings[key] / total if total else 0.0
    device = getattr(model, "device", "cpu")
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():  # a model may claim CUDA without using torch there
            timings["peak_device_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    scored = int((table["status"] == "ok").sum())
    timings["images_per_second"] = scored / total if total > 0 else 0.0


def _collect(future, rows: list[dict[str, Any]], timings: dict[str, float]) -> None:
    scored, seconds = future.result()
    rows.extend(scored)
    timings["seconds_score"] += seconds


def _grid(dataset: Dataset, model: Colorizer, table: pd.DataFrame, count: int) -> list[GridSample]:
    """Best, median and worst images by PSNR, colorized again (only these few) for the grid."""
    if "psnr" not in table:
        return []
    chosen = dataset.reporter.grid_ids(table, count)
    chosen = select_grid_ids(table, count) if chosen is None else chosen
    if not chosen:
        return []
    tags = dict(chosen)
    scores = table.set_index("image_id")
    loaded = [_load(s, dataset.reporter) for s in dataset.by_id([i for i, _ in chosen])]
    items = [it for it in loaded if isinstance(it, _Item)]
    outs = colorize_safely(model, [it.gray for it in items])
    grid = []
    for item, out in zip(items, outs):
        if isinstance(out, ImageError):
            continue
        row = scores.loc[item.sample.id]
        grid.append(GridSample(image_id=item.sample.id, gray=item.gray, output=out, truth=item.gt,
                               psnr=float(row["psnr"]), ssim=float(row.get("ssim", float("nan"))),
                               tag=tags[item.sample.id]))
    return grid
