"""Evaluation protocols: the resolution at which a run's images are scored, as papers fix it.

A protocol transforms the output and the ground truth alike before every metric sees them:

- `native` (default): the images as they are.
- `resize256`: both resized to 256 x 256 (PIL bicubic on 8-bit RGB), as DDColor's and CT2's
  evaluations do; the aspect ratio is not kept.
- `center_crop256`: the central square (side = the shorter side) resized to 256 x 256 (PIL
  bicubic), the ImageNet val5k protocol of the colorization literature.

COCO's object/background scores and the sample grids stay at native resolution (the masks
are the annotations' own).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PROTOCOLS = ("native", "resize256", "center_crop256")
SIDE = 256


def _resize(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img, "RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC))


def center_square(img: np.ndarray) -> np.ndarray:
    """The central square of an image, its side the shorter side (odd margins leave the extra pixel below/right)."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[top:top + side, left:left + side]


def apply(protocol: str, img: np.ndarray) -> np.ndarray:
    """`img` (H x W x 3 uint8) as `protocol` scores it."""
    if protocol == "native":
        return img
    if protocol == "resize256":
        return _resize(img)
    if protocol == "center_crop256":
        return _resize(np.ascontiguousarray(center_square(img)))
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
