"""`harness check`: stop a regression in CI by bounding summary metrics per model or sweep point.

Thresholds YAML maps a target (a model name, covering all its sweep points, or one sweep
point's label) to metric bounds:

    deoldify-artistic:
      psnr_mean: {min: 22.0}
      cf_delta: {max: 8}
    "deoldify-artistic[render_factor=35]":
      ssim_mean: {min: 0.85}

Exit codes: 1 when any bound is violated (this wins), else 2 when a named target or
metric has no run, else 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError, did_you_mean
from harness.yamlio import load_yaml


@dataclass
class Bound:
    metric: str
    min: float | None = None
    max: float | None = None


@dataclass
class Violation:
    target: str
    label: str
    run_id: str
    metric: str
    value: float
    bound: str


@dataclass
class CheckResult:
    violations: list[Violation] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    checked: int = 0


def load_thresholds(path: str | Path) -> dict[str, list[Bound]]:
    """Parse and validate a thresholds file; errors name the file, line and key."""
    doc = load_yaml(path, what="thresholds file")
    if not isinstance(doc.data, dict) or not doc.data:
        raise HarnessError(f"Thresholds file '{doc.path}' must map model names or sweep-point labels to bounds.",
                           hint="Example: `grayscale: {psnr_mean: {min: 20.0}}`.")
    out: dict[str, list[Bound]] = {}
    for target, metrics in doc.data.items():
        if not isinstance(metrics, dict) or not metrics:
            raise HarnessError(f"{doc.where((target,))}: give metric bounds, e.g. `psnr_mean: {{min: 20.0}}`.")
        bounds = []
        for metric, spec in metrics.items():
            loc = (target, metric)
            if not isinstance(spec, dict) or not spec:
                raise HarnessError(f"{doc.where(loc)}: a bound is a mapping with min and/or max.",
                                   hint="Example: `{min: 20.0}`.")
            for key, value in spec.items():
                if key not in ("min", "max"):
                    raise HarnessError(f"{doc.where(loc + (key,))}: unknown bound '{key}'."
                                       f"{did_you_mean(str(key), ['min', 'max'])}", hint="Use min and/or max.")
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise HarnessError(f"{doc.where(loc + (key,))}: {key} must be a number, not {value!r}.")
            bound = Bound(str(metric), spec.get("min"), spec.get("max"))
            if bound.min is not None and bound.max is not None and bound.min > bound.max:
                raise HarnessError(f"{doc.where(loc)}: min {bound.min} is greater than max {bound.max}.")
            bounds.append(bound)
        out[str(target)] = bounds
    return out


def check(runs: pd.DataFrame, thresholds: dict[str, list[Bound]]) -> CheckResult:
    """Every bound against every run it targets."""
    result = CheckResult()
    for target, bounds in thresholds.items():
        if runs.empty:
            chosen = runs
        else:
            chosen = runs[(runs["label"] == target) | (runs["model"] == target)]
        if chosen.empty:
            result.missing.append(f"MISSING {target}: no finished run of this model or sweep point")
            continue
        for bound in bounds:
            if bound.metric not in chosen.columns:
                result.missing.append(f"MISSING {target} {bound.metric}: no run logged this metric")
                continue
            for _, run in chosen.iterrows():
                result.checked += 1
                value = float(run[bound.metric]) if pd.notna(run[bound.metric]) else math.nan
                broken = None
                if math.isnan(value):
                    broken = "no value"
                elif bound.min is not None and value < bound.min:
                    broken = f"min {bound.min}"
                elif bound.max is not None and value > bound.max:
                    broken = f"max {bound.max}"
                if broken:
                    result.violations.append(Violation(target, str(run["label"]), str(run["run_id"]),
                                                       bound.metric, value, broken))
    return result


def format_result(result: CheckResult) -> str:
    lines = []
    for v in result.violations:
        op = "<" if v.bound.startswith("min") else ">" if v.bound.startswith("max") else "has"
        shown = "no value" if math.isnan(v.value) else f"{v.value:.4f}"
        lines.append(f"FAIL {v.label} {v.metric} = {shown} {op} {v.bound} (run {v.run_id})"
                     if op != "has" else f"FAIL {v.label} {v.metric}: no value (run {v.run_id})")
    lines.extend(result.missing)
    verdict = "FAILED" if result.violations else "INCOMPLETE" if result.missing else "OK"
    lines.append(f"{verdict}: {result.checked} bound(s) checked, {len(result.violations)} violated, "
                 f"{len(result.missing)} missing.")
    return "\n".join(lines)


def exit_code(result: CheckResult) -> int:
    if result.violations:
        return 1
    return 2 if result.missing else 0
