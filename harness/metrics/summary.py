"""Run-level numbers from per-image values, and the direction of every summary key.

Run-level numbers are always aggregates of per-image values (`summarize`,
`summarize_run`), never a metric of pooled pixels; dataset metrics (FID) add their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.metrics.registry import MetricChoice, choices, derived_directions, get_metric, metric_names
from harness.metrics.temporal import SCORES as TEMPORAL

#: Statistics `summarize` returns, in order; summary keys are `<column>_<stat>`.
STATS = ("mean", "std", "min", "p05", "p25", "p50", "p75", "p95", "max", "ci95_low", "ci95_high")
#: Bootstrap index arrays are drawn in chunks of at most this many elements (32 MiB of
#: int64), so a CI over 100k images does not need gigabytes.
_BOOT_CHUNK = 1 << 22


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


def _metric_columns(rows: pd.DataFrame, chosen: list[MetricChoice]) -> list[str]:
    """Score columns to summarize: the per-image columns of the chosen metrics plus every other
    numeric column named after a registered metric (region scores such as `psnr_objects`)."""
    wanted = [c for m in chosen if m.metric.kind == "image" for c in m.metric.columns]
    extra = [c for c in rows.columns if c not in wanted and _base_metric(str(c)) is not None
             and (pd.api.types.is_numeric_dtype(rows[c]) or rows[c].isna().all())]
    return wanted + extra


def summarize_run(rows: pd.DataFrame, metrics: Sequence[str | MetricChoice], *, seed: int = 0) -> dict[str, float]:
    """Run-level metrics from the per-image table: `<column>_<stat>` per score column, derived keys, counts.

    Only rows with status "ok" enter the statistics. A requested metric whose column is
    missing (every image failed) still gets its keys, as NaN, so runs have the same keys.
    Each metric's derived keys (`cf_delta`) are computed from these statistics.
    """
    chosen = choices(metrics)
    status = rows["status"].astype(str) if "status" in rows.columns else pd.Series("", index=rows.index)
    ok = rows[status == "ok"]
    summary: dict[str, float] = {
        "n_images": float(len(rows)), "n_scored": float(len(ok)),
        "n_failed": float(status.str.startswith("failed:").sum()),
        "n_excluded": float(status.str.startswith("excluded:").sum()),
    }
    for column in _metric_columns(rows, chosen):
        values = pd.to_numeric(ok[column], errors="coerce").to_numpy(dtype=np.float64) if column in ok else []
        for stat, value in summarize(values, seed=seed).items():
            summary[f"{column}_{stat}"] = value
    for choice in chosen:
        for key, rule in choice.metric.derived.items():
            summary[key] = float(rule.compute(summary))
    return summary


def _base_metric(key: str) -> str | None:
    """The registered metric a column or summary key starts with (longest match), else None."""
    matches = [m for m in metric_names() if key == m or key.startswith(m + "_")]
    return max(matches, key=len) if matches else None


#: Directions of the summary keys that are not `<metric>_<stat>` nor a metric's derived key.
_FIXED_DIRECTIONS: dict[str, bool | None] = {
    "n_failed": False, "n_excluded": False, "n_scored": True, "n_images": None, "images_per_second": True,
    "n_fid": None,  # FID's image count: context for its bias, not a score
}


def higher_is_better(key: str) -> bool | None:
    """Direction of a summary key: True / False, or None when neither is better.

    `psnr_mean`, `psnr_p05`, `ssim_ci95_low` ... follow their metric (longest registered
    prefix, so `colorfulness_gt_mean` resolves via `colorfulness`); derived keys (`cf_delta`)
    have their own; a video run's temporal scores (`cdc_mean`, `warp_error_p95`, `flicker_mean`)
    are lower-is-better, their ground-truth levels (`cdc_gt_mean`) None; `*_std`, timings and
    unknown keys are None. A category suffix (`psnr_mean__animal`) is ignored.
    """
    key = key.split("__")[0]
    fixed = {**_FIXED_DIRECTIONS, **derived_directions()}
    if key in fixed:
        return fixed[key]
    if key.endswith("_std") or key.startswith("seconds_"):
        return None
    base = _base_metric(key)
    if base is None:  # a video run's temporal scores (cdc_mean ...): lower is smoother; their _gt: neither
        return False if any(key.startswith(f"{t}_") and key[len(t) + 1:] in STATS for t in TEMPORAL) else None
    return get_metric(base).higher_is_better


def ci_columns(key: str) -> tuple[str, str] | None:
    """The summary keys holding the 95% CI of `key`: `psnr_mean` -> (`psnr_ci95_low`, `psnr_ci95_high`);
    None for keys without one (percentiles, derived keys, dataset metrics, per-category means)."""
    if not key.endswith("_mean") or "__" in key:
        return None
    base = key[: -len("_mean")]
    return f"{base}_ci95_low", f"{base}_ci95_high"
