"""Robustness of each model setting to damaged inputs: metrics against severity, the drop from the clean
input, and one aggregate per setting, from a sweep's runs table (nothing here talks to MLflow).

A sweep with a `degradations:` axis has, for each model setting, a point on the clean input (`none`)
and one per (degradation, severity); their runs log `degradation` and `degradation_severity`.

- `curves`: each metric against severity per degradation, with its 95% CI, the drop from `none`
  (`drop` = value - value on the clean input, so negative when a higher-is-better metric falls) and the
  relative drop (`drop_rel` = drop / |clean value|).
- `mce`: the mean corruption error of ImageNet-C (Hendrycks & Dietterich 2019) relative to the
  grayscale baseline of the same split: CE_d = sum over severities of the setting's error / the same
  sum for `grayscale` under d, and mCE = 100 x the mean of CE_d over degradations. The error is
  100 - 100 x SSIM (`ssim_mean`; 0 is perfect), or the mean CIEDE2000 `delta_e_mean` with `error=
  "delta_e"`. Relative mCE does the same with each error minus the setting's own clean error (how
  much the damage costs, not how good the setting is). Below 100: more robust than the baseline.
  Only severities both have are summed.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.metrics import ci_columns

BASELINE = "grayscale"
NONE = "none"
CURVE_METRICS = ("psnr_mean", "ssim_mean", "delta_e_mean", "colorfulness_mean", "cf_delta", "lpips_mean")
ERRORS = {"ssim": ("ssim_mean", lambda v: 100.0 - 100.0 * v), "delta_e": ("delta_e_mean", lambda v: v)}
_DEGRADED = re.compile(r",?degradation=[^,\]]+")


def setting_of(label: str) -> str:
    """The label of a point's model setting on the clean input: its label without `degradation=...`."""
    bare = _DEGRADED.sub("", str(label)).replace("[,", "[")
    return bare.replace("[]", "")


