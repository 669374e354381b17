"""The report's plots: each point's distribution of the ranking score, the ranking metric against
every swept numeric parameter, and per-category bars where the runs have COCO categories."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.metrics import higher_is_better

#: parameters that never make a curve (identity, paths, the run's own facts)
_NOT_SWEPT = {"seed", "batch_size", "shard_size", "decode_workers", "harness_version", "git_commit"}


def _figure(width: float = 7.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def per_image_column(metric: str, columns) -> str | None:
    """The per-image column a summary metric is the mean (or percentile) of: psnr_mean -> psnr."""
    base = metric.split("__")[0]
    for suffix in ("_mean", "_median", "_p05", "_p95", "_std"):
        if base.endswith(suffix) and base[: -len(suffix)] in columns:
            return base[: -len(suffix)]
    return base if base in columns else None


def distributions(report) -> tuple[str, Any] | None:
    """A box per point of the ranking metric's per-image values (images scored ok)."""
    columns = {c for p in report.points for c in p.rows.columns}
    column = per_image_column(report.metric, columns)
    if column is None:
        return None
    values, labels = [], []
    for point in report.points:
        ok = point.rows[point.rows["status"].astype(str) == "ok"] if "status" in point.rows else point.rows
        series = pd.to_numeric(ok.get(column, pd.Series(dtype=float)), errors="coerce").dropna()
        if len(series):
            values.append(series.to_numpy())
            labels.append(point.label)
    if not values:
        return None
    fig, ax = _figure(max(6.0, 1.1 * len(values) + 2), 3.8)
    ax.boxplot(values, vert=True, showmeans=True)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=25, ha="right", fontsize=8)
    direction = {True: "higher is better", False: "lower is better"}.get(higher_is_better(column), "")
    ax.set_ylabel(f"{column} ({direction})" if direction else column)
    ax.set_title(f"{column} per image, per point (mean: triangle)")
    return f"{column} per point", fig


def against_parameters(report) -> list[tuple[str, Any]]:
    """The ranking metric against each numeric parameter that takes several values for one model."""
    runs = report.runs
    if runs.empty or report.metric not in runs:
        return []
    out = []
    for column in [c for c in runs.columns if str(c).startswith("param.")]:
        name = column[len("param."):]
        if name in _NOT_SWEPT or "." in name:
            continue
        numeric = pd.to_numeric(runs[column], errors="coerce")
        if (numeric.isna() & runs[column].notna()).any():  # a parameter that is not a number everywhere
            continue
        frame = runs.assign(_x=numeric, _y=pd.to_numeric(runs[report.metric], errors="coerce"))
        frame = frame[frame["_x"].notna()]
        groups = [(key, g) for key, g in frame.groupby(["model", "split"], dropna=False) if g["_x"].nunique() > 1]
        if not groups:
            continue
        fig, ax = _figure()
        for (model, split), g in groups:
            g = g.sort_values("_x")
            ax.plot(g["_x"], g["_y"], marker="o", label=model if pd.isna(split) else f"{model} [{split}]")
        ax.set_xlabel(name)
        ax.set_ylabel(report.metric)
        ax.legend(fontsize=8)
        ax.set_title(f"{report.metric} against {name}")
        out.append((f"{report.metric} against {name}", fig))
    return out


def per_category(report) -> tuple[str, Any] | None:
    """Bars of the ranking metric per COCO supercategory (`<metric>__<category>` summary columns)."""
    runs = report.runs
    cats = sorted({str(c).split("__", 1)[1] for c in runs.columns if str(c).startswith(f"{report.metric}__")})
    if not cats or runs.empty:
        return None
    fig, ax = _figure(max(7.0, 0.6 * len(cats) * max(len(runs), 1) / 3 + 3), 3.8)
    width = 0.8 / len(runs)
    x = np.arange(len(cats))
    for i, (_, run) in enumerate(runs.iterrows()):
        heights = [pd.to_numeric(run.get(f"{report.metric}__{c}"), errors="coerce") for c in cats]
        ax.bar(x + i * width, heights, width, label=str(run.get("label")))
    ax.set_xticks(x + 0.4 - width / 2, cats, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(report.metric)
    ax.legend(fontsize=7)
    ax.set_title(f"{report.metric} per COCO supercategory")
    return f"{report.metric} per category", fig


def plots(report) -> list[tuple[str, Any]]:
    """Every plot the report shows, (caption, figure)."""
    found = [distributions(report), *against_parameters(report), per_category(report)]
    return [f for f in found if f is not None]
