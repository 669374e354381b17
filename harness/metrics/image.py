"""The per-image metrics: PSNR, SSIM, colourfulness and CIEDE2000, each defined once.

Each is one registered function, the reference form (scikit-image's where one exists),
with its batched torch form from `kernels` for scoring on the model's device. Scores are
computed in RGB against the ground truth, never on luma alone: DeOldify keeps the input
luminance, so luma metrics would be near-perfect by construction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.metrics.constants import PSNR_CAP
from harness.metrics.registry import Derived, register_metric


def _kernel(name: str) -> Callable:
    """The batched form `harness.metrics.kernels.<name>`, imported on first call (torch is heavy)."""

    def run(gt, out):
        from harness.metrics import kernels

        return getattr(kernels, name)(gt, out)

    run.__name__ = f"kernels.{name}"
    return run


@register_metric("psnr", higher_is_better=True, batched=_kernel("psnr"))
def psnr(gt: np.ndarray, out: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels (data range 255), capped at 100 dB (identical images) so means stay finite."""
    from skimage.metrics import peak_signal_noise_ratio

    if gt.shape == out.shape and np.array_equal(gt, out):
        return PSNR_CAP  # skimage would divide by zero and warn
    return float(min(peak_signal_noise_ratio(gt, out, data_range=255), PSNR_CAP))


@register_metric("ssim", higher_is_better=True, batched=_kernel("ssim"))
def ssim(gt: np.ndarray, out: np.ndarray) -> float:
    """Structural similarity, scikit-image defaults (7x7 window), per channel then averaged."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(gt, out, channel_axis=-1, data_range=255))


def colorfulness(img: np.ndarray) -> float:
    """Colourfulness of an 8-bit sRGB image (any shape ending in 3) as the colorization literature
    computes it: Hasler & Süsstrunk's formula on *absolute* opponent values.

    rg = |R - G|, yb = |(R + G) / 2 - B| per pixel; M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2)
    with population standard deviations s and means m. This is pyimagesearch's implementation,
    reused verbatim by DDColor (basicsr/metrics/colorfulness.py) and most colorization papers'
    evaluation scripts; the paper's signed form is `colorfulness_hs`. Gray images score 0.
    """
    return _hasler(img, absolute=True)


def colorfulness_hs(img: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness exactly as published: *signed* opponent values.

    rg = R - G, yb = (R + G) / 2 - B per pixel; M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2).
    """
    return _hasler(img, absolute=False)


def _hasler(img: np.ndarray, *, absolute: bool) -> float:
    """M = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2) on signed or absolute opponent values."""
    x = np.asarray(img, dtype=np.float64).reshape(-1, 3)
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    if absolute:
        rg, yb = np.abs(rg), np.abs(yb)
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _delta(column: str):
    def compute(summary: dict[str, float]) -> float:
        return abs(summary[f"{column}_mean"] - summary[f"{column}_gt_mean"])

    return compute


@register_metric(
    "colorfulness", higher_is_better=None, columns=("colorfulness", "colorfulness_gt"),
    batched=_kernel("colorfulness_pair"),
    derived={"cf_delta": Derived(False, _delta("colorfulness"), "|mean colourfulness of outputs - of ground truths|")},
    description="colourfulness (the literature's absolute-value form) of the output and of the ground truth "
                "(colorfulness_gt), neither direction better; cf_delta = |difference of their means|, lower is better")
def colorfulness_pair(gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Colourfulness of the output and of the ground truth: a model should match nature's, not exceed it."""
    return {"colorfulness": colorfulness(out), "colorfulness_gt": colorfulness(gt)}


@register_metric(
    "colorfulness_hs", higher_is_better=None, columns=("colorfulness_hs", "colorfulness_hs_gt"),
    batched=_kernel("colorfulness_hs_pair"),
    derived={"cf_delta_hs": Derived(False, _delta("colorfulness_hs"), "cf_delta with the signed (published) formula")},
    description="Hasler & Süsstrunk's colourfulness as published (signed opponent values), of the output and of "
                "the ground truth; cf_delta_hs = |difference of their means|, lower is better")
def colorfulness_hs_pair(gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """The signed (published) colourfulness of the output and of the ground truth."""
    return {"colorfulness_hs": colorfulness_hs(out), "colorfulness_hs_gt": colorfulness_hs(gt)}


@register_metric("delta_e", higher_is_better=False, batched=_kernel("delta_e"))
def delta_e(gt: np.ndarray, out: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over pixels (scikit-image, Lab under D65)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(np.mean(deltaE_ciede2000(rgb2lab(gt), rgb2lab(out))))
