"""Evaluate one sweep point: load -> gray -> colorize (batched) -> score -> aggregate.

Knows nothing of MLflow or the CLI: it takes a dataset and a built model and returns a
`PointResult`. Decoding, the model and scoring overlap (threads), so the model is not kept
waiting on PIL or scikit-image. A bad image never stops the run: it becomes a `failed:<reason>` row; a
grayscale ground truth becomes an `excluded:grayscale` row. Only the images of the batch
in flight are in memory.
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

from harness.data.base import Dataset, Sample
from harness.data.images import is_grayscale, to_gray
from harness.errors import HarnessError, ImageError
from harness.models.base import Colorizer

BASE_COLUMNS = ["image_id", "path", "status", "width", "height", "seconds"]


@dataclass
class PointResult:
    """Everything measured for one sweep point."""

    label: str
    rows: pd.DataFrame
    summary: dict[str, float]
    timings: dict[str, float]
    metric_columns: list[str]
    grid: list[Any] = field(default_factory=list)
    by_category: pd.DataFrame | None = None  # COCO: per-supercategory aggregates


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


def _identity(sample: Sample) -> dict[str, Any]:
    row: dict[str, Any] = {"image_id": sample.id, "path": sample.path}
    if "supercategories" in sample.meta:
        row["supercategories"] = ";".join(sample.meta["supercategories"])
    return row


def _load(sample: Sample) -> _Item | dict[str, Any]:
    """Decode one sample and derive its gray input; a row dict when it cannot be scored."""
    start = time.perf_counter()
    row: dict[str, Any] = {**_identity(sample), "width": None, "height": None}
    try:
        gt = sample.load()
    except ImageError as exc:
        return {**row, "status": f"failed:{exc.reason}", "error": exc.detail, "seconds": time.perf_counter() - start}
    row.update(width=gt.shape[1], height=gt.shape[0])
    if is_grayscale(gt):
        return {**row, "status": "excluded:grayscale", "error": "", "seconds": time.perf_counter() - start}
    return _Item(sample, gt, to_gray(gt), time.perf_counter() - start)


class _Scorer:
    """Scores a colorized batch: scikit-image on the CPU, or the torch versions on `device`."""

    def __init__(self, metrics: Sequence[str], dataset: Dataset, impl: str, device: str):
        self.metrics, self.dataset, self.impl, self.device = list(metrics), dataset, impl, device

    def __call__(self, items: list[_Item], outs: list, share: float) -> tuple[list[dict[str, Any]], float]:
        start = time.perf_counter()
        ok = [(it, o) for it, o in zip(items, outs) if not isinstance(o, ImageError)]
        batch_scores = self._torch_scores(ok) if self.impl == "torch" else {}
        rows = []
        for item, out in zip(items, outs):
            t0 = time.perf_counter()
            row: dict[str, Any] = {**_identity(item.sample), "width": item.gt.shape[1], "height": item.gt.shape[0]}
            if isinstance(out, ImageError):
                row.update(status=f"failed:{out.reason}", error=out.detail)
            else:
                try:
                    row.update(batch_scores.get(item.sample.id) or self._cpu_scores(item, out), status="ok", error="")
                    if self.dataset.scorer is not None:
                        row.update(self.dataset.scorer(item.sample, item.gt, out))
                except Exception as exc:  # noqa: BLE001 - recorded, never fatal
                    row.update(status="failed:score", error=f"{type(exc).__name__}: {exc}")
            row["seconds"] = item.seconds + share + (time.perf_counter() - t0)
            rows.append(row)
        return rows, time.perf_counter() - start

    def _cpu_scores(self, item: _Item, out: np.ndarray) -> dict[str, float]:
        from harness.metrics import score_image

        return score_image(item.gt, out, self.metrics)

    def _torch_scores(self, pairs: list[tuple[_Item, np.ndarray]]) -> dict[str, dict[str, float]]:
        """Same-size images scored together on the device; anything unsupported falls back to the CPU."""
        import torch

        import harness.metrics_torch as mt

        if not set(self.metrics) <= set(mt.SUPPORTED):
            return {}
        groups: dict[tuple[int, ...], list[tuple[_Item, np.ndarray]]] = {}
        for item, out in pairs:
            if min(item.gt.shape[:2]) >= 7:
                groups.setdefault(item.gt.shape, []).append((item, out))
        scores: dict[str, dict[str, float]] = {}
        for group in groups.values():
            gt = torch.from_numpy(np.stack([it.gt for it, _ in group])).to(self.device, non_blocking=True)
            out = torch.from_numpy(np.stack([o for _, o in group])).to(self.device, non_blocking=True)
            cols = {k: v.cpu().tolist() for k, v in mt.score_batch(gt, out, self.metrics).items()}
            for i, (item, _) in enumerate(group):
                scores[item.sample.id] = {k: float(v[i]) for k, v in cols.items()}
        return scores


def metrics_impl(choice: str, device: str) -> str:
    """'auto' scores with torch where the model runs on a GPU, with scikit-image on the CPU."""
    if choice == "auto":
        return "torch" if device.startswith("cuda") else "skimage"
    return choice


def evaluate(dataset: Dataset, model: Colorizer, metrics: Sequence[str], *, label: str = "",
             batch_size: int = 8, grid_count: int = 0, seed: int = 0, progress: bool = False,
             impl: str = "skimage", workers: int = 2, prefetch: int = 2) -> PointResult:
    """Score `model` on every image of `dataset`; see the module docstring.

    Decoding runs in `workers` threads up to `prefetch` batches ahead, and a batch is
    scored in a background thread while the next one is colorized, so at most
    prefetch + 2 batches are in memory whatever the dataset size.
    """
    from tqdm.auto import tqdm

    from harness.metrics import summarize_run

    rows: list[dict[str, Any]] = []
    timings = {"seconds_decode": 0.0, "seconds_wait_data": 0.0, "seconds_colorize": 0.0, "seconds_score": 0.0}
    scorer = _Scorer(metrics, dataset, impl, getattr(model, "device", "cpu"))
    chunks = list(_chunks(dataset.samples, batch_size))
    wall = time.perf_counter()
    bar = tqdm(total=len(dataset), desc=label or dataset.name, unit="img", disable=not progress, leave=False)
    with ThreadPoolExecutor(max(workers, 1), thread_name_prefix="decode") as loader, \
            ThreadPoolExecutor(1, thread_name_prefix="score") as scoring:
        try:
            queued: deque = deque(loader.map(_load, chunk) for chunk in chunks[:prefetch])
            pending = None
            for index, chunk in enumerate(chunks):
                t0 = time.perf_counter()
                loaded = list(queued.popleft())
                if index + prefetch < len(chunks):
                    queued.append(loader.map(_load, chunks[index + prefetch]))
                t1 = time.perf_counter()
                items = [x for x in loaded if isinstance(x, _Item)]
                rows.extend(x for x in loaded if not isinstance(x, _Item))
                outs = colorize_safely(model, [it.gray for it in items]) if items else []
                t2 = time.perf_counter()
                if pending is not None:
                    _collect(pending, rows, timings)
                pending = scoring.submit(scorer, items, outs, (t2 - t1) / max(len(items), 1))
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
    bar.close()
    order = {s.id: i for i, s in enumerate(dataset.samples)}
    table = pd.DataFrame(rows).sort_values("image_id", key=lambda c: c.map(order)).reset_index(drop=True)
    front = BASE_COLUMNS + ["error"] + (["supercategories"] if "supercategories" in table else [])
    table = table[front + [c for c in table.columns if c not in front]]
    metric_columns = [c for c in table.columns if c not in front]
    timings["seconds_total"] = time.perf_counter() - wall
    for stage, seconds in model.stage_seconds().items():  # inside seconds_colorize
        timings[f"seconds_{stage}"] = seconds
    for key in [k for k in timings if k.startswith("seconds_") and k != "seconds_total"]:
        timings[f"share_{key[len('seconds_'):]}"] = timings[key] / timings["seconds_total"] if timings["seconds_total"] else 0.0
    device = getattr(model, "device", "cpu")
    if str(device).startswith("cuda"):
        import torch

        timings["peak_device_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    scored = int((table["status"] == "ok").sum())
    timings["images_per_second"] = scored / timings["seconds_total"] if timings["seconds_total"] > 0 else 0.0
    summary = summarize_run(table, metrics, seed=seed)
    breakdown = None
    if "supercategories" in table:
        from harness.regions import by_category, category_metrics

        breakdown = by_category(table, seed=seed)
        summary.update(category_metrics(breakdown))
    grid = _grid(dataset, model, table, grid_count) if grid_count else []
    return PointResult(label=label, rows=table, summary=summary, timings=timings,
                       metric_columns=metric_columns, grid=grid, by_category=breakdown)


def _collect(future, rows: list[dict[str, Any]], timings: dict[str, float]) -> None:
    scored, seconds = future.result()
    rows.extend(scored)
    timings["seconds_score"] += seconds


def _grid(dataset: Dataset, model: Colorizer, table: pd.DataFrame, count: int) -> list[Any]:
    """Best, median and worst images by PSNR, colorized again (only these few) for the grid."""
    from harness.visuals import GridSample, select_grid_ids

    if "psnr" not in table:
        return []
    chosen = select_grid_ids(table, count)
    if not chosen:
        return []
    tags = dict(chosen)
    scores = table.set_index("image_id")
    items = [it for s in dataset.by_id([i for i, _ in chosen]) if isinstance(it := _load(s), _Item)]
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
