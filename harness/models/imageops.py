"""The image operations of the models' default pipelines, as torch operations on the model's device.

The default (non-`exact`) mode of DeOldify, Zhang and DDColor resizes, converts colour spaces
and recombines channels with these functions, on whatever device the network runs on, so
the GPU path is the code the CPU tests run. They follow upstream's PIL and OpenCV steps
closely, 8-bit rounding included where upstream rounds (PIL's separable resize stores each
pass in 8 bits; OpenCV's 8-bit YUV is fixed-point arithmetic, reproduced here exactly), so
the difference from upstream is float rounding: a grey level here and there, bounded by the
parity tests. Images are (N, C, H, W) float32 tensors of grey levels (0..255) unless stated.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F


def upload(gray: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """An H x W uint8 image as (1, 1, H, W) float32 grey levels on `device` (pinned copy on CUDA)."""
    gray = np.ascontiguousarray(gray)
    host = torch.from_numpy(gray if gray.flags.writeable else gray.copy())
    if torch.device(device).type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True).to(torch.float32)[None, None]


def levels(x: torch.Tensor) -> torch.Tensor:
    """Rounded (half up, as PIL's fixed point rounds) to whole grey levels and clamped to 0..255."""
    return x.add(0.5).floor_().clamp_(0, 255)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str, *, antialias: bool = False) -> torch.Tensor:
    """`F.interpolate` to (height, width), half-pixel centres (OpenCV's and torch's convention)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    corners = None if mode == "nearest" else False
    return F.interpolate(x, size=size, mode=mode, align_corners=corners, antialias=antialias)


def _bilinear(x: np.ndarray) -> np.ndarray:
    return np.clip(1 - np.abs(x), 0, None)


def _bicubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


#: PIL's filters and their supports
_FILTERS = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0)}


@functools.lru_cache(maxsize=64)
def _pil_taps(n_in: int, n_out: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """PIL's resampling taps for one axis (`precompute_coeffs`, `normalize_coeffs_8bpc`): source indices
    and 22-bit fixed-point weights, (n_out, taps) each, int64 (unused taps: weight 0)."""
    fn, support = _FILTERS[mode]
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support *= fscale
    taps = int(math.ceil(support)) * 2 + 1
    center = (np.arange(n_out) + 0.5) * scale
    lo = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int) truncates toward zero
    hi = np.minimum((center + support + 0.5).astype(np.int64), n_in)
    index = lo[:, None] + np.arange(taps)[None, :]
    weight = np.where(index < hi[:, None], fn((index - center[:, None] + 0.5) / fscale), 0.0)
    total = weight.sum(axis=1, keepdims=True)
    weight = np.divide(weight, total, out=weight, where=total != 0)
    fixed = np.where(weight < 0, np.trunc(-0.5 + weight * (1 << 22)), np.trunc(0.5 + weight * (1 << 22)))
    return np.minimum(index, n_in - 1), fixed.astype(np.int64)


def _pil_pass(x: torch.Tensor, n_out: int, dim: int, mode: str) -> torch.Tensor:
    """One 8-bit resampling pass of PIL along `dim` (-1 or -2) of float64 levels, integer for integer: a
    sum over the filter's taps of gathered source rows or columns times their weights (exact in float64:
    8-bit values times 22-bit weights, summed, stay far below 2^53)."""
    index, weight = (torch.from_numpy(t).to(x.device) for t in _pil_taps(x.shape[dim], n_out, mode))
    weight = weight.to(torch.float64)
    acc = None
    for k in range(index.shape[1]):
        w = weight[:, k] if dim == -1 else weight[:, k, None]
        term = x.index_select(dim, index[:, k]).mul_(w)
        acc = term if acc is None else acc.add_(term)
    return acc.add_(1 << 21).div_(1 << 22).floor_().clamp_(0, 255)


def resize_like_pil(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """PIL's `Image.resize` of an 8-bit image (bilinear, or bicubic with a = -0.5), exactly: each
    pass PIL's filter (widened by the scale when shrinking) in 22-bit fixed point, stored in 8 bits.

    Pillow runs the horizontal pass first, except (Pillow 13) for some shrinking shapes: always
    where only the height shrinks, and, where both shrink, mostly where the vertical pass leaves
    the smaller intermediate image, the rule used here; the rare shape it misses differs by a grey
    level on ~15% of its pixels. Levels in, levels out (float32).
    """
    (h, w), (h_in, w_in) = size, x.shape[-2:]
    levels_in = x.to(torch.float64)
    vertical_first = h < h_in and (w >= w_in or h * w_in < h_in * w)
    order = ((-2, h), (-1, w)) if vertical_first else ((-1, w), (-2, h))
    for dim, n in order:
        if levels_in.shape[dim] != n:
            levels_in = _pil_pass(levels_in, n, dim, mode)
    return levels_in.to(torch.float32)


def _shift14(x: torch.Tensor) -> torch.Tensor:
    """OpenCV's fixed-point descale: (x + 2^13) >> 14 (an arithmetic shift: floor)."""
    return torch.bitwise_right_shift(x + (1 << 13), 14)


