"""Colorize and score some samples with a loaded model: load -> gray -> colorize (batched) -> score.

`process` runs the streaming pipeline over the samples of a shard and returns a `ShardResult`:
the per-image rows, the dataset metrics' per-image rows of numbers, and stage timings.
Decoding, the model and scoring overlap (threads), so the model is not kept waiting on PIL or
scikit-image. A bad image never stops the run: it becomes a `failed:<reason>` row; a grayscale
ground truth becomes an `excluded:grayscale` row. Only the images of the batches in flight are
in memory. What a dataset adds beyond the metrics comes from its `Reporter`, whatever the source.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.console import say
from harness.data.base import Reporter, Sample
from harness.data.degrade import degrade
from harness.data.images import is_grayscale
from harness.errors import HarnessError, ImageError
from harness.gray import to_gray
from harness.metrics import MIN_SIDE, protocols
from harness.models.base import Colorizer
from harness.pipeline import thumbs
from harness.pipeline.scoring import PairScorer
from harness.pipeline.types import Rendered, ShardResult, Work

STAGES = ("seconds_decode", "seconds_wait_data", "seconds_colorize", "seconds_score")


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


def _say_warning(message: str) -> None:
    say(f"warning: {message}")


def colorize_safely(model: Colorizer, grays: list[np.ndarray],
                    warn: Callable[[str], None] | None = None) -> list[np.ndarray | ImageError]:
    """Colorize a batch; if the batch fails, retry image by image so one bad image fails alone, and
    tell `warn` so (the retry is slower and changes the forward batch: never silent; without a `warn`
    the warning goes to the terminal).

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
        first = (str(batch_exc).splitlines() or [""])[0][:200]
        (warn or _say_warning)(f"the model failed on a batch of {len(grays)} images ({type(batch_exc).__name__}: "
                               f"{first}); they were colorized one at a time")
        return [colorize_safely(model, [g])[0] for g in grays]


def _row(sample: Sample, reporter: Reporter, **values: Any) -> dict[str, Any]:
    return {"image_id": sample.id, "path": sample.path, **reporter.describe(sample), **values}


def load(sample: Sample, reporter: Reporter, device: str = "cpu", degradation: tuple[str, int] | None = None,
         seed: int = 0) -> _Item | dict[str, Any]:
    """Decode one sample and derive its gray input, degraded by `degradation` (name, severity) when given
    (the ground truth stays clean); a row dict when it cannot be scored. The grayscale check runs on
    `device` (the model's). It runs in the decoding threads: a degradation depends only on (image id,
    degradation, severity, seed), so the thread order changes nothing."""
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
    if sample.reference and is_grayscale(gt, device):  # a scan without a colour original is gray by design
        return _row(sample, reporter, width=w, height=h, status="excluded:grayscale", error="",
                    seconds=time.perf_counter() - start)
    gray = to_gray(gt)
    if degradation is not None:
        gray = degrade(gray, sample.id, degradation[0], degradation[1], seed)
    return _Item(sample, gt, gray, time.perf_counter() - start)


def _thumbs(work: Work, items: list[_Item], outs: list) -> dict[str, dict[str, bytes]]:
    """The report's thumbnails of the batch's images that `work.keep` names (the outputs scored)."""
    kept = {}
    for item, out in zip(items, outs):
        if item.sample.id in work.keep:
            kept[item.sample.id] = {"gray": thumbs.encode(item.gray), "truth": thumbs.encode(item.gt),
                                    **({} if isinstance(out, ImageError) else {"output": thumbs.encode(np.asarray(out))})}
    return kept


