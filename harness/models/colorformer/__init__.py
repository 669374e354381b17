"""ColorFormer (Ji et al., ECCV 2022) as a harness model: a plain-PyTorch re-implementation.

GLH-Transformer encoder (a Swin-T layout with global tokens), U-Net decoder, colour memory
and refinement, as upstream's `ColorFormer('GLHTransformer', num_output_channels=2,
last_norm='Spectral')`; the official checkpoint is `net_g_200000.pth` (BasicSR's
{'params': ...}), which also holds the colour memory's centres. `input_size` is the square
side the network sees (256: upstream's training and inference default). Importing this
module is cheap: the network is built, and weights loaded, when a model is constructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from harness.config.params import Strict
from harness.models.base import Colorizer
from harness.models.registry import register_model


class ColorFormerParams(Strict):
    """Spec parameters of ColorFormer."""
    input_size: int = Field(256, ge=32, le=2048, multiple_of=32,
                            description="Square side of the network input, a multiple of 32 (the encoder "
                                        "downsamples 32x); 256 upstream's default and training size.")
    weights: Path | None = Field(None, description="Weights file (net_g_*.pth); default: the official file in "
                                                   "the cache.")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    exact: bool = Field(False, description="Upstream's resize (OpenCV, on the host); the default resizes as a "
                                           "torch operation on the model's device (a grey level of input here and "
                                           "there, a few levels of output on a few pixels).")


@register_model("colorformer")
class ColorFormer(Colorizer):
    """ColorFormer with upstream's pre- and post-processing, ab resized back to the image's size."""

    Params = ColorFormerParams

    def __init__(self, params: ColorFormerParams, device: str = "cpu"):
        super().__init__(params, device)
        from harness.models.colorformer import engine

        self._weights = self.preflight(params)
        net = engine.cached_network(self._weights, device, self.name)
        self._engine = engine.Engine(net, device, params.input_size, params.precision, exact=params.exact)

    @classmethod
    def write_random_weights(cls, path: Path, params: ColorFormerParams | None = None, seed: int = 0) -> Path:
        from harness.models.colorformer.checkpoint import write_random

        return write_random(Path(path), seed=seed)

    @classmethod
    def network(cls, params: ColorFormerParams):
        from harness.models.colorformer.network import build

        return build(), (1, 3, params.input_size, params.input_size)

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self._engine.colorize(grays)

    def stage_seconds(self) -> dict[str, float]:
        return dict(self._engine.seconds)

    def describe(self) -> dict[str, str]:
        return {"weights_path": str(self._weights), "input_size": str(self.params.input_size),
                "architecture": "ColorFormer (GLH-Transformer encoder, colour memory of 512 semantic centres)"}

    def describe_run(self) -> dict[str, str]:
        return self._engine.batching()

    def warnings(self) -> list[str]:
        return self._engine.warnings()

    def close(self) -> None:
        """Nothing to free: the network stays cached for the next sweep point (an input_size sweep loads once)."""
