"""Rank sweep points by a summary metric, honestly: direction, confidence, baseline.

Works on the runs table that `tracking.Tracker.load_runs` builds (one row per sweep-point
run, one column per logged metric). Two neighbours whose 95% confidence intervals overlap
are flagged: their order is not significant.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
import pandas as pd

from harness.errors import HarnessError, did_you_mean

BASELINE = "grayscale"
_META = {"run_id", "parent_run_id", "label", "model", "split", "status", "start_time"}


def _metric_columns(runs: pd.DataFrame) -> list[str]:
    return sorted(c for c in runs.columns if c not in _META and not str(c).startswith("param."))


def rank(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Sweep points ordered best first by `metric`, with CI, difference to baseline and overlap flags."""
    from harness.metrics import higher_is_better

    if runs.empty:
        raise HarnessError("There are no finished sweep-point runs to compare.", hint="Run `harness run SPEC` first.")
    if metric not in runs.columns:
        available = _metric_columns(runs)
        raise HarnessError(f"No run has the metric '{metric}'.{did_you_mean(metric, available)}",
                           hint=f"Available: {', '.join(available)}.")
    direction = higher_is_better(metric)
    if direction is None:
        raise HarnessError(f"Metric '{metric}' has no better direction, so it cannot rank runs.",
                           hint="Rank by a mean, percentile or cf_delta, e.g. --metric psnr_mean.")
    base = metric[: -len("_mean")] if metric.endswith("_mean") else None
    table = pd.DataFrame({
        "label": runs["label"], "model": runs["model"],
        "split": runs["split"] if "split" in runs else None,
        "value": pd.to_numeric(runs[metric], errors="coerce"),
        "ci_low": runs.get(f"{base}_ci95_low", np.nan) if base else np.nan,
        "ci_high": runs.get(f"{base}_ci95_high", np.nan) if base else np.nan,
        "run_id": runs["run_id"],
    })
    table["_split"] = table["split"].fillna("")
    baseline = table[table["model"] == BASELINE].groupby("_split")["value"].first()
    table["vs_baseline"] = table["value"] - table["_split"].map(baseline)
    table = table.sort_values(["value", "label"], ascending=[not direction, True], na_position="last")
    table = table.reset_index(drop=True)
    nxt_low, nxt_high = table["ci_low"].shift(-1), table["ci_high"].shift(-1)
    table["overlap"] = ((table["ci_low"] <= nxt_high) & (nxt_low <= table["ci_high"])).fillna(False).astype(bool)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.drop(columns="_split")[["rank", "label", "model", "split", "value", "ci_low", "ci_high",
                                         "vs_baseline", "overlap", "run_id"]]


def _num(x: float, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _rows(table: pd.DataFrame) -> list[list[str]]:
    out = []
    for _, r in table.iterrows():
        ci = f"[{_num(r.ci_low)}, {_num(r.ci_high)}]" if not np.isnan(r.ci_low) else "-"
        out.append([str(r["rank"]), str(r.label), _num(r.value), ci, _num(r.vs_baseline, signed=True),
                    "≈ next" if r.overlap else "", str(r.run_id)[:12]])
    return out


def format_ranking(table: pd.DataFrame, fmt: Literal["table", "csv", "markdown"], metric: str) -> str:
    """The ranking as an aligned text table, CSV or a GitHub markdown table."""
    if fmt == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        return buf.getvalue().rstrip("\n")
    header = ["rank", "sweep point", metric, "95% CI", f"vs {BASELINE}", "overlap", "run"]
    rows = _rows(table)
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if table["overlap"].any():
        lines.append("≈ next: this point's 95% CI overlaps the next one's; their order is not significant.")
    return "\n".join(lines)
