"""Reference models that need no weights.

`grayscale` returns the gray input as RGB: the floor every colorizer must beat, and the
reference every report compares against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.models.base import Colorizer
from harness.models.registry import register_model


@register_model("grayscale")
class GrayscaleBaseline(Colorizer):
    """Identity baseline: the gray input replicated into three channels."""

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.repeat(np.asarray(g, dtype=np.uint8)[..., None], 3, axis=2) for g in grays]
