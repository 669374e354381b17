"""Zhang et al.'s two automatic colorizers as one harness model family.

`zhang-eccv16` (Colorful Image Colorization, ECCV 2016: classification over 313 ab bins)
and `zhang-siggraph17` (Real-Time User-Guided Image Colorization, SIGGRAPH 2017, run
without user hints): rows of `models/variants.py`. A re-implementation in plain PyTorch
(`zhang_nets`) that loads the official checkpoints strictly and reproduces upstream's
pipeline: the gray image stretched to 256x256 (PIL bicubic), its CIE L fed to the network,
the predicted ab stretched back bilinearly and joined to the full-size L, Lab -> RGB by
scikit-image, x255 truncated to 8 bits as upstream's demo saves it. Importing this module is
cheap: torch is imported when a model is constructed.
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

ARCHITECTURES = {
    "eccv16": "ECCV16: VGG-style encoder with dilated blocks, softmax over 313 ab bins at 1/4 size, "
              "expectation by a 1x1 convolution, x4 bilinear upsampling",
    "siggraph17": "SIGGRAPH17: U-Net with skip connections, tanh ab regression; no hints (ab and mask inputs zero)",
}


class ZhangParams(Strict):
    """Spec parameters of both Zhang models. Upstream has no other setting: the network input is
    256x256 for both."""

    weights: Path | None = Field(None, description="Weights file; default: the official file in the cache.")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    exact: bool = Field(False, description="Upstream's pre- and post-processing (PIL, scikit-image) on the host, "
                                           "as upstream orders them; the default does them as torch operations "
                                           "on the model's device, within a grey level or two of upstream.")


@register_model("zhang")
class Zhang(Colorizer):
    """ECCV16 or SIGGRAPH17 (the variant's architecture) with upstream's pre- and post-processing."""

    Params = ZhangParams

    def __init__(self, params: ZhangParams, device: str = "cpu"):
        super().__init__(params, device)
        from harness.models.zhang import networks as zhang_nets

        self._weights = self.preflight(params)
        self._engine = zhang_nets.Engine(self.variant.architecture, self._weights, device, params.precision,
                                         self.name, exact=params.exact)

    @classmethod
    def write_random_weights(cls, path: Path, params: ZhangParams | None = None, seed: int = 0) -> Path:
        """Random, calibrated weights saved as the official files are: a plain state dict in torch's
        legacy (pre-1.6, non-zip) format."""
        import torch

        from harness.models.zhang import networks as zhang_nets

        net = randomize_(zhang_nets.NETWORKS[cls.variant.architecture](), seed=seed)
        torch.save(net.state_dict(), Path(path), _use_new_zipfile_serialization=False)
        return Path(path)

    @classmethod
    def network(cls, params: ZhangParams):
        from harness.models.zhang import networks as zhang_nets

        return zhang_nets.NETWORKS[cls.variant.architecture](), (1, 1, 256, 256)

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self._engine.colorize(grays)

    def stage_seconds(self) -> dict[str, float]:
        return dict(self._engine.seconds)

    def describe(self) -> dict[str, str]:
        return {"weights_path": str(self._weights), "architecture": ARCHITECTURES[self.variant.architecture],
                "network_input": "256x256 (PIL bicubic), L of CIE Lab"}

    def describe_run(self) -> dict[str, str]:
        return self._engine.batching()

    def warnings(self) -> list[str]:
        return self._engine.warnings()


# ----- random weights (tests and speed benchmarks, never results) -----------------------------

def calibration_grays() -> list[np.ndarray]:
    """Gray photos (scikit-image's bundled samples, no download) and one smooth noise field."""
    import skimage.data
    from PIL import Image

    photos = [skimage.data.camera(), skimage.data.astronaut(), skimage.data.coffee()]
    grays = [np.asarray(Image.fromarray(p).convert("L")) for p in photos]
    coarse = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    return grays + [np.asarray(Image.fromarray(coarse).resize((256, 256), Image.Resampling.BICUBIC))]


def randomize_(net, seed: int = 0):
    """Random He-scaled weights, calibrated on gray photos so outputs vary and do not saturate.

    A random deep network would otherwise give every image the same colour: ECCV16's softmax
    would pick the same bin everywhere, SIGGRAPH17's tanh would clamp. One train-mode pass
    over the photos (as the engine preprocesses them) with cumulative statistics sets every
    BatchNorm's running mean and variance to its input's; the last layer is then centred and
    scaled on what that pass produced: ECCV16's 313 logits to per-bin mean 0 and std 4 (a
    softmax that picks different bins for different pixels), with random bin centres in
    +-77 ab; SIGGRAPH17's pre-tanh output to mean 0 and std 0.45 (tanh unsaturated).
    """
    import torch
    from torch import nn

    from harness.models.zhang.networks import ECCV16, network_input

    gen = torch.Generator().manual_seed(seed)
    eccv = isinstance(net, ECCV16)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                w = module.weight  # a stride-2 4x4 transposed convolution sees 4 taps per input channel
                fan_in = w.shape[0] * w[0, 0].numel() // 4 if isinstance(module, nn.ConvTranspose2d) else w[0].numel()
                w.copy_(torch.randn(w.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(0.01 * torch.randn(module.bias.shape, generator=gen))
        if eccv:  # the bin centres (ab / 110)
            net.model_out.weight.copy_((torch.rand(net.model_out.weight.shape, generator=gen) * 2 - 1) * 0.7)
    last = net.model8[-1] if eccv else net.model_out[0]
    seen: list = []
    handle = last.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass gives exactly its batch's statistics
        net.train()
        with torch.no_grad():
            net(torch.from_numpy(network_input(calibration_grays())))
    finally:
        handle.remove()
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.eval()
    out = seen[0].transpose(0, 1).reshape(seen[0].shape[1], -1)  # channels x (images * pixels)
    target = 4.0 if eccv else 0.45
    mean, std = out.mean(dim=1), out.std(dim=1).clamp_min(1e-6)
    with torch.no_grad():
        last.weight.mul_((target / std).view(-1, 1, 1, 1))
        last.bias.copy_((last.bias - mean) * target / std)
    return net
