"""DeOldify's three official generators as harness models.

`deoldify-artistic` (resnet34 "deep" U-Net, default render_factor 35), `deoldify-stable`
(resnet101 "wide" U-Net, 35) and `deoldify-video` (Stable's architecture with its own
weights, 21). Importing this module is cheap: networks are built, and weights loaded, when
a model is constructed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import HarnessError
from harness.models.base import Colorizer
from harness.models.registry import register_model


class DeOldifyParams(BaseModel):
    """Spec parameters shared by the three models (render_factor's default differs)."""

    model_config = ConfigDict(extra="forbid")
    render_factor: int = Field(35, ge=1, le=64, description="Square side = 16 x render_factor pixels.")
    post_process: bool = Field(True, description="Keep the input's luminance, take chroma from the model.")
    weights: Path | None = Field(None, description="Weights file; default: the official file in the cache.")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"


class VideoParams(DeOldifyParams):
    render_factor: int = Field(21, ge=1, le=64, description="Square side = 16 x render_factor pixels.")


class _DeOldify(Colorizer):
    Params = DeOldifyParams
    arch_name = ""

    @classmethod
    def preflight(cls, params: DeOldifyParams) -> Path:
        if params.weights is not None:
            path = Path(params.weights).expanduser()
            if not path.is_file():
                raise HarnessError(f"Weights file '{path}' for {cls.name} does not exist.",
                                   hint="Fix the `weights:` path, or remove it to use the official weights "
                                        f"(`harness weights fetch {cls.name}`).")
            return path
        from harness import weights

        return weights.ensure_weights(cls.name)

    def __init__(self, params: DeOldifyParams, device: str = "cpu"):
        super().__init__(params, device)
        from harness.models.deoldify import engine, unet

        if device == "auto":
            import torch

            device = self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self._arch = unet.ARTISTIC if self.arch_name == "deep" else unet.STABLE
        self._weights = self.preflight(params)
        net = engine.load_generator(self._arch, self._weights, device, self.name)
        self._engine = engine.Engine(net, device, params.render_factor, params.precision, params.post_process)

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self._engine.colorize(grays)

    def stage_seconds(self) -> dict[str, float]:
        return dict(self._engine.seconds)

    def describe(self) -> dict[str, str]:
        p = self.params
        return {"device": self.device, "precision": p.precision, "render_factor": str(p.render_factor),
                "post_process": str(p.post_process), "weights_path": str(self._weights),
                "architecture": f"{self._arch.backbone} {self._arch.name} nf_factor {self._arch.nf_factor}",
                "render_size": str(self._engine.size), "batching": self._engine.batching(),
                **self._cuda_math()}

    def _cuda_math(self) -> dict[str, str]:
        """On CUDA, whether fp32 convolutions and matmuls run in TF32 (PyTorch's default for
        convolutions, as in upstream): it changes the numbers, so a run records it."""
        if not self.device.startswith("cuda"):
            return {}
        import torch

        return {"tf32_convolutions": str(torch.backends.cudnn.allow_tf32),
                "tf32_matmul": str(torch.backends.cuda.matmul.allow_tf32)}

    @property
    def weights_sha256(self) -> str | None:
        from harness import weights

        return weights.file_sha256(self._weights)

    def close(self) -> None:
        """Nothing to free: the generator stays cached for the next sweep point (see engine.CACHE_SIZE)."""


@register_model("deoldify-artistic")
class Artistic(_DeOldify):
    """DeOldify Artistic: resnet34 deep U-Net, the most colourful."""

    arch_name = "deep"


@register_model("deoldify-stable")
class Stable(_DeOldify):
    """DeOldify Stable: resnet101 wide U-Net, best for portraits and landscapes."""

    arch_name = "wide"


@register_model("deoldify-video")
class Video(_DeOldify):
    """DeOldify Video: Stable's architecture trained for flicker-free video."""

    Params = VideoParams
    arch_name = "wide"
