"""Colorize and score a list of samples: load -> gray -> colorize (batched) -> score.

Knows nothing of MLflow or the CLI. `process` runs the streaming pipeline over some samples
(a shard of a sweep point, or all of them) with a built model and returns a `ShardResult`:
the per-image rows, the dataset metrics' per-image rows of numbers, and stage timings.
`harness.results.assemble` turns the results of a point's shards into its `PointResult`;
`evaluate` does both for one dataset in one call. Decoding, the model and scoring overlap
(threads), so the model is not kept waiting on PIL or scikit-image. A bad image never stops
the run: it becomes a `failed:<reason>` row; a grayscale ground truth becomes an
`excluded:grayscale` row. Only the images of the batches in flight are in memory. What a
dataset adds beyond the metrics comes from its `Reporter`, whatever the source.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.data.base import Dataset, Reporter, Sample
from harness.data.images import is_grayscale, to_gray
from harness.errors import HarnessError, ImageError
from harness.metrics import MIN_SIDE, MetricChoice, build_metrics, choices, protocols
from harness.models.base import Colorizer
from harness.results import PointResult, Rendered, assemble
from harness.scoring import Scorer

STAGES = ("seconds_decode", "seconds_wait_data", "seconds_colorize", "seconds_score")


@dataclass
class ShardResult:
    """What processing some samples produced; results of several shards `merge` into one."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    #: dataset metrics' rows: state key -> image id -> 1-D float32 array (scored images only)
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: seconds per stage (decode, wait_data, colorize, score, the model's own stages, total)
    timings: dict[str, float] = field(default_factory=dict)
    model_images: int = 0  # images the model colorized
    stopped: dict[str, str] = field(default_factory=dict)  # dataset metric -> why it stopped

    @classmethod
    def merge(cls, parts: Sequence[ShardResult]) -> ShardResult:
        merged = cls()
        for part in parts:
            merged.rows.extend(part.rows)
            for key, by_id in part.states.items():
                merged.states.setdefault(key, {}).update(by_id)
            for key, value in part.timings.items():  # seconds add up; a peak is the largest one
                combine = max if key.startswith("peak_") else float.__add__
                merged.timings[key] = combine(float(merged.timings.get(key, 0.0)), float(value))
            merged.model_images += part.model_images
            merged.stopped.update(part.stopped)
        return merged


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


def load(sample: Sample, reporter: Reporter) -> _Item | dict[str, Any]:
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
           protocol: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, np.ndarray]], float]:
    """Rows of a colorized batch (the metrics' columns on the images as `protocol` scores them, the
    reporter's extra scores at native resolution, or the failure) and the dataset metrics' rows
    of the images scored ok."""
    start = time.perf_counter()
    pairs = {id(i): (protocols.apply(protocol, i.gt), protocols.apply(protocol, o))
             for i, o in zip(items, outs) if not isinstance(o, ImageError)}
    scores = iter(scorer.score(list(pairs.values())))
    rows, ok = [], []
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
                ok.append(item)
            except Exception as exc:  # noqa: BLE001 - recorded, never fatal
                row.update(status="failed:score", error=f"{type(exc).__name__}: {exc}")
        row["seconds"] = item.seconds + share + (time.perf_counter() - t0)
        rows.append(row)
    arrays = scorer.states([pairs[id(i)] for i in ok])
    states = {key: {i.sample.id: a for i, a in zip(ok, array)} for key, array in arrays.items()}
    return rows, states, time.perf_counter() - start