def keep_luma(gray: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """RGB with `gray` as its Y and `rgb`'s U and V: OpenCV's 8-bit RGB2YUV and YUV2RGB, integer for
    integer (BT.601 coefficients in 14-bit fixed point). `gray` (N, 1, H, W) and `rgb` (N, 3, H, W)
    are whole grey levels; the result too."""
    r, g, b = rgb.to(torch.int32).unbind(1)
    y = _shift14(r * 4899 + g * 9617 + b * 1868)
    u = (_shift14((b - y) * 8061) + 128).clamp_(0, 255) - 128
    v = (_shift14((r - y) * 14369) + 128).clamp_(0, 255) - 128
    y = gray[:, 0].to(torch.int32)
    out = torch.stack([y + _shift14(v * 18678), y + _shift14(u * -6472 + v * -9519), y + _shift14(u * 33292)], 1)
    return out.clamp_(0, 255).to(torch.float32)


def _gamma(linear: torch.Tensor) -> torch.Tensor:
    """Linear RGB in [0, 1] -> sRGB in [0, 1]."""
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * linear)


#: skimage's rgb_from_xyz (the inverse of its xyz_from_rgb) with its D65 white point folded in
_SKIMAGE = np.linalg.inv(np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                                   [0.019334, 0.119193, 0.950227]])) * np.array([0.95047, 1.0, 1.08883])
#: OpenCV's XYZ -> sRGB (D65) matrix with its white point folded in
_OPENCV = np.array([[3.240479, -1.53715, -0.498535], [-0.969256, 1.875991, 0.041556],
                    [0.055648, -0.204043, 1.057311]]) * np.array([0.950456, 1.0, 1.088754])


def _finv(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > 6 / 29, f ** 3, (f - 16 / 116) / 7.787)


def lab_to_rgb(lab: torch.Tensor, convention: str = "skimage") -> torch.Tensor:
    """CIE Lab (N, 3, H, W; L in 0..100) -> sRGB in [0, 1], float32, clipped.

    `skimage`: scikit-image's `lab2rgb` (negative Z set to 0, its white point and matrix);
    `opencv`: OpenCV's float `COLOR_Lab2RGB` (linear segment for L below 8, its constants).
    """
    light, a, b = lab.to(torch.float32).unbind(1)
    fy = (light + 16) / 116
    if convention == "skimage":
        x, y, z = _finv(a / 500 + fy), _finv(fy), _finv((fy - b / 200).clamp(min=0))
        matrix = _SKIMAGE
    else:
        y = torch.where(light <= 903.3 * 0.008856, light / 903.3, fy ** 3)
        fy = torch.where(light <= 903.3 * 0.008856, 7.787 * y + 16 / 116, fy)
        x, z = _finv(a / 500 + fy), _finv(fy - b / 200)
        matrix = _OPENCV
    m = torch.as_tensor(matrix, dtype=torch.float32, device=lab.device)
    rgb = torch.einsum("ij,njhw->nihw", m, torch.stack([x, y, z], 1))
    return _gamma(rgb).clamp_(0, 1)


def to_host(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) whole grey levels -> H x W x 3 uint8 on the CPU."""
    return x[0].permute(1, 2, 0).to(torch.uint8).contiguous().cpu().numpy()  # H x W x 3, C-contiguous
