"""Image quality metrics: pure functions, uint8 RGB arrays in, floats out.

These are the reference definitions (scikit-image's where one exists); every number the
harness reports comes from them or from `metrics_torch`, which tests hold to them.
Scores are computed in RGB against the ground truth, never on luma alone: DeOldify keeps
the input luminance, so luma metrics would be near-perfect by construction.
A new metric is one decorated function: `@register_metric("name", higher_is_better=...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.errors import unknown_name

#: PSNR reported for identical images (MSE 0 gives +inf): finite so means and percentiles
#: stay meaningful. Any real difference gives less (one grey level on one pixel of a
#: 640x480 image is about 108 dB, so outputs that close also read as 100).
PSNR_CAP = 100.0
STATS = ("mean", "std", "min", "p05", "p25", "p50", "p75", "p95", "max", "ci95_low", "ci95_high")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]
    description: str


_METRICS: dict[str, MetricInfo] = {}


def register_metric(name: str, *, higher_is_better: bool, description: str = ""):
    """Decorator: make `fn(gt, out) -> float` available to specs under `name`."""

    def decorate(fn: Callable[[np.ndarray, np.ndarray], float]):
        _METRICS[name] = MetricInfo(name, higher_is_better, fn, description or (fn.__doc__ or "").strip())
        return fn

    return decorate


def metric_names() -> list[str]:
    return sorted(_METRICS)


def get_metric(name: str) -> MetricInfo:
    try:
        return _METRICS[name]
    except KeyError:
        raise unknown_name("metric", name, metric_names()) from None


@register_metric("psnr", higher_is_better=True)
def psnr(gt: np.ndarray, out: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (data range 255), capped at PSNR_CAP."""
    from skimage.metrics import peak_signal_noise_ratio

    diff = gt.astype(np.float64) - out.astype(np.float64)
    if not np.any(diff):
        return PSNR_CAP
    return float(min(peak_signal_noise_ratio(gt, out, data_range=255), PSNR_CAP))


@register_metric("ssim", higher_is_better=True)
def ssim(gt: np.ndarray, out: np.ndarray) -> float:
    """Structural similarity, scikit-image defaults (7x7 window), per channel then averaged."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(gt, out, channel_axis=-1, data_range=255))


def colorfulness(img: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003): M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2) on 8-bit sRGB."""
    x = np.asarray(img, dtype=np.float64).reshape(-1, 3)
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@register_metric("colorfulness", higher_is_better=True,
                 description="Colourfulness of the output (and of the ground truth as colorfulness_gt).")
def _colorfulness_of_output(gt: np.ndarray, out: np.ndarray) -> float:
    return colorfulness(out)


@register_metric("delta_e", higher_is_better=False)
def delta_e(gt: np.ndarray, out: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over pixels (scikit-image, Lab under D65)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(np.mean(deltaE_ciede2000(rgb2lab(gt), rgb2lab(out))))


def score_image(gt: np.ndarray, out: np.ndarray, metrics: Sequence[str]) -> dict[str, float]:
    """One row of the per-image table; colourfulness gives `colorfulness` and `colorfulness_gt`."""
    row: dict[str, float] = {}
    for name in metrics:
        row[name] = get_metric(name).fn(gt, out)
        if name == "colorfulness":
            row["colorfulness_gt"] = colorfulness(gt)
    return row


def summarize(values: Sequence[float] | np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Distribution of per-image values: moments, percentiles and a 95% bootstrap CI of the mean."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {k: float("nan") for k in STATS}
    p = np.percentile(v, [5, 25, 50, 75, 95])
    out = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
           "min": float(v.min()), "p05": float(p[0]), "p25": float(p[1]), "p50": float(p[2]),
           "p75": float(p[3]), "p95": float(p[4]), "max": float(v.max())}
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    out["ci95_low"], out["ci95_high"] = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    return out


def summarize_run(rows: pd.DataFrame, metrics: Sequence[str], *, seed: int = 0) -> dict[str, float]:
    """Run-level metrics from the per-image table: `<column>_<stat>` per score column, cf_delta, counts."""
    status = rows["status"].astype(str)
    ok = rows[status == "ok"]
    summary: dict[str, float] = {
        "n_images": float(len(rows)), "n_scored": float(len(ok)),
        "n_failed": float(status.str.startswith("failed:").sum()),
        "n_excluded": float(status.str.startswith("excluded:").sum()),
    }
    columns = [c for c in rows.columns if _base_metric(c) is not None and pd.api.types.is_numeric_dtype(rows[c])]
    for column in columns:
        for stat, value in summarize(ok[column].to_numpy(dtype=np.float64), seed=seed).items():
            summary[f"{column}_{stat}"] = value
    if "colorfulness" in metrics and len(ok):
        summary["cf_delta"] = abs(float(ok["colorfulness"].mean()) - float(ok["colorfulness_gt"].mean()))
    return summary


def _base_metric(key: str) -> str | None:
    """The registered metric a column or summary key starts with (longest match)."""
    matches = [m for m in _METRICS if key == m or key.startswith(m + "_")]
    return max(matches, key=len) if matches else None


def higher_is_better(key: str) -> bool | None:
    """Direction of a summary key (`psnr_mean`, `delta_e_p95`, `cf_delta` ...); None when it has none."""
    fixed = {"cf_delta": False, "n_failed": False, "n_excluded": None, "n_scored": True, "n_images": None,
             "images_per_second": True}
    if key in fixed:
        return fixed[key]
    if key.endswith("_std") or key.startswith("seconds_"):
        return None
    base = _base_metric(key.split("__")[0])
    return None if base is None else _METRICS[base].higher_is_better
