"""`harness check`: stop a regression in CI by bounding summary metrics per model or sweep point.

A thresholds YAML maps a target to metric bounds. A target is a model name (the bounds
apply to every sweep point of that model) or one sweep point's label. An optional
`experiment:` key names the experiment the bounds are for (otherwise `harness check`
reads the experiment with the latest sweep, and says which):

    experiment: quickstart
    deoldify-artistic:
      psnr_mean: {min: 22.0}
      cf_delta: {max: 8}
    "deoldify-artistic[render_factor=35]":
      ssim_mean: {min: 0.85}

A targeted run whose metric is NaN violates the bound ("no value"): a metric that could
not be computed must not pass silently. Works on the runs table from the tracking module;
nothing here talks to MLflow.

Exit codes (`exit_code`): 1 when any bound is violated, else 2 when a named target has no
run or a named metric no column, else 0. Violations take precedence over missing names:
a known regression is the more important news, and both are printed either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.config.yamlio import load_yaml
from harness.errors import HarnessError, did_you_mean

BOUND_KEYS = ("min", "max")


@dataclass
class Bound:
    """Inclusive limits on one metric; None means unbounded on that side."""

    metric: str
    min: float | None = None
    max: float | None = None


@dataclass
class Violation:
    """One run outside one bound; `bound` reads 'min 22.0', 'max 8' or 'no value'."""

    target: str
    label: str
    run_id: str
    metric: str
    value: float
    bound: str


@dataclass
class Thresholds:
    """A thresholds file: the experiment it is for (None: the latest) and the bounds per target."""

    experiment: str | None
    bounds: dict[str, list[Bound]]


@dataclass
class CheckResult:
    """All violations, messages for named targets/metrics with no run/column, and the number of (run, bound) checks."""

    violations: list[Violation] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    checked: int = 0


def load_thresholds(path: str | Path) -> Thresholds:
    """Parse and validate a thresholds file; every error names the file, the line and the key."""
    doc = load_yaml(path, what="thresholds file")
    example = "Example: `deoldify-artistic: {psnr_mean: {min: 22.0}}`."
    if doc.data is None:
        raise HarnessError(f"Thresholds file '{doc.path}' is empty.", hint=example)
    if not isinstance(doc.data, dict) or not doc.data:
        raise HarnessError(f"{doc.where(())}: a thresholds file must map model names or sweep-point labels "
                           "to metric bounds.", hint=example)
    experiment = doc.data.get("experiment")
    if experiment is not None and (not isinstance(experiment, str) or not experiment):
        raise HarnessError(f"{doc.where(('experiment',))}: experiment must be an experiment name (the spec's "
                           f"`name`), not {experiment!r}.")
    out: dict[str, list[Bound]] = {}
    for target, metrics in doc.data.items():
        if target == "experiment":
            continue
        if not isinstance(metrics, dict) or not metrics:
            raise HarnessError(f"{doc.where((target,))}: give metric bounds for '{target}'.", hint=example)
        bounds = []
        for metric, spec in metrics.items():
            loc = (target, metric)
            if not isinstance(spec, dict) or not spec:
                raise HarnessError(f"{doc.where(loc)}: a bound is a mapping with min and/or max, not {spec!r}.",
                                   hint="Example: `psnr_mean: {min: 20.0}`.")
            for key, value in spec.items():
                if key not in BOUND_KEYS:
                    raise HarnessError(f"{doc.where(loc + (key,))}: unknown bound '{key}'."
                                       f"{did_you_mean(str(key), BOUND_KEYS)}", hint="Use min and/or max.")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                    raise HarnessError(f"{doc.where(loc + (key,))}: {key} must be a number, not {value!r}.")
            bound = Bound(str(metric), spec.get("min"), spec.get("max"))
            if bound.min is not None and bound.max is not None and bound.min > bound.max:
                raise HarnessError(f"{doc.where(loc)}: min {bound.min} is greater than max {bound.max}.",
                                   hint="Swap them, or drop one.")
            bounds.append(bound)
        out[str(target)] = bounds
    if not out:
        raise HarnessError(f"{doc.where(())}: no bounds besides the experiment name.", hint=example)
    return Thresholds(experiment, out)


def _broken(value: float, bound: Bound) -> str | None:
    if math.isnan(value):
        return "no value"
    if bound.min is not None and value < bound.min:
        return f"min {bound.min}"
    if bound.max is not None and value > bound.max:
        return f"max {bound.max}"
    return None


def check(runs: pd.DataFrame, thresholds: dict[str, list[Bound]]) -> CheckResult:
    """Every bound against every run its target covers (runs whose label or model equals the target)."""
    result = CheckResult()
    columns = [str(c) for c in runs.columns]
    for target, bounds in thresholds.items():
        if runs.empty or "label" not in runs.columns:
            chosen = runs.iloc[0:0]
        else:
            chosen = runs[(runs["label"] == target) | (runs["model"] == target)]
        if chosen.empty:
            known = sorted(set(runs.get("model", pd.Series(dtype=object)).dropna().astype(str))
                           | set(runs.get("label", pd.Series(dtype=object)).dropna().astype(str)))
            result.missing.append(f"MISSING {target}: no finished run of this model or sweep point."
                                  f"{did_you_mean(target, known)}")
            continue
        for bound in bounds:
            if bound.metric not in runs.columns:
                result.missing.append(f"MISSING {target} {bound.metric}: no run logged this metric."
                                      f"{did_you_mean(bound.metric, columns)}")
                continue
            values = pd.to_numeric(chosen[bound.metric], errors="coerce")
            for label, run_id, raw in zip(chosen["label"], chosen["run_id"], values):
                value = float(raw) if pd.notna(raw) else math.nan
                result.checked += 1
                broken = _broken(value, bound)
                if broken:
                    result.violations.append(Violation(target, str(label), str(run_id), bound.metric, value, broken))
    return result


def _shown(value: float, limit: float, below: bool) -> str:
    """`value` with 2 decimals, or more when 2 would hide which side of `limit` it is on."""
    for decimals in range(2, 10):
        text = f"{value:.{decimals}f}"
        if (float(text) < limit) if below else (float(text) > limit):
            return text
    return repr(value)


def format_result(result: CheckResult) -> str:
    """One FAIL line per violation, then the MISSING lines, then a summary line."""
    lines = []
    for v in result.violations:
        if v.bound == "no value":
            lines.append(f"FAIL {v.label} {v.metric}: no value (run {v.run_id})")
            continue
        below = v.bound.startswith("min")
        limit = float(v.bound.split()[1])
        lines.append(f"FAIL {v.label} {v.metric} = {_shown(v.value, limit, below)} {'<' if below else '>'} "
                     f"{v.bound} (run {v.run_id})")
    lines.extend(result.missing)
    verdict = "FAILED" if result.violations else "INCOMPLETE" if result.missing else "OK"
    lines.append(f"{verdict}: {result.checked} check(s) of a run against a bound, {len(result.violations)} "
                 f"violated, {len(result.missing)} target(s) or metric(s) missing.")
    return "\n".join(lines)


def exit_code(result: CheckResult) -> int:
    """1 on any violation (this takes precedence), else 2 when anything named is missing, else 0."""
    if result.violations:
        return 1
    return 2 if result.missing else 0
