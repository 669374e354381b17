"""The single degradations: blur, noise, compression, resolution and contrast loss.

Severity tables follow ImageNet-C (Hendrycks & Dietterich 2019, the `imagecorruptions`
reference code) where it has the corruption, and Wan et al. 2020 ("Bringing Old Photos Back to
Life", section 3.3) for the old-photo ranges; docs/spec.md lists every number with its source.
Written with numpy, scipy and PIL rather than taken from a library: `imagecorruptions` 1.1.2 (its
last release, 2020) requires opencv-python and draws from numpy's global random state, so its
output depends on the thread order; `albumentations` 2.0 requires opencv-python-headless and
albucore, for a pipeline of RGB augmentations. The harness needs a gray uint8 input, one seeded
`Generator` per image (identical bytes whatever the decoding thread) and no new native
dependency; the ImageNet-C tables are a few numbers, kept here with their source.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

from harness.data.degrade.registry import register_degradation, to_uint8, to_unit

IMAGENET_C = "ImageNet-C (Hendrycks & Dietterich 2019)"
WAN = "Wan et al. 2020, Bringing Old Photos Back to Life"


@register_degradation("gaussian_blur", [{"sigma": s} for s in (1, 2, 3, 4, 6)], IMAGENET_C + ", gaussian_blur")
def gaussian_blur(gray, p, rng):
    """Out-of-focus blur: a Gaussian of standard deviation `sigma` px."""
    return to_uint8(ndimage.gaussian_filter(to_unit(gray), p["sigma"], mode="reflect"))


@register_degradation("motion_blur", [{"radius": r, "sigma": s} for r, s in ((10, 3), (15, 5), (15, 8), (15, 12),
                                                                             (20, 15))],
                      IMAGENET_C + ", motion_blur (radius, sigma); the angle is drawn in U(-45, 45) degrees")
def motion_blur(gray, p, rng):
    """Camera shake: a one-sided line kernel of `radius` px, Gaussian weights of `sigma`, at a seeded angle."""
    radius, sigma = p["radius"], p["sigma"]
    angle = np.deg2rad(rng.uniform(-45, 45))
    size = 2 * radius + 1
    kernel = np.zeros((size, size))
    t = np.arange(radius + 1)
    weights = np.exp(-(t ** 2) / (2 * sigma ** 2))
    for step, w in zip(t, weights):
        kernel[int(round(radius + step * np.sin(angle))), int(round(radius + step * np.cos(angle)))] += w
    kernel /= kernel.sum()
    return to_uint8(ndimage.convolve(to_unit(gray), kernel, mode="reflect"))


_NOISE = [5, 16.25, 27.5, 38.75, 50]  # Wan et al.'s sigma range 5..50 (/255), evenly spaced


@register_degradation("gaussian_noise", [{"sigma": s / 255} for s in _NOISE],
                      WAN + ": Gaussian noise sigma 5-50/255, evenly spaced over the five severities")
def gaussian_noise(gray, p, rng):
    """Additive white Gaussian noise of standard deviation `sigma` (on a 0..1 scale)."""
    x = to_unit(gray)
    return to_uint8(x + rng.normal(0.0, p["sigma"], x.shape))


@register_degradation("speckle_noise", [{"c": c} for c in (0.15, 0.2, 0.35, 0.45, 0.6)], IMAGENET_C + ", speckle_noise")
def speckle_noise(gray, p, rng):
    """Multiplicative noise: x + x * N(0, c)."""
    x = to_unit(gray)
    return to_uint8(x + x * rng.normal(0.0, p["c"], x.shape))


@register_degradation("salt_pepper", [{"amount": a} for a in (0.03, 0.06, 0.09, 0.17, 0.27)],
                      IMAGENET_C + ", impulse_noise (salt and pepper, equal parts)")
def salt_pepper(gray, p, rng):
    """Impulse noise: a fraction `amount` of pixels set to black or white, half each."""
    out = gray.copy()
    hit = rng.random(gray.shape) < p["amount"]
    salt = rng.random(gray.shape) < 0.5
    out[hit & salt] = 255
    out[hit & ~salt] = 0
    return out


@register_degradation("film_grain", [{"sigma": s, "grain": g} for s, g in ((0.03, 0.6), (0.05, 0.8), (0.08, 1.0),
                                                                          (0.11, 1.3), (0.15, 1.6))],
                      "the harness's own table (no benchmark has one): amplitude inside " + WAN
                      + "'s noise range, grain size 0.6-1.6 px")
def film_grain(gray, p, rng):
    """Silver-halide grain: Gaussian noise blurred to `grain` px, strongest in the mid-tones (amplitude `sigma`)."""
    x = to_unit(gray)
    noise = ndimage.gaussian_filter(rng.normal(0.0, 1.0, x.shape), p["grain"], mode="reflect")
    noise /= max(float(noise.std()), 1e-8)
    return to_uint8(x + p["sigma"] * noise * 2.0 * np.sqrt(np.clip(x * (1.0 - x), 0.0, 0.25)))


@register_degradation("jpeg", [{"quality": q} for q in (25, 18, 15, 10, 7)], IMAGENET_C + ", jpeg_compression")
def jpeg(gray, p, rng):
    """JPEG compression at `quality` (PIL's encoder, 4:2:0 does not apply to a gray image)."""
    buf = io.BytesIO()
    Image.fromarray(gray, "L").save(buf, format="JPEG", quality=p["quality"])
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.uint8)


def resample(gray: np.ndarray, factor: float) -> np.ndarray:
    """Bicubic downscale by `factor` and back to the original size."""
    h, w = gray.shape
    small = Image.fromarray(gray, "L").resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BICUBIC)
    return np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.uint8)


@register_degradation("downscale", [{"factor": f} for f in (0.6, 0.5, 0.4, 0.3, 0.25)],
                      IMAGENET_C + ", pixelate factors; resampled bicubic down and back as in " + WAN)
def downscale(gray, p, rng):
    """Low resolution: bicubic downscale by `factor` and back up."""
    return resample(gray, p["factor"])


@register_degradation("fade", [{"c": c} for c in (0.4, 0.3, 0.2, 0.1, 0.05)], IMAGENET_C + ", contrast")
def fade(gray, p, rng):
    """Contrast loss: (x - mean) * c + mean."""
    x = to_unit(gray)
    mean = x.mean()
    return to_uint8((x - mean) * p["c"] + mean)