def _points(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with setting, split, degradation and severity columns (runs from before: the clean input)."""
    if runs.empty:
        raise HarnessError("There are no finished sweep-point runs to summarize.", hint="Run `harness run SPEC`.")
    table = runs.copy()
    table["setting"] = table["label"].map(setting_of)
    deg = table["param.degradation"] if "param.degradation" in table else pd.Series(NONE, index=table.index)
    sev = table["param.degradation_severity"] if "param.degradation_severity" in table else 0
    table["degradation"] = deg.fillna(NONE).astype(str)
    table["severity"] = pd.to_numeric(sev, errors="coerce").fillna(0).astype(int)
    table["split"] = table["split"].astype(object).where(table["split"].notna(), "") if "split" in table else ""
    return table


def _num(table: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in table:
        return pd.Series(np.nan, index=table.index, dtype=float)
    return pd.to_numeric(table[column], errors="coerce").astype(float)


def curves(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per (setting, split, degradation, severity, metric): value, CI, drop and relative drop from `none`."""
    table = _points(runs)
    metrics = [m for m in (metrics or CURVE_METRICS) if m in table]
    out = []
    for metric in metrics:
        low, high = ci_columns(metric) or (None, None)
        frame = table[["setting", "model", "split", "degradation", "severity"]].assign(
            metric=metric, value=_num(table, metric), ci_low=_num(table, low), ci_high=_num(table, high))
        clean = frame[frame["degradation"] == NONE].groupby(["setting", "split"])["value"].first()
        keys = list(zip(frame["setting"], frame["split"]))
        frame["clean"] = [clean.get(k, np.nan) for k in keys]
        frame["drop"] = frame["value"] - frame["clean"]
        frame["drop_rel"] = frame["drop"] / frame["clean"].abs().replace(0.0, np.nan)
        out.append(frame)
    if not out:
        return pd.DataFrame(columns=["setting", "model", "split", "degradation", "severity", "metric", "value",
                                     "ci_low", "ci_high", "clean", "drop", "drop_rel"])
    result = pd.concat(out, ignore_index=True).assign(_degraded=lambda t: t["degradation"] != NONE)
    order = ["metric", "setting", "split", "_degraded", "degradation", "severity"]
    return result.sort_values(order, kind="stable").drop(columns="_degraded").reset_index(drop=True)


def mce(runs: pd.DataFrame, error: str = "ssim") -> pd.DataFrame:
    """Per (setting, split): mCE and relative mCE against the grayscale baseline (module docstring)."""
    if error not in ERRORS:
        raise HarnessError(f"Unknown robustness error '{error}'.", hint=f"Use one of: {', '.join(ERRORS)}.")
    column, to_error = ERRORS[error]
    table = _points(runs)
    if column not in table:
        return pd.DataFrame(columns=["setting", "model", "split", "error", "mce", "relative_mce", "degradations"])
    table["err"] = to_error(_num(table, column))
    errs = {(r.setting, r.split, r.degradation, r.severity): r.err for r in table.itertuples()}
    base = {split: s for s, m, split in zip(table["setting"], table["model"], table["split"]) if m == BASELINE}
    rows = []
    for (setting, model, split), group in table.groupby(["setting", "model", "split"], sort=False):
        reference = base.get(split)
        ces, rces = [], []
        for degradation, part in group[group["degradation"] != NONE].groupby("degradation"):
            both = [s for s in part["severity"] if (reference, split, degradation, s) in errs]
            mine = sum(errs[(setting, split, degradation, s)] for s in both)
            theirs = sum(errs[(reference, split, degradation, s)] for s in both)
            clean_m, clean_b = errs.get((setting, split, NONE, 0), np.nan), errs.get((reference, split, NONE, 0), np.nan)
            rel_b = theirs - len(both) * clean_b
            ces.append(mine / theirs if both and theirs else np.nan)
            rces.append((mine - len(both) * clean_m) / rel_b if both and rel_b else np.nan)
        rows.append({"setting": setting, "model": model, "split": split, "error": f"{error} ({column})",
                     "mce": 100 * float(np.mean(ces)) if ces else np.nan,
                     "relative_mce": 100 * float(np.mean(rces)) if rces else np.nan, "degradations": len(ces)})
    return pd.DataFrame(rows)


def has_degradations(runs: pd.DataFrame) -> bool:
    return not runs.empty and "param.degradation" in runs and bool((runs["param.degradation"].fillna(NONE)
                                                                   != NONE).any())


def mce_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The sweep run's metrics: `mce.<setting>` and `relative_mce.<setting>` (names MLflow accepts)."""
    out = {}
    for r in table.itertuples():
        name = re.sub(r"[^A-Za-z0-9_\-. /]", "_", r.setting + (f".{r.split}" if r.split else ""))
        out[f"mce.{name}"] = r.mce
        out[f"relative_mce.{name}"] = r.relative_mce
    return {k: float(v) for k, v in out.items() if v is not None and not math.isnan(v)}


def _cell(x: float, fmt: str = "{:.4f}") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def format_robustness(runs: pd.DataFrame, metric: str, fmt: str = "table", error: str = "ssim") -> str:
    """`harness compare --robustness`: each setting's mCE, then `metric` against severity per degradation."""
    aggregate, curve = mce(runs, error), curves(runs, [metric])
    if curve.empty:
        raise HarnessError(f"No run has the metric '{metric}'.", hint="Choose one with --metric, e.g. psnr_mean.")
    curve = curve[["setting", "split", "degradation", "severity", "value", "ci_low", "ci_high", "drop", "drop_rel"]]
    if fmt == "csv":
        buf = io.StringIO()
        aggregate.to_csv(buf, index=False)
        buf.write("\n")
        curve.to_csv(buf, index=False)
        return buf.getvalue().rstrip("\n")
    head = ["setting", "split", f"mCE ({error})", "relative mCE", "degradations"]
    rows = [[r.setting, str(r.split), _cell(r.mce, "{:.1f}"), _cell(r.relative_mce, "{:.1f}"), str(r.degradations)]
            for r in aggregate.itertuples()]
    lines = _aligned(head, rows) + ["", f"mCE: 100 x mean over degradations of (sum over severities of the error) / "
                                        f"(the same for {BASELINE}); below 100 is more robust than {BASELINE}.", ""]
    head = ["setting", "split", "degradation", "severity", metric, "95% CI", "drop", "drop %"]
    rows = [[r.setting, str(r.split), r.degradation, str(r.severity or "-"), _cell(r.value),
             "-" if math.isnan(r.ci_low) else f"[{_cell(r.ci_low)}, {_cell(r.ci_high)}]", _cell(r.drop, "{:+.4f}"),
             _cell(100 * r.drop_rel, "{:+.1f}%")] for r in curve.itertuples()]
    return "\n".join(lines + _aligned(head, rows))


def _aligned(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + rows]


def robustness_plot(curve: pd.DataFrame, metric: str, degradation: str):
    """`metric` against severity under `degradation` (severity 0: the clean input), one line per setting, 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    part = curve[(curve["metric"] == metric) & curve["degradation"].isin([NONE, degradation])]
    for (setting, split), group in part.groupby(["setting", "split"], sort=False):
        group = group.sort_values("severity")
        err = np.vstack([group["value"] - group["ci_low"], group["ci_high"] - group["value"]])
        ax.errorbar(group["severity"], group["value"], yerr=None if np.isnan(err).all() else np.nan_to_num(err),
                    marker="o", capsize=3, label=setting + (f" ({split})" if split else ""))
    ax.set_xlabel(f"{degradation} severity (0: clean)")
    ax.set_ylabel(metric)
    ax.set_xticks(range(0, 6))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
