"""DDColor (Kang et al., ICCV 2023) as a harness model: a plain-PyTorch re-implementation.

`size` picks the encoder (large: ConvNeXt-L, DDColor-L; tiny: ConvNeXt-T, DDColor-T) and
`weights_variant` one of the authors' published checkpoints: paper, modelscope (the
authors' default), artistic (all DDColor-L) or paper_tiny (DDColor-T). `input_size` is
the square side the network sees (512 upstream's default, 256 in the paper's evaluation);
a sweep over it reuses one loaded network. Importing this module is cheap: networks are
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

#: the checkpoints each size can load
VARIANTS_BY_SIZE = {"large": ("paper", "modelscope", "artistic"), "tiny": ("paper_tiny",)}
DEFAULT_VARIANT = {"large": "modelscope", "tiny": "paper_tiny"}


class DDColorParams(Strict):
    """Spec parameters of DDColor."""
    size: Literal["large", "tiny"] = Field("large", description="Encoder: large = ConvNeXt-L, tiny = ConvNeXt-T.")
    weights_variant: Literal["paper", "modelscope", "artistic", "paper_tiny"] | None = Field(
        None, description="Published checkpoint: paper, modelscope or artistic (size large; default modelscope), "
                          "paper_tiny (size tiny, its default).")
    input_size: int = Field(512, ge=32, le=2048, multiple_of=32,
                            description="Square side of the network input, a multiple of 32 (the encoder "
                                        "downsamples 32x); 512 upstream's default, 256 the paper's evaluation.")
    weights: Path | None = Field(None, description="Weights file; default: the official file in the cache.")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    exact: bool = Field(False, description="Upstream's pre- and post-processing (OpenCV) on the host, as upstream "
                                           "orders them; the default does them as torch operations on the "
                                           "model's device, within a grey level or two of upstream.")

    @model_validator(mode="after")
    def _variant_fits_size(self):
        if self.weights_variant is None:
            self.weights_variant = DEFAULT_VARIANT[self.size]
        elif self.weights_variant not in VARIANTS_BY_SIZE[self.size]:
            fits = " or ".join(VARIANTS_BY_SIZE[self.size])
            other = "tiny" if self.size == "large" else "large"
            raise ValueError(f"weights_variant {self.weights_variant!r} is a DDColor-{other[0].upper()} checkpoint "
                             f"and does not fit size {self.size!r} (size {self.size!r} takes {fits}; "
                             f"{self.weights_variant!r} needs size {other!r})")
        return self


@register_model("ddcolor")
class DDColor(Colorizer):
    """DDColor with upstream's pre- and post-processing, the batch in one forward pass."""

    Params = DDColorParams

    def __init__(self, params: DDColorParams, device: str = "cpu"):
        super().__init__(params, device)
        from harness.models.ddcolor import engine

        self._weights = self.preflight(params)
        net = engine.cached_network(params.size, self._weights, device, self.name)
        self._engine = engine.Engine(net, device, params.input_size, params.precision, exact=params.exact)

    @classmethod
    def write_random_weights(cls, path: Path, params: DDColorParams | None = None, seed: int = 0) -> Path:
        from harness.models.ddcolor.checkpoint import write_random

        return write_random(Path(path), (params or cls.Params()).size, seed=seed)

    @classmethod
    def network(cls, params: DDColorParams):
        from harness.models.ddcolor.network import build

        return build(params.size), (1, 3, params.input_size, params.input_size)

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self._engine.colorize(grays)

    def stage_seconds(self) -> dict[str, float]:
        return dict(self._engine.seconds)

    def describe(self) -> dict[str, str]:
        from harness.models.ddcolor.convnext import CONFIGS

        return {"weights_path": str(self._weights), "input_size": str(self.params.input_size),
                "architecture": f"DDColor-{self.params.size[0].upper()} ({CONFIGS[self.params.size].name}, "
                                f"MultiScaleColorDecoder, 100 queries, 9 layers)",
                "weights_variant": self.params.weights_variant if self.params.weights is None else "explicit file"}

    def describe_run(self) -> dict[str, str]:
        return self._engine.batching()

    def warnings(self) -> list[str]:
        return self._engine.warnings()

    def close(self) -> None:
        """Nothing to free: the network stays cached for the next sweep point (an input_size sweep loads once)."""
