"""The degradations of the physical print: scratches and dust, halftone, sepia toning, and
`old_photo`, a seeded mix after Wan et al. 2020's recipe (docs/spec.md has the tables)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from harness.data.degrade.ops import WAN, jpeg, resample
from harness.data.degrade.registry import register_degradation, to_uint8, to_unit
from harness.gray import to_gray

OWN = "the harness's own table"


@register_degradation("scratches", [{"lines": n, "dust": d} for n, d in ((2, 20), (4, 50), (8, 100), (12, 200),
                                                                         (20, 400))],
                      OWN + " (Wan et al. paste scanned scratch textures, which are not redistributable): "
                      "scratch lines and dust specks per image")
def scratches(gray, p, rng):
    """Scratches and dust: `lines` thin bright or dark curves and `dust` specks, drawn at seeded places."""
    h, w = gray.shape
    x = to_unit(gray)
    mask = np.zeros((h, w))
    value = np.zeros((h, w))
    for _ in range(p["lines"]):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.2, 0.9) * max(h, w)
        bend = rng.normal(0, 0.002)
        t = np.linspace(0, length, int(length) + 1)
        xs = x0 + t * np.cos(angle + bend * t)
        ys = y0 + t * np.sin(angle + bend * t)
        keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        mask[ys[keep].astype(int), xs[keep].astype(int)] = rng.uniform(0.5, 1.0)
        value[ys[keep].astype(int), xs[keep].astype(int)] = float(rng.random() < 0.8)  # mostly white (emulsion off)
    for _ in range(p["dust"]):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.5, 2.5)
        ys, xs = np.ogrid[max(0, int(cy - r)):min(h, int(cy + r) + 1), max(0, int(cx - r)):min(w, int(cx + r) + 1)]
        disk = (ys - cy) ** 2 + (xs - cx) ** 2 <= r * r
        mask[ys, xs] = np.where(disk, 1.0, mask[ys, xs])
        value[ys, xs] = np.where(disk, float(rng.random() < 0.5), value[ys, xs])
    mask = np.clip(ndimage.gaussian_filter(mask, 0.5) * 2.0, 0.0, 1.0)
    return to_uint8(x * (1.0 - mask) + value * mask)


@register_degradation("halftone", [{"cell": c} for c in (3, 4, 5, 6, 8)],
                      OWN + ": a 45-degree clustered-dot screen, cell size in px (newspaper prints)")
def halftone(gray, p, rng):
    """A printed halftone: a 45-degree clustered-dot screen of `cell` px, rescanned (blur 0.5 px)."""
    h, w = gray.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    offset = rng.uniform(0, p["cell"], 2)
    u = (xs + ys + offset[0]) / np.sqrt(2) * 2 * np.pi / p["cell"]
    v = (xs - ys + offset[1]) / np.sqrt(2) * 2 * np.pi / p["cell"]
    screen = (np.cos(u) * np.cos(v) + 1.0) / 2.0  # 0..1
    ink = (to_unit(gray) > screen).astype(np.float64)
    return to_uint8(ndimage.gaussian_filter(ink, 0.5, mode="reflect"))


_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])  # the common sepia matrix


@register_degradation("sepia", [{"tone": t, "lift": lf, "c": c} for t, lf, c in ((0.2, 0.03, 0.95), (0.4, 0.06, 0.9),
                                                                                (0.6, 0.09, 0.85), (0.8, 0.12, 0.8),
                                                                                (1.0, 0.16, 0.75))],
                      OWN + ": the common sepia matrix mixed in by `tone`, paper-base lift of the blacks and contrast c")
def sepia(gray, p, rng):
    """A toned print: sepia-toned (mixed by `tone`), blacks lifted, contrast `c`; the model gets its luma."""
    x = to_unit(gray)
    rgb = np.repeat(x[..., None], 3, axis=2)
    toned = (1 - p["tone"]) * rgb + p["tone"] * np.clip(rgb @ _SEPIA.T, 0.0, 1.0)
    toned = p["lift"] + (toned - 0.5) * p["c"] + 0.5 * (1 - p["lift"])
    return to_gray(to_uint8(np.clip(toned, 0.0, 1.0)))


@register_degradation("old_photo", [{"t": t} for t in (0.2, 0.4, 0.6, 0.8, 1.0)],
                      WAN + ": blur sigma in U(1, 1+4t) (kernel 3/5/7), noise sigma in U(5, 5+45t)/255, bicubic "
                      "downscale in U(1-0.5t, 1), JPEG quality in U(100-60t, 100); each applied with "
                      "probability 0.7 in a seeded order, then fading and scratches from severity 3")
def old_photo(gray, p, rng):
    """A seeded mix after Wan et al.'s recipe: blur, noise, downscale and JPEG at severity's share `t` of their ranges."""
    t = p["t"]
    x = gray

    def blur(img):
        kernel = int(rng.choice([3, 5, 7]))
        sigma = rng.uniform(1, 1 + 4 * t)
        return to_uint8(ndimage.gaussian_filter(to_unit(img), sigma, truncate=(kernel // 2) / sigma))

    def noise(img):
        return to_uint8(to_unit(img) + rng.normal(0.0, rng.uniform(5, 5 + 45 * t) / 255, img.shape))

    def down(img):
        return resample(img, rng.uniform(1 - 0.5 * t, 1))

    def compress(img):
        return jpeg(img, {"quality": int(round(rng.uniform(100 - 60 * t, 100)))}, rng)

    steps = [blur, noise, down, compress]
    for i in rng.permutation(len(steps)):
        if rng.random() < 0.7:
            x = steps[i](x)
    if t >= 0.6:
        y = to_unit(x)
        x = to_uint8((y - y.mean()) * (1 - 0.4 * t) + y.mean() + 0.05 * t)
        x = scratches(x, {"lines": int(10 * t), "dust": int(100 * t)}, rng)
    return x
