"""Image quality metrics: pure functions, uint8 RGB arrays in, floats out.

These are the reference definitions (scikit-image's where one exists); every number the
harness reports comes from them or from `metrics_torch`, which tests hold to them.
Scores are computed in RGB against the ground truth, never on luma alone: DeOldify keeps
the input luminance, so luma metrics would be near-perfect by construction.

A new metric is one decorated function: `@register_metric("name", higher_is_better=...)`
on `fn(gt, out) -> float`. Run-level numbers are always aggregates of per-image values
(`summarize`, `summarize_run`), never a metric of pooled pixels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.errors import unknown_name

#: PSNR reported for identical images (MSE 0 gives +inf): finite so means and percentiles
#: stay meaningful. Any real difference gives less (one grey level on one pixel of a
#: 640x480 image is about 108 dB, so outputs that close also read as 100).
PSNR_CAP = 100.0
#: Statistics `summarize` returns, in order; summary keys are `<column>_<stat>`.
STATS = ("mean", "std", "min", "p05", "p25", "p50", "p75", "p95", "max", "ci95_low", "ci95_high")
#: Bootstrap index arrays are drawn in chunks of at most this many elements (32 MiB of
#: int64), so a CI over 100k images does not need gigabytes.
_BOOT_CHUNK = 1 << 22
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric: `fn(gt, out) -> float` and which direction is better."""

    name: str
    higher_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]
    description: str


_METRICS: dict[str, MetricInfo] = {}


def register_metric(name: str, *, higher_is_better: bool, description: str = ""):
    """Decorator: make `fn(gt, out) -> float` available to specs under `name`.

    Names are lower-case words joined by single underscores: `__` separates a summary key
    from its category (`psnr_mean__animal`). Registering a taken name is an error, so a
    plug-in cannot silently replace a built-in metric.
    """
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r} must be lower-case words joined by single underscores")
    if name in _METRICS:
        raise ValueError(f"metric {name!r} is already registered")

    def decorate(fn: Callable[[np.ndarray, np.ndarray], float]):
        doc = (fn.__doc__ or "").strip().splitlines()
        _METRICS[name] = MetricInfo(name, bool(higher_is_better), fn, description or (doc[0] if doc else ""))
        return fn

    return decorate


def metric_names() -> list[str]:
    """Registered metric names, sorted."""
    return sorted(_METRICS)


def get_metric(name: str) -> MetricInfo:
    """The metric registered as `name`; a HarnessError suggesting the closest name otherwise."""
    try:
        return _METRICS[name]
    except KeyError:
        raise unknown_name("metric", name, metric_names()) from None


