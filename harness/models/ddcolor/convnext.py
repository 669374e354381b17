"""ConvNeXt (Liu et al. 2022) as DDColor's encoder: four stages, with a LayerNorm on each stage's output.

DDColor reads its multi-scale features from four extra LayerNorms (`norm0`..`norm3`, one
per stage, at 1/4 .. 1/32 of the input size); the stages themselves continue from the
un-normalised maps. The classification norm (`norm`) is part of the checkpoints but its
output is never used, so it is kept as a parameter holder and not run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ConvNeXtConfig:
    name: str
    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]


#: DDColor's two encoders: size 'tiny' (DDColor-T) and 'large' (DDColor-L)
CONFIGS = {
    "tiny": ConvNeXtConfig("convnext-t", (3, 3, 9, 3), (96, 192, 384, 768)),
    "large": ConvNeXtConfig("convnext-l", (3, 3, 27, 3), (192, 384, 768, 1536)),
}


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of an (N, C, H, W) map (eps 1e-6).

    Computed in place on the NCHW layout as mean, biased variance, normalise, scale and shift:
    upstream's arithmetic, so the encoder's features equal upstream's bit for bit (a fused
    `layer_norm` over a permuted view rounds differently, ~1e-6, which the decoder amplifies).
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(1, keepdim=True)
        var = centred.square().mean(1, keepdim=True)
        return centred / (var + self.eps).sqrt() * self.weight[:, None, None] + self.bias[:, None, None]


class Block(nn.Module):
    """Depthwise 7x7 conv, LayerNorm, 4x MLP with GELU, layer scale `gamma`, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # channels last for the MLP
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """The backbone; `forward` returns the four normalised stage outputs, finest first."""

    def __init__(self, config: ConvNeXtConfig, in_channels: int = 3):
        super().__init__()
        dims = config.dims
        stem = nn.Sequential(nn.Conv2d(in_channels, dims[0], 4, stride=4), ChannelNorm(dims[0]))
        downs = [nn.Sequential(ChannelNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)) for i in range(3)]
        self.downsample_layers = nn.ModuleList([stem, *downs])
        self.stages = nn.ModuleList([nn.Sequential(*[Block(d) for _ in range(n)])
                                     for n, d in zip(config.depths, dims)])
        for i, d in enumerate(dims):
            self.add_module(f"norm{i}", ChannelNorm(d))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)  # in the checkpoints; its output is not used
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            feats.append(getattr(self, f"norm{i}")(x))
        return feats


class Encoder(nn.Module):
    """Holds the backbone under the checkpoints' name `arch`."""

    def __init__(self, config: ConvNeXtConfig):
        super().__init__()
        self.arch = ConvNeXt(config)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.arch(x)
