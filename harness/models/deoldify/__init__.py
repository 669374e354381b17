"""DeOldify's three official generators as one harness model family.

`deoldify-artistic` (resnet34 "deep" U-Net, default render_factor 35), `deoldify-stable`
(resnet101 "wide" U-Net, 35) and `deoldify-video` (Stable's architecture with its own
weights, 21): rows of `models/variants.py`. Importing this module is cheap: networks are
built, and weights loaded, when a model is constructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from harness.config.params import Strict
from harness.models.base import Colorizer
from harness.models.registry import register_model


class DeOldifyParams(Strict):
    """Spec parameters of every DeOldify variant (render_factor's default is the variant's)."""
    render_factor: int = Field(35, ge=1, le=64, description="Square side = 16 x render_factor pixels.")
    post_process: bool = Field(True, description="Keep the input's luminance, take chroma from the model.")
    weights: Path | None = Field(None, description="Weights file; default: the official file in the cache.")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    exact: bool = Field(False, description="Upstream's computation order: one image per forward pass in the "
                                           "default memory layout, fp32. Bit-identical to upstream on the CPU, "
                                           "and slower; the default runs the batch in one channels-last pass.")

    @model_validator(mode="after")
    def _exact_is_fp32(self):
        if self.exact and self.precision != "fp32":
            raise ValueError("exact: true reproduces upstream, which runs in fp32; use precision: fp32")
        return self


@register_model("deoldify")
class DeOldify(Colorizer):
    """A DeOldify generator (the variant's architecture) with upstream's pre- and post-processing."""

    Params = DeOldifyParams

    def __init__(self, params: DeOldifyParams, device: str = "cpu"):
        super().__init__(params, device)
        from harness.models.deoldify import engine, unet

        self._arch = unet.ARCHITECTURES[self.variant.architecture]
        self._weights = self.preflight(params)
        net = engine.load_generator(self._arch, self._weights, device, self.name)
        self._engine = engine.Engine(net, device, params.render_factor, params.precision, params.post_process,
                                     exact=params.exact)

    @classmethod
    def write_random_weights(cls, path: Path, params: DeOldifyParams | None = None, seed: int = 0) -> Path:
        from harness.models.deoldify import checkpoint, unet

        net = checkpoint.randomize_(unet.build(unet.ARCHITECTURES[cls.variant.architecture]), seed=seed)
        return checkpoint.save_fastai(net, Path(path))

    @classmethod
    def network(cls, params: DeOldifyParams):
        from harness.models.deoldify import unet

        size = 16 * params.render_factor
        return unet.build(unet.ARCHITECTURES[cls.variant.architecture]), (1, 3, size, size)

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self._engine.colorize(grays)

    def stage_seconds(self) -> dict[str, float]:
        return dict(self._engine.seconds)

    def describe(self) -> dict[str, str]:
        return {"weights_path": str(self._weights), "render_size": str(self._engine.size),
                "architecture": f"{self._arch.backbone} {self._arch.name} nf_factor {self._arch.nf_factor}",
                "memory_format": "contiguous" if self.params.exact else "channels_last"}

    def describe_run(self) -> dict[str, str]:
        return self._engine.batching()

    def warnings(self) -> list[str]:
        return self._engine.warnings()
