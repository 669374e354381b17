"""The metrics' batched torch forms, to score on the device where the model runs.

Same definitions as the per-image references in `harness.metrics.image` (tests hold them
to 1e-6, CIEDE2000 to 1e-4): at GPU speed, CPU scoring (SSIM alone ~65 ms per 640x480
pair) would dominate a run. Inputs are uint8 tensors of shape (B, H, W, 3), one size per
batch; outputs are float64 tensors of shape (B,). Arithmetic is float64 for parity. The
metric definitions name these functions as their `batched` form; this module is imported
only when one is called (torch is heavy).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from harness.metrics.constants import PSNR_CAP, SSIM_WIN

_XYZ_FROM_RGB = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_D65 = (0.95047, 1.0, 1.08883)


def _f64(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64)


def psnr(gt: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """PSNR per image (data_range 255), capped at PSNR_CAP like `harness.metrics.image.psnr`."""
    mse = (_f64(gt) - _f64(out)).pow(2).flatten(1).mean(1)
    value = 10.0 * torch.log10((255.0 ** 2) / mse)
    return torch.clamp(torch.nan_to_num(value, posinf=PSNR_CAP), max=PSNR_CAP)


def ssim(gt: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """SSIM per image as scikit-image's default: 7x7 uniform window, sample covariance,
    K1=0.01, K2=0.03, data_range=255, border of 3 px cropped, mean over pixels and channels.

    The cropped border is exactly the set of pixels whose window would need padding, so a
    'valid' box filter gives the kept pixels without any padding convention.
    """
    x = _f64(gt).permute(0, 3, 1, 2)
    y = _f64(out).permute(0, 3, 1, 2)
    if min(x.shape[-2:]) < SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {SSIM_WIN}x{SSIM_WIN} pixels")
    box = lambda t: F.avg_pool2d(t, SSIM_WIN, stride=1)  # noqa: E731
    n = SSIM_WIN * SSIM_WIN
    cov_norm = n / (n - 1)
    ux, uy = box(x), box(y)
    vx = cov_norm * (box(x * x) - ux * ux)
    vy = cov_norm * (box(y * y) - uy * uy)
    vxy = cov_norm * (box(x * y) - ux * uy)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def _colorfulness(img: torch.Tensor, absolute: bool) -> torch.Tensor:
    x = _f64(img).flatten(1, 2)  # (B, N, 3)
    r, g, b = x.unbind(-1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    if absolute:
        rg, yb = rg.abs(), yb.abs()
    sigma = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mu = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return sigma + 0.3 * mu


def colorfulness(img: torch.Tensor) -> torch.Tensor:
    """The literature's colourfulness (absolute opponent values) per image, population std."""
    return _colorfulness(img, absolute=True)


def colorfulness_hs(img: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) as published (signed opponent values) per image, population std."""
    return _colorfulness(img, absolute=False)


def rgb_to_lab(img: torch.Tensor) -> torch.Tensor:
    """sRGB uint8 (..., 3) -> CIE Lab (D65, 2 degree observer), scikit-image's `rgb2lab`."""
    x = _f64(img) / 255.0
    x = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    m = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64, device=x.device)
    xyz = (x @ m.T) / torch.tensor(_D65, dtype=torch.float64, device=x.device)
    xyz = torch.where(xyz > 0.008856, torch.pow(xyz.clamp(min=0), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = xyz.unbind(-1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-1)


def _polar(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = torch.atan2(b, a)
    return torch.hypot(a, b), torch.where(h < 0, h + 2 * math.pi, h)


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference per pixel (kL = kC = kH = 1), as scikit-image computes it."""
    l1, a1, b1 = lab1.unbind(-1)
    l2, a2, b2 = lab2.unbind(-1)
    cbar = 0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))
    c7 = cbar ** 7
    scale = 1 + 0.5 * (1 - torch.sqrt(c7 / (c7 + 25.0 ** 7)))
    c1, h1 = _polar(a1 * scale, b1)
    c2, h2 = _polar(a2 * scale, b2)
    lbar = 0.5 * (l1 + l2)
    tmp = (lbar - 50) ** 2
    l_term = (l2 - l1) / (1 + 0.015 * tmp / torch.sqrt(20 + tmp))
    cbar = 0.5 * (c1 + c2)
    c_term = (c2 - c1) / (1 + 0.045 * cbar)
    h_diff, h_sum, cc = h2 - h1, h1 + h2, c1 * c2
    dh = torch.where(h_diff > math.pi, h_diff - 2 * math.pi, torch.where(h_diff < -math.pi, h_diff + 2 * math.pi, h_diff))
    dh = torch.where(cc == 0, torch.zeros_like(dh), dh)
    dh_term = 2 * torch.sqrt(cc) * torch.sin(dh / 2)
    wrap = (cc != 0) & (h_diff.abs() > math.pi)
    hbar = torch.where(wrap & (h_sum < 2 * math.pi), h_sum + 2 * math.pi,
                       torch.where(wrap & (h_sum >= 2 * math.pi), h_sum - 2 * math.pi, h_sum))
    hbar = torch.where(cc == 0, hbar * 2, hbar) * 0.5
    t = (1 - 0.17 * torch.cos(hbar - math.radians(30)) + 0.24 * torch.cos(2 * hbar)
         + 0.32 * torch.cos(3 * hbar + math.radians(6)) - 0.20 * torch.cos(4 * hbar - math.radians(63)))
    h_term = dh_term / (1 + 0.015 * cbar * t)
    c7 = cbar ** 7
    rc = 2 * torch.sqrt(c7 / (c7 + 25.0 ** 7))
    dtheta = math.radians(30) * torch.exp(-(((torch.rad2deg(hbar) - 275) / 25) ** 2))
    r_term = -torch.sin(2 * dtheta) * rc * c_term * h_term
    return torch.sqrt(torch.clamp(l_term ** 2 + c_term ** 2 + h_term ** 2 + r_term, min=0))


def delta_e(gt: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 over pixels per image."""
    return ciede2000(rgb_to_lab(gt), rgb_to_lab(out)).flatten(1).mean(1)


def colorfulness_pair(gt: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
    """The `colorfulness` metric's columns: of the output and of the ground truth."""
    return {"colorfulness": colorfulness(out), "colorfulness_gt": colorfulness(gt)}


def colorfulness_hs_pair(gt: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
    """The `colorfulness_hs` metric's columns."""
    return {"colorfulness_hs": colorfulness_hs(out), "colorfulness_hs_gt": colorfulness_hs(gt)}
