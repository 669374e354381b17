"""Rank sweep points by a summary metric, honestly: direction, confidence, baseline.

Works on the runs table that `tracking.Tracker.load_runs` builds (one row per sweep-point
run, one column per logged summary metric); nothing here talks to MLflow. Each metric's
direction comes from `harness.metrics.higher_is_better`. Two neighbours in the ranking whose
95% confidence intervals overlap are flagged: the order between them is not significant.
`vs_baseline` is the difference to the `grayscale` run of the same split (and the same degradation
of the input), the floor any colorizer has to beat.
"""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import pandas as pd

from harness.errors import HarnessError, did_you_mean
from harness.metrics import ci_columns, higher_is_better
from harness.metrics.fid import FID_RELIABLE_N

BASELINE = "grayscale"
COLUMNS = ["rank", "label", "model", "split", "value", "ci_low", "ci_high", "vs_baseline", "overlap", "run_id"]
FORMATS = ("table", "csv", "markdown")
_META = {"run_id", "parent_run_id", "label", "model", "split", "status", "start_time"}
_PREFIXES = ("param.", "note.")
OVERLAP_NOTE = "≈ next: this point's 95% CI overlaps the next one's, so the order between them is not significant."


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The logged metric columns of a runs table (everything but run metadata and `param.*`)."""
    return sorted(str(c) for c in runs.columns if c not in _META and not str(c).startswith(_PREFIXES))


def _column(runs: pd.DataFrame, name: str | None) -> pd.Series:
    if name is None or name not in runs.columns:
        return pd.Series(np.nan, index=runs.index, dtype=float)
    return pd.to_numeric(runs[name], errors="coerce").astype(float)


def rank(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Sweep points ordered best first by `metric`, with CI, difference to baseline and overlap flags.

    Columns: rank, label, model, split, value, ci_low, ci_high (the metric's CI columns,
    `ci_columns`, else NaN), vs_baseline, overlap (this row's CI overlaps the next row's),
    run_id. NaN values rank last; ties are broken by label.
    """
    if runs.empty:
        raise HarnessError("There are no finished sweep-point runs to compare.", hint="Run `harness run SPEC` first.")
    if metric not in runs.columns:
        available = metric_columns(runs)
        raise HarnessError(f"No run has the metric '{metric}'.{did_you_mean(metric, available)}",
                           hint=f"Available metric columns: {', '.join(available) or 'none'}.")
    direction = higher_is_better(metric)
    if direction is None:
        raise HarnessError(f"Metric '{metric}' has no better direction (higher is not better, nor lower), "
                           "so it cannot rank runs.",
                           hint="Rank by a mean, a percentile or cf_delta, e.g. --metric psnr_mean.")
    low, high = ci_columns(metric) or (None, None)
    split = runs["split"] if "split" in runs.columns else pd.Series(None, index=runs.index, dtype=object)
    table = pd.DataFrame({
        "label": runs["label"].astype(object), "model": runs["model"].astype(object),
        "split": split.astype(object).where(split.notna(), None),
        "value": _column(runs, metric),
        "ci_low": _column(runs, low),
        "ci_high": _column(runs, high),
        "run_id": runs["run_id"].astype(str),
    })
    split_key = table["split"].map(lambda s: "" if s is None else str(s))
    for param, clean in (("param.degradation", "none"), ("param.degradation_severity", "0")):
        if param in runs.columns:  # the baseline under the same damage of the input
            split_key = split_key + "|" + runs[param].fillna(clean).astype(str)
    baseline = table[table["model"] == BASELINE].assign(_k=split_key).groupby("_k")["value"].first()
    table["vs_baseline"] = table["value"] - split_key.map(baseline).astype(float)
    table = table.sort_values(["value", "label"], ascending=[not direction, True], na_position="last")
    table = table.reset_index(drop=True)
    next_low, next_high = table["ci_low"].shift(-1), table["ci_high"].shift(-1)
    table["overlap"] = ((table["ci_low"] <= next_high) & (next_low <= table["ci_high"])).astype(bool)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table[COLUMNS]


def _num(x, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _cells(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in table.itertuples(index=False):
        ci = "-" if math.isnan(r.ci_low) or math.isnan(r.ci_high) else f"[{_num(r.ci_low)}, {_num(r.ci_high)}]"
        rows.append([str(r.rank), str(r.label), _num(r.value), ci, _num(r.vs_baseline, signed=True),
                     "≈ next" if r.overlap else "", str(r.run_id)])
    return rows


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def fid_caveat(runs: pd.DataFrame, metric: str) -> str:
    """A warning under a ranking by FID when some point scored fewer images than FID needs."""
    if metric.split("__")[0] != "fid" or "n_fid" not in runs:
        return ""
    n = pd.to_numeric(runs["n_fid"], errors="coerce").dropna()
    if n.empty or n.min() >= FID_RELIABLE_N:
        return ""
    return (f"FID over {int(n.min())}–{int(n.max())} images: below {FID_RELIABLE_N:,} FID is strongly biased upward; "
            "only points with the same number of images compare.")


def format_failed(failed: list[tuple[str, str]]) -> str:
    """The sweep points that have no finished run to rank, with why."""
    if not failed:
        return ""
    lines = [f"Not ranked: {len(failed)} point(s) failed in this sweep:"]
    for label, reason in failed:  # the whole reason: a weights message goes on to its URLs and the fix
        first, *rest = reason.splitlines() or [""]
        lines += [f"  {label}: {first}", *(f"    {line}" for line in rest)]
    return "\n".join(lines)


def format_ranking(table: pd.DataFrame, fmt: Literal["table", "csv", "markdown"], metric: str) -> str:
    """The ranking as aligned plain text (with a footnote on overlaps), CSV or a GitHub markdown table."""
    if fmt not in FORMATS:
        raise HarnessError(f"Unknown format '{fmt}'.{did_you_mean(fmt, FORMATS)}",
                           hint=f"Use one of: {', '.join(FORMATS)}.")
    if fmt == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        return buf.getvalue().rstrip("\n")
    header = ["rank", "sweep point", metric, "95% CI", f"vs {BASELINE}", "overlap", "run"]
    rows = _cells(table)
    note = [OVERLAP_NOTE] if table["overlap"].any() else []
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(_markdown_cell(c) for c in r) + " |" for r in rows]
        return "\n".join(lines + ([""] + note if note else []))
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    numeric = {0, 2, 4}  # right-align rank, value and difference so the decimals line up

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows] + note)