def _score(scorer: PairScorer, work: Work, items: list[_Item], outs: list, share: float,
           ) -> tuple[list[dict[str, Any]], dict[str, dict[str, np.ndarray]], float, dict[str, dict[str, bytes]]]:
    """Rows of a colorized batch (the metrics' columns on the images as the work's protocol scores
    them, the reporter's extra scores at native resolution, or the failure), the dataset metrics'
    rows of the images scored ok, the seconds it took and the report's thumbnails."""
    start = time.perf_counter()
    reporter = work.reporter
    pairs = {id(i): (protocols.apply(work.protocol, i.gt), protocols.apply(work.protocol, o))
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
    kept = _thumbs(work, items, outs) if work.keep else {}
    return rows, states, time.perf_counter() - start, kept


def _device_memory(model: Colorizer, reset: bool) -> float | None:
    """Peak device memory (MiB) since the last reset, on a model that runs on CUDA; `reset` starts a new
    peak, so each shard (and so each point) reports its own, not the largest of the whole process."""
    if not str(getattr(model, "device", "cpu")).startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():  # a model may claim CUDA without using torch there
        return None
    if reset:
        torch.cuda.reset_peak_memory_stats(model.device)
        return None
    return torch.cuda.max_memory_allocated(model.device) / 2**20


def process(samples: Sequence[Sample], work: Work, model: Colorizer, scorer: PairScorer, bar=None) -> ShardResult:
    """Colorize and score `samples` in order; see the module docstring.

    `work.batch_size` images go to the model per call (one forward pass for a network); metrics
    score the images as `work.protocol` says. Decoding runs in `work.workers` threads up to
    `work.prefetch` batches ahead, and a batch is scored in a background thread while the next
    one is colorized, so at most prefetch + 2 batches are in memory whatever the number of samples.
    """
    result = ShardResult(timings={k: 0.0 for k in STAGES})
    timings, reporter, prefetch = result.timings, work.reporter, work.prefetch
    device = str(getattr(model, "device", "cpu"))
    before = dict(model.stage_seconds())
    _device_memory(model, reset=True)
    chunks = list(_chunks(samples, work.batch_size))
    wall = time.perf_counter()

    def warn(message: str) -> None:
        result.warnings[message] = result.warnings.get(message, 0) + 1

    def collect(future) -> None:
        rows, states, seconds, kept = future.result()
        result.rows.extend(rows)
        result.thumbs.update(kept)
        for key, by_id in states.items():
            result.states.setdefault(key, {}).update(by_id)
        timings["seconds_score"] += seconds

    with ThreadPoolExecutor(max(work.workers, 1), thread_name_prefix="decode") as loader, \
            ThreadPoolExecutor(1, thread_name_prefix="score") as scoring:
        try:
            queued: deque = deque(loader.map(lambda s: load(s, reporter, device, work.degradation, work.seed), chunk) for chunk in chunks[:prefetch])
            pending = None
            for index, chunk in enumerate(chunks):
                t0 = time.perf_counter()
                loaded = list(queued.popleft())
                if index + prefetch < len(chunks):
                    queued.append(loader.map(lambda s: load(s, reporter, device, work.degradation, work.seed), chunks[index + prefetch]))
                t1 = time.perf_counter()
                items = [x for x in loaded if isinstance(x, _Item)]
                result.rows.extend(x for x in loaded if not isinstance(x, _Item))
                result.thumbs.update({x["image_id"]: {} for x in loaded  # in the report with its reason
                                      if not isinstance(x, _Item) and x["image_id"] in work.keep})
                outs = colorize_safely(model, [it.gray for it in items], warn) if items else []
                result.model_images += len(items)
                t2 = time.perf_counter()
                if pending is not None:
                    collect(pending)
                pending = scoring.submit(_score, scorer, work, items, outs, (t2 - t1) / max(len(items), 1))
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
    peak = _device_memory(model, reset=False)
    if peak is not None:
        timings["peak_device_memory_mb"] = peak
    result.stopped = dict(scorer.stopped)
    for message in scorer.take_warnings():
        warn(message)
    return result


def render_samples(samples: Sequence[Sample], ids: list[str], reporter: Reporter, model: Colorizer,
                   degradation: tuple[str, int] | None = None, seed: int = 0) -> list[Rendered]:
    """The samples named by `ids` decoded (degraded as the work's were) and colorized again (the few a
    sample grid shows)."""
    index = {s.id: s for s in samples}
    device = str(getattr(model, "device", "cpu"))
    items = [x for x in (load(index[i], reporter, device, degradation, seed) for i in ids if i in index)
             if isinstance(x, _Item)]
    outs = colorize_safely(model, [it.gray for it in items]) if items else []
    return [(it.sample.id, it.gray, out, it.gt) for it, out in zip(items, outs)]