def process(samples: Sequence[Sample], model: Colorizer, scorer: Scorer, reporter: Reporter, *,
            batch_size: int = 8, workers: int = 2, prefetch: int = 2, protocol: str = "native",
            bar=None) -> ShardResult:
    """Colorize and score `samples` in order; see the module docstring.

    `batch_size` images go to the model per call (one forward pass for a network); metrics
    score the images as the evaluation `protocol` says (`harness.metrics.protocols`).
    Decoding runs in `workers` threads up to `prefetch` batches ahead, and a batch is
    scored in a background thread while the next one is colorized, so at most
    prefetch + 2 batches are in memory whatever the number of samples.
    """
    result = ShardResult(timings={k: 0.0 for k in STAGES})
    timings = result.timings
    before = dict(model.stage_seconds())
    chunks = list(_chunks(samples, batch_size))
    wall = time.perf_counter()

    def collect(future) -> None:
        rows, states, seconds = future.result()
        result.rows.extend(rows)
        for key, by_id in states.items():
            result.states.setdefault(key, {}).update(by_id)
        timings["seconds_score"] += seconds

    with ThreadPoolExecutor(max(workers, 1), thread_name_prefix="decode") as loader, \
            ThreadPoolExecutor(1, thread_name_prefix="score") as scoring:
        try:
            queued: deque = deque(loader.map(lambda s: load(s, reporter), chunk) for chunk in chunks[:prefetch])
            pending = None
            for index, chunk in enumerate(chunks):
                t0 = time.perf_counter()
                loaded = list(queued.popleft())
                if index + prefetch < len(chunks):
                    queued.append(loader.map(lambda s: load(s, reporter), chunks[index + prefetch]))
                t1 = time.perf_counter()
                items = [x for x in loaded if isinstance(x, _Item)]
                result.rows.extend(x for x in loaded if not isinstance(x, _Item))
                outs = colorize_safely(model, [it.gray for it in items]) if items else []
                result.model_images += len(items)
                t2 = time.perf_counter()
                if pending is not None:
                    collect(pending)
                pending = scoring.submit(_score, scorer, reporter, items, outs, (t2 - t1) / max(len(items), 1),
                                         protocol)
                timings["seconds_decode"] += sum(it.seconds for it in items)
                timings["seconds_wait_data"] += t1 - t0
                timings["seconds_colorize"] += t2 - t1
                if bar is not None:
                    bar.update(len(chunk))
            if pending is not None:
                collect(pending)
        except BaseException:
            loader.shutdown(wait=False, cancel_futures=True)
            scoring.shutdown(wait=False, cancel_futures=True)
            raise
    for stage, seconds in model.stage_seconds().items():  # inside seconds_colorize
        timings[f"seconds_{stage}"] = seconds - before.get(stage, 0.0)
    timings["seconds_total"] = time.perf_counter() - wall
    if str(getattr(model, "device", "cpu")).startswith("cuda"):
        import torch

        if torch.cuda.is_available():  # a model may claim CUDA without using torch there
            timings["peak_device_memory_mb"] = torch.cuda.max_memory_allocated(model.device) / 2**20
    result.stopped = dict(scorer.stopped)
    return result


def renderer(samples: Sequence[Sample], reporter: Reporter, model: Colorizer):
    """A function colorizing a few samples again by id (for the sample grid)."""

    def render(ids: list[str]) -> list[Rendered]:
        index = {s.id: s for s in samples}
        items = [x for x in (load(index[i], reporter) for i in ids if i in index) if isinstance(x, _Item)]
        outs = colorize_safely(model, [it.gray for it in items]) if items else []
        return [(it.sample.id, it.gray, out, it.gt) for it, out in zip(items, outs)]

    return render


def evaluate(dataset: Dataset, model: Colorizer, metrics: Sequence[str | MetricChoice], *, label: str = "",
             batch_size: int = 8, grid_count: int = 0, seed: int = 0, progress: bool = False,
             impl: str = "skimage", workers: int = 2, prefetch: int = 2, protocol: str = "native") -> PointResult:
    """Score `model` on every image of `dataset` in one pass (`process`, then `assemble`)."""
    from tqdm.auto import tqdm

    chosen = choices(metrics)
    device = getattr(model, "device", "cpu")
    scorer = Scorer(build_metrics(chosen, device), impl, device)
    bar = tqdm(total=len(dataset), desc=label or dataset.name, unit="img", disable=not progress, leave=False)
    try:
        shard = process(dataset.samples, model, scorer, dataset.reporter, batch_size=batch_size, workers=workers,
                        prefetch=prefetch, protocol=protocol, bar=bar)
        return assemble(dataset, shard, scorer, chosen, label=label, seed=seed, grid_count=grid_count,
                        render=renderer(dataset.samples, dataset.reporter, model),
                        colorize=lambda grays: colorize_safely(model, grays), batch_size=batch_size)
    finally:
        scorer.close()
        bar.close()
