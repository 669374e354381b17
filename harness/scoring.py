"""Scoring colorized batches: every chosen metric, each where it runs best.

Image metrics with a batched form score same-size images together on the model's device
when the run scores with torch (`metrics_impl`); every other image metric scores each
image on the CPU with its reference form, on its own, so one metric without a device form
does not send the others back to the CPU. Dataset metrics (FID) see each scored pair once,
batch by batch, and give their numbers at the end. A pair that cannot be scored is a
`failed:score` row with the reason; it never stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.metrics import Metric

log = logging.getLogger(__name__)


def resolve_impl(choice: str, device: str) -> str:
    """'auto' scores with torch where the model runs on a GPU, with scikit-image on the CPU."""
    if choice == "auto":
        return "torch" if device.startswith("cuda") else "skimage"
    return choice


class Scorer:
    """Scores (ground truth, output) pairs with built metrics; see the module docstring."""

    def __init__(self, metrics: Sequence[Metric], impl: str, device: str):
        self.impl, self.device = impl, device
        image = [m for m in metrics if m.kind == "image"]
        self.on_device = [m for m in image if impl == "torch" and m.has_device_form()]
        self.on_cpu = [m for m in image if m not in self.on_device]
        self.dataset = [m for m in metrics if m.kind == "dataset"]
        self.notes: dict[str, str] = {}  # metric name -> why it has no value, or a caveat on its value
        self.failed: set[str] = set()  # dataset metrics that stopped

    def score(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float] | Exception]:
        """Per-image columns of every pair (or the exception that stopped it), then dataset updates."""
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
        scored = [pair for pair, row in zip(pairs, rows) if not isinstance(row, Exception)]
        if scored:
            self._update_dataset_metrics(scored)
        return rows

    def _update_dataset_metrics(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Each dataset metric sees the batch once; metrics in one feature space share one extraction."""
        features: dict[Any, tuple] = {}
        for metric in self.dataset:
            if metric.name in self.failed:
                continue
            try:
                key = metric.feature_key()
                if key is None:
                    metric.update(pairs)
                    continue
                if key not in features:
                    features[key] = (metric.extract([g for g, _ in pairs]), metric.extract([o for _, o in pairs]))
                metric.update_features(*features[key])
            except Exception as exc:  # noqa: BLE001 - the metric gets no value; the run goes on
                self.failed.add(metric.name)
                self.notes[metric.name] = f"{type(exc).__name__}: {exc}"
                log.warning("metric %s stopped: %s", metric.name, self.notes[metric.name])

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

    def finish(self) -> dict[str, float]:
        """Run-level numbers of the dataset metrics (NaN, with a note, for one that could not finish)."""
        summary: dict[str, float] = {}
        for metric in self.dataset:
            values: dict[str, Any] = {}
            if metric.name not in self.failed:
                try:
                    values = metric.compute()
                except Exception as exc:  # noqa: BLE001
                    self.notes[metric.name] = f"{type(exc).__name__}: {exc}"
                if getattr(metric, "note", None):
                    self.notes[metric.name] = metric.note
            summary.update({c: float(values.get(c, float("nan"))) for c in metric.columns})
        return summary

    def close(self) -> None:
        for metric in [*self.on_device, *self.on_cpu, *self.dataset]:
            metric.close()
