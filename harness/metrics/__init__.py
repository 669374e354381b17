"""Image quality metrics: one definition per metric, a registry, and run-level summaries.

`registry` holds the `Metric` interface and `register_metric`; `image` defines the
built-in per-image metrics, `perceptual` LPIPS and `fid` FID and KID (importing them
registers them; none imports torch until it scores); `kernels` has the per-image metrics'
batched torch forms; `summary` aggregates per-image values into run-level numbers and knows
the direction of every summary key; `protocols` are the papers' evaluation resolutions.
"""

from harness.metrics import fid as _fid  # noqa: F401 - registers the built-in metrics
from harness.metrics import image as _image  # noqa: F401
from harness.metrics import perceptual as _perceptual  # noqa: F401
from harness.metrics import protocols
from harness.metrics.constants import MIN_SIDE, PSNR_CAP
from harness.metrics.image import colorfulness, colorfulness_hs, delta_e, psnr, ssim
from harness.metrics.registry import (
                                      Derived,
                                      Metric,
                                      MetricChoice,
                                      build_metrics,
                                      choices,
                                      get_metric,
                                      metric_names,
                                      register_metric,
)
from harness.metrics.summary import STATS, ci_columns, higher_is_better, summarize, summarize_run

__all__ = ["MIN_SIDE", "PSNR_CAP", "STATS", "protocols", "Derived", "Metric", "MetricChoice", "build_metrics", "choices",
           "ci_columns",
           "colorfulness", "colorfulness_hs", "delta_e", "get_metric", "higher_is_better", "metric_names", "psnr",
           "register_metric", "ssim", "summarize", "summarize_run"]
