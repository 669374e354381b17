"""A metric registered from outside the package, loaded only through HARNESS_PLUGINS (subprocess tests)."""

from __future__ import annotations

from harness.metrics import register_metric


@register_metric("plugin_mean_gap", higher_is_better=False)
def plugin_mean_gap(gt, out) -> float:
    """Absolute difference of the mean grey level of ground truth and output."""
    return abs(float(gt.mean()) - float(out.mean()))
