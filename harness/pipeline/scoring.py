"""Scoring colorized batches: every chosen metric, each where it runs best.

Image metrics with a batched form score same-size images together on the model's device
when the run scores with torch (`metrics_impl`); every other image metric scores each
image on the CPU with its reference form, on its own, so one metric without a device form
does not send the others back to the CPU. Dataset metrics (FID) turn each scored pair into
a row of numbers once, batch by batch (metrics sharing a `state_key` share the work); the
rows of a set of images are reduced later, by `assemble`. A pair that cannot be scored is a
`failed:score` row with the reason; it never stops the run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np

from harness.metrics import Metric

log = logging.getLogger(__name__)


def resolve_impl(choice: str, device: str) -> str:
    """'auto' scores with torch where the model runs on a GPU, with scikit-image on the CPU."""
    if choice == "auto":
        return "torch" if device.startswith("cuda") else "skimage"
    return choice


def _to_device(batch: np.ndarray, device: str):
    """A host batch on `device`: through pinned memory on CUDA (the copy is asynchronous, on the current
    stream; PyTorch's caching host allocator reuses the pinned buffers batch after batch)."""
    import torch

    host = torch.from_numpy(batch)
    if device.startswith("cuda"):
        host = host.pin_memory()
    return host.to(device, non_blocking=True)


class PairScorer:
    """Scores (ground truth, output) pairs with built metrics, and turns them into the dataset metrics'
    rows; see the module docstring. Reducing those rows is `harness.pipeline.assemble.Reducer`'s job."""

    def __init__(self, metrics: Sequence[Metric], impl: str, device: str):
        self.impl, self.device = impl, device
        image = [m for m in metrics if m.kind == "image"]
        self.on_device = [m for m in image if impl == "torch" and m.has_device_form()]
        self.on_cpu = [m for m in image if m not in self.on_device]
        self.dataset = [m for m in metrics if m.kind == "dataset"]
        self.stopped: dict[str, str] = {}  # dataset metric name -> why it stopped (it gets no value)
        self._warnings: list[str] = []  # fallbacks since the last `take_warnings`
        self._stream = None  # the scoring thread's own CUDA stream, made on first use

    def _on_own_stream(self):
        """Where device work of the scoring thread is queued: on CUDA its own stream, so a small copy or
        kernel does not wait behind the model's pass on the default stream; elsewhere nothing changes."""
        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        import torch

        if self._stream is None:
            self._stream = torch.cuda.Stream(device=self.device)
        return torch.cuda.stream(self._stream)

    def score(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float] | Exception]:
        """Per-image columns of every pair, or the exception that stopped it."""
        rows: list[dict[str, float] | Exception] = [{} for _ in pairs]
        if self.on_device:
            with self._on_own_stream():
                self._score_on_device(pairs, rows)
        for i, (gt, out) in enumerate(pairs):
            if isinstance(rows[i], Exception):
                continue
            try:
                for metric in self.on_cpu:
                    rows[i].update(metric.score(gt, out))
            except Exception as exc:  # noqa: BLE001 - recorded as failed:score, never fatal
                rows[i] = exc
        return rows

    def states(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """The dataset metrics' rows of these (scored) pairs: state key -> N x D array, each key once.
        A metric that cannot compute them stops for the rest of the run (NaN, with its reason)."""
        out: dict[str, np.ndarray] = {}
        if not pairs:
            return out
        for metric in self.dataset:
            if metric.name in self.stopped:
                continue
            try:
                key = metric.state_key()
                if key not in out:
                    with self._on_own_stream():
                        out[key] = np.asarray(metric.states(pairs), dtype=np.float32).reshape(len(pairs), -1)
            except Exception as exc:  # noqa: BLE001 - the metric gets no value; the run goes on
                self.stopped[metric.name] = f"{type(exc).__name__}: {exc}"
                log.warning("metric %s stopped: %s", metric.name, self.stopped[metric.name])
        return out

    def _score_on_device(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], rows: list) -> None:
        """Batched forms on the device, same-size images together; one copy back per group (the rows
        need the values on the host), so the device is not synchronised once per metric."""
        import torch

        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (gt, _) in enumerate(pairs):
            groups.setdefault(gt.shape, []).append(i)
        for index in groups.values():
            gt, out = (_to_device(np.stack([pairs[i][k] for i in index]), self.device) for k in (0, 1))
            columns: dict[str, object] = {}
            for metric in self.on_device:
                try:
                    columns.update(metric.score_batch(gt, out))
                except Exception as exc:  # noqa: BLE001 - scored one by one on the CPU instead
                    self._fall_back(metric, exc, [(i, pairs[i]) for i in index], rows)
            if not columns:
                continue
            values = torch.stack([v.double().reshape(-1) for v in columns.values()]).cpu().numpy()
            for j, i in enumerate(index):
                if not isinstance(rows[i], Exception):
                    rows[i].update({k: float(values[c, j]) for c, k in enumerate(columns)})

    def _fall_back(self, metric: Metric, exc: Exception, pairs: list, rows: list) -> None:
        """Score `pairs` ((row index, pair)) with the metric's CPU form after its batched form failed; said."""
        log.warning("batched %s failed (%s); scoring these images on the CPU", metric.name, exc)
        first = (str(exc).splitlines() or [""])[0][:200]
        self._warnings.append(f"metric {metric.name} failed on {self.device} for a batch "
                              f"({type(exc).__name__}: {first}); those images were scored on the CPU")
        for i, pair in pairs:
            if not isinstance(rows[i], Exception):
                try:
                    rows[i].update(metric.score(*pair))
                except Exception as one:  # noqa: BLE001
                    rows[i] = one

    def take_warnings(self) -> list[str]:
        """The fallbacks taken since the last call (one entry per occurrence)."""
        taken, self._warnings = self._warnings, []
        return taken

    def close(self) -> None:
        for metric in [*self.on_device, *self.on_cpu, *self.dataset]:
            metric.close()
