"""DDColor's convolutional building blocks, in plain PyTorch, for inference.

Names follow the official checkpoints: a spectrally normalised convolution stores
`weight_orig` with the power-iteration vectors `weight_u` and `weight_v` (torch's classic
`spectral_norm` layout, as upstream's training code saved them). At inference the weight
is `weight_orig / (u . W v)` with the stored vectors, exactly what torch's hook computes in
eval mode; here it is computed once in float32 and reused until a parameter changes,
instead of on every forward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.spectral import SpectralVectors


class SpectralConv2d(SpectralVectors, nn.Module):
    """k x k convolution (stride 1, 'same' padding) whose weight is divided by u . W v."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, *, bias: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None  # first, as in the checkpoints
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * kernel * kernel), dim=0))
        self.padding = kernel // 2
        nn.init.kaiming_normal_(self.weight_orig)
        self._key: tuple | None = None
        self._weight: torch.Tensor | None = None

    def weight(self) -> torch.Tensor:
        """weight_orig / sigma in float32 (autocast off), cached while the tensors are unchanged."""
        sources = (self.weight_orig, self.weight_u, self.weight_v)
        kind = self.weight_orig.device.type
        if torch.is_grad_enabled() and self.weight_orig.requires_grad:
            with torch.autocast(kind, enabled=False):
                return self.weight_orig.float() / self.sigma()
        try:
            key = tuple((t.data_ptr(), t._version, t.device) for t in sources)
        except RuntimeError:  # inference tensors carry no version counter: do not cache
            with torch.autocast(kind, enabled=False):
                return self.weight_orig.float() / self.sigma()
        if key != self._key:
            with torch.inference_mode(False), torch.no_grad(), torch.autocast(kind, enabled=False):
                self._weight = self.weight_orig.float() / self.sigma()
            self._key = key
        return self._weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(x, self.weight().to(x.dtype), bias, padding=self.padding)


class ConvBNSeq(nn.Sequential):
    """Spectral conv without bias, [ReLU,] BatchNorm: indices 0 / [1 /] last as in the checkpoints."""

    def __init__(self, cin: int, cout: int, kernel: int, *, relu: bool):
        layers: list[nn.Module] = [SpectralConv2d(cin, cout, kernel, bias=False)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.BatchNorm2d(cout))
        super().__init__(*layers)


class ShuffleUp(nn.Module):
    """Upsampling by `scale`: 1x1 conv to scale^2 x channels, ReLU, pixel shuffle, 2x2 box blur.

    The blur (replicate-pad one row and column at the top-left, then a 2x2 mean at stride 1)
    keeps the size and removes pixel-shuffle checkerboards. Inside the U-Net blocks the conv
    is followed by a BatchNorm (and has no bias); the last upsampling has a plain biased conv.
    """

    def __init__(self, cin: int, cout: int, scale: int = 2, *, batchnorm: bool = True):
        super().__init__()
        width = cout * scale * scale
        self.conv = (ConvBNSeq(cin, width, 1, relu=False) if batchnorm
                     else nn.Sequential(SpectralConv2d(cin, width, 1, bias=True)))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_shuffle(F.relu(self.conv(x)), self.scale)
        return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class UpBlock(nn.Module):
    """One decoder stage: upsample the coarse map x2, join the encoder's skip map, 3x3 conv."""

    def __init__(self, cin: int, skip: int, cout: int):
        super().__init__()
        self.shuf = ShuffleUp(cin, cout)
        self.bn = nn.BatchNorm2d(skip)
        self.conv = ConvBNSeq(cout + skip, cout, 3, relu=True)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([self.shuf(coarse), self.bn(skip)], dim=1)
        return self.conv(F.relu(joined))
