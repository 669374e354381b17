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

    def score(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float] | Exception]:
        """Per-image columns of every pair, or the exception that stopped it."""
        rows: list[dict[str, float] | Exception] = [{} for _ in pairs]
        if self.on_device:
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
                    out[key] = np.asarray(metric.states(pairs), dtype=np.float32).reshape(len(pairs), -1)
            except Exception as exc:  # noqa: BLE001 - the metric gets no value; the run goes on
                self.stopped[metric.name] = f"{type(exc).__name__}: {exc}"
                log.warning("metric %s stopped: %s", metric.name, self.stopped[metric.name])
        return out

    def _score_on_device(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], rows: list) -> None:
        import torch

        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (gt, _) in enumerate(pairs):
            groups.setdefault(gt.shape, []).append(i)
        for index in groups.values():
            gt = torch.from_numpy(np.stack([pairs[i][0] for i in index])).to(self.device, non_blocking=True)
            out = torch.from_numpy(np.stack([pairs[i][1] for i in index])).to(self.device, non_blocking=True)
            for metric in self.on_device:
                try:
                    cols = {k: v.double().cpu().tolist() for k, v in metric.score_batch(gt, out).items()}
                except Exception as exc:  # noqa: BLE001 - scored one by one on the CPU instead
                    log.warning("batched %s failed (%s); scoring these images on the CPU", metric.name, exc)
                    first = (str(exc).splitlines() or [""])[0][:200]
                    self._warnings.append(f"metric {metric.name} failed on {self.device} for a batch "
                                          f"({type(exc).__name__}: {first}); those images were scored on the CPU")
                    for i in index:
                        if not isinstance(rows[i], Exception):
                            try:
                                rows[i].update(metric.score(*pairs[i]))
                            except Exception as one:  # noqa: BLE001
                                rows[i] = one
                    continue
                for j, i in enumerate(index):
                    if not isinstance(rows[i], Exception):
                        rows[i].update({k: float(v[j]) for k, v in cols.items()})

    def take_warnings(self) -> list[str]:
        """The fallbacks taken since the last call (one entry per occurrence)."""
        taken, self._warnings = self._warnings, []
        return taken

    def close(self) -> None:
        for metric in [*self.on_device, *self.on_cpu, *self.dataset]:
            metric.close()