@register_metric("psnr", higher_is_better=True)
def psnr(gt: np.ndarray, out: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (data range 255), capped at PSNR_CAP."""
    from skimage.metrics import peak_signal_noise_ratio

    if gt.shape == out.shape and np.array_equal(gt, out):
        return PSNR_CAP  # skimage would divide by zero and warn
    return float(min(peak_signal_noise_ratio(gt, out, data_range=255), PSNR_CAP))


@register_metric("ssim", higher_is_better=True)
def ssim(gt: np.ndarray, out: np.ndarray) -> float:
    """Structural similarity, scikit-image defaults (7x7 window), per channel then averaged."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(gt, out, channel_axis=-1, data_range=255))


def colorfulness(img: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of an 8-bit sRGB image (any shape ending in 3).

    rg = R - G, yb = (R + G) / 2 - B per pixel; M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2)
    with population standard deviations s and means m. Gray images score 0.
    """
    x = np.asarray(img, dtype=np.float64).reshape(-1, 3)
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@register_metric("colorfulness", higher_is_better=True,
                 description="Colourfulness of the output (and of the ground truth as colorfulness_gt).")
def _colorfulness_of_output(gt: np.ndarray, out: np.ndarray) -> float:
    """Colourfulness of the output; the ground truth does not enter (see `score_image`)."""
    return colorfulness(out)


@register_metric("delta_e", higher_is_better=False)
def delta_e(gt: np.ndarray, out: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over pixels (scikit-image, Lab under D65)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(np.mean(deltaE_ciede2000(rgb2lab(gt), rgb2lab(out))))


def score_image(gt: np.ndarray, out: np.ndarray, metrics: Sequence[str]) -> dict[str, float]:
    """One row of the per-image table: `{metric: value}` for each name in `metrics`.

    "colorfulness" gives two columns, `colorfulness` (of the output) and `colorfulness_gt`
    (of the ground truth), so the run can compare the two distributions (`cf_delta`).
    Unknown names raise before anything is computed; mismatched shapes raise ValueError.
    """
    infos = [get_metric(name) for name in metrics]
    if gt.shape != out.shape or gt.ndim != 3 or gt.shape[-1] != 3:
        raise ValueError(f"expected two H x W x 3 images of the same size, got {gt.shape} and {out.shape}")
    row: dict[str, float] = {}
    for info in infos:
        row[info.name] = float(info.fn(gt, out))
        if info.name == "colorfulness":
            row["colorfulness_gt"] = colorfulness(gt)
    return row


def _bootstrap_means(v: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_boot` resamples (with replacement) of `v`, drawn a bounded chunk at a time."""
    per_chunk = max(1, _BOOT_CHUNK // v.size)
    means = np.empty(n_boot)
    for start in range(0, n_boot, per_chunk):
        stop = min(n_boot, start + per_chunk)
        means[start:stop] = v[rng.integers(0, v.size, size=(stop - start, v.size))].mean(axis=1)
    return means


def summarize(values: Sequence[float] | np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Distribution of per-image values: moments, percentiles and a 95% bootstrap CI of the mean.

    NaNs are dropped first; with nothing left every statistic is NaN. `std` is the sample
    standard deviation (0.0 for one value); percentiles interpolate linearly (numpy's
    default); the CI is the 2.5/97.5 percentiles of `n_boot` resampled means, seeded so a
    run's summary is reproducible.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {k: float("nan") for k in STATS}
    p = np.percentile(v, [5, 25, 50, 75, 95])
    out = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
           "min": float(v.min()), "p05": float(p[0]), "p25": float(p[1]), "p50": float(p[2]),
           "p75": float(p[3]), "p95": float(p[4]), "max": float(v.max())}
    means = _bootstrap_means(v, n_boot, np.random.default_rng(seed))
    out["ci95_low"], out["ci95_high"] = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    return out


def _metric_columns(rows: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """Score columns to summarize: the requested metrics (and colorfulness_gt) plus every other
    numeric column named after a registered metric (region scores such as `psnr_objects`)."""
    wanted = list(metrics) + (["colorfulness_gt"] if "colorfulness" in metrics else [])
    extra = [c for c in rows.columns if c not in wanted and _base_metric(str(c)) is not None
             and (pd.api.types.is_numeric_dtype(rows[c]) or rows[c].isna().all())]
    return wanted + extra


def summarize_run(rows: pd.DataFrame, metrics: Sequence[str], *, seed: int = 0) -> dict[str, float]:
    """Run-level metrics from the per-image table: `<column>_<stat>` per score column, cf_delta, counts.

    Only rows with status "ok" enter the statistics. A requested metric whose column is
    missing (every image failed) still gets its keys, as NaN, so runs have the same keys.
    `cf_delta` = |mean colourfulness of outputs - mean colourfulness of ground truths| over
    the same images: how far the model is from natural colour saturation, either way.
    """
    status = rows["status"].astype(str) if "status" in rows.columns else pd.Series("", index=rows.index)
    ok = rows[status == "ok"]
    summary: dict[str, float] = {
        "n_images": float(len(rows)), "n_scored": float(len(ok)),
        "n_failed": float(status.str.startswith("failed:").sum()),
        "n_excluded": float(status.str.startswith("excluded:").sum()),
    }
    for column in _metric_columns(rows, metrics):
        values = pd.to_numeric(ok[column], errors="coerce").to_numpy(dtype=np.float64) if column in ok else []
        for stat, value in summarize(values, seed=seed).items():
            summary[f"{column}_{stat}"] = value
    if "colorfulness" in metrics:
        summary["cf_delta"] = abs(summary["colorfulness_mean"] - summary["colorfulness_gt_mean"])
    return summary


def _base_metric(key: str) -> str | None:
    """The registered metric a column or summary key starts with (longest match), else None."""
    matches = [m for m in _METRICS if key == m or key.startswith(m + "_")]
    return max(matches, key=len) if matches else None


#: Directions of the summary keys that are not `<metric>_<stat>`.
_FIXED_DIRECTIONS: dict[str, bool | None] = {
    "cf_delta": False, "n_failed": False, "n_excluded": False, "n_scored": True, "n_images": None,
    "images_per_second": True,
}


def higher_is_better(key: str) -> bool | None:
    """Direction of a summary key: True / False, or None when neither is better.

    `psnr_mean`, `psnr_p05`, `ssim_ci95_low` ... follow their metric (longest registered
    prefix, so `colorfulness_gt_mean` resolves via `colorfulness`); `*_std`, timings and
    unknown keys are None. A category suffix (`psnr_mean__animal`) is ignored.
    """
    key = key.split("__")[0]
    if key in _FIXED_DIRECTIONS:
        return _FIXED_DIRECTIONS[key]
    if key.endswith("_std") or key.startswith("seconds_"):
        return None
    base = _base_metric(key)
    return None if base is None else _METRICS[base].higher_is_better
