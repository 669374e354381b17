"""The gray input every model gets: ITU-R 601 luma, the conversion DeOldify itself applies.

One definition for the whole harness (datasets, the pipeline, temporal scores, films,
benchmarks), so a model sees exactly what it would see on a real old photo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma as PIL computes it ('L' mode): the model's gray input."""
    return np.asarray(Image.fromarray(rgb, "RGB").convert("L"), dtype=np.uint8)
