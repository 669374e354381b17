"""The values the pipeline trades: the work of a model setting, shards and their results, a point's result.

Executors, the journal and the sweep pass these around; they are defined once, here, by the
layer that produces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from harness.data.base import Reporter, Sample
from harness.metrics import MetricChoice


@dataclass
class Work:
    """What one model setting computes and how: the model, the metrics, batching, decoding, protocol."""

    model: str
    params: BaseModel
    metrics: list[MetricChoice]
    impl: str  # metrics implementation: skimage | torch
    protocol: str  # the resolution metrics score at (`harness.metrics.protocols`)
    batch_size: int  # images per model call: one forward pass of a network
    workers: int  # decoding threads
    reporter: Reporter
    prefetch: int = 2  # batches decoded ahead of the model
    keep: frozenset[str] = frozenset()  # images whose thumbnails are kept for the report (`pipeline.thumbs`)
    degradation: tuple[str, int] | None = None  # (name, severity) done to the gray input (`harness.data.degrade`)
    seed: int = 0  # the degradation's seed (with the image id, degradation and severity)


@dataclass(frozen=True)
class Shard:
    """Consecutive samples of the work, numbered from 0: the unit journaled, resumed and handed out."""

    index: int
    samples: tuple[Sample, ...]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]


@dataclass
class ShardResult:
    """What processing some samples produced; results of several shards `merge` into one."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    #: dataset metrics' rows: state key -> image id -> 1-D float32 array (scored images only)
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: seconds per stage (decode, wait_data, colorize, score, the model's own stages, total)
    timings: dict[str, float] = field(default_factory=dict)
    model_images: int = 0  # images the model colorized (for a shard read back: in the process that made it)
    stopped: dict[str, str] = field(default_factory=dict)  # dataset metric -> why it stopped
    #: fallbacks taken (a batch colorized image by image, a metric scored on the CPU ...) -> how many times
    warnings: dict[str, int] = field(default_factory=dict)
    #: image id -> {"gray" | "output" | "truth": JPEG bytes} for the images of `Work.keep`
    thumbs: dict[str, dict[str, bytes]] = field(default_factory=dict)

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
            for message, count in part.warnings.items():
                merged.warnings[message] = merged.warnings.get(message, 0) + count
            merged.thumbs.update(part.thumbs)
        return merged


def warning_lines(counts: dict[str, int]) -> list[str]:
    """'message' or 'message (N times)' for each fallback, in the order first seen."""
    return [m if n == 1 else f"{m} ({n} times)" for m, n in counts.items()]


#: (image id, gray input, output or an exception, ground truth) of an image colorized again
Rendered = tuple[str, np.ndarray, Any, np.ndarray]


@dataclass
class GridSample:
    """One row of the sample grid: the model's input, its output and the truth, with scores."""

    image_id: str
    gray: np.ndarray  # H x W uint8
    output: np.ndarray  # H x W x 3 uint8
    truth: np.ndarray  # H x W x 3 uint8
    psnr: float
    ssim: float
    tag: str  # "best" | "median" | "worst"


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
    warnings: list[str] = field(default_factory=list)  # fallbacks taken, each with its reason (and count)
    thumbs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # the report's images (`pipeline.thumbs`)
