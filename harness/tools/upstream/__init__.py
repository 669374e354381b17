"""The upstream reference of each built-in family on the harness's own weights, for `harness bench
--vs-upstream` and the parity tests.

Upstream code is never part of a model: `one_image(cls, weights, params, device)` builds the
family's upstream one-image pipeline (DeOldify from the `deoldify` package, Zhang et al.'s and
DDColor's and ColorFormer's from the reference folder, `reference`) and returns gray H x W uint8 -> RGB H x W x 3
uint8.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from harness.errors import HarnessError


def one_image(cls, weights: Path, params: BaseModel, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """Upstream's one-image pipeline for model class `cls` with `params` on `weights`."""
    family = cls.variant.family if cls.variant is not None else cls.name
    if family == "deoldify":
        from harness.tools.upstream import deoldify

        return deoldify.one_image(cls.variant.architecture, weights, params.render_factor, params.post_process,
                                  device)
    if family == "zhang":
        from harness.tools.upstream import zhang

        return zhang.one_image(cls.variant.architecture, Path(weights), device)
    if family == "ddcolor":
        from harness.tools.upstream import ddcolor

        return ddcolor.one_image(Path(weights), params.size, params.input_size, device)
    if family == "colorformer":
        from harness.tools.upstream import colorformer

        return colorformer.one_image(Path(weights), params.input_size, device)
    raise HarnessError(f"No upstream reference is wired up for {cls.name}.",
                       hint="--vs-upstream knows DeOldify, Zhang et al., DDColor and ColorFormer.")
