"""DeOldify's two generator U-Nets, rebuilt in plain PyTorch for inference.

`deep` (Artistic): resnet34 encoder, two convolutions per decoder block, channel widths
scaled by nf_factor 1.5. `wide` (Stable, Video): resnet101 encoder, one convolution per
block, 512·nf_factor (nf_factor 2) channels. Both: spectral norm everywhere, BatchNorm
after each activation, self-attention in the second decoder block, blurred pixel-shuffle
upsampling, a final residual block over the features concatenated with the input image,
and a sigmoid scaled to (-3, 3). Module order and names follow upstream's layer list, so
an official checkpoint loads with `strict=True`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from harness.models.deoldify.layers import BlurShuffleUp, conv_block

#: encoder children whose outputs feed the decoder (relu, layer1, layer2, layer3), deepest first
SKIPS = (6, 5, 4, 2)
Y_RANGE = (-3.0, 3.0)


@dataclass(frozen=True)
class Architecture:
    name: str
    backbone: str
    nf_factor: float
    deep: bool  # two convs per block (Artistic) or one wide conv (Stable/Video)


ARTISTIC = Architecture("deep", "resnet34", 1.5, True)
STABLE = Architecture("wide", "resnet101", 2.0, False)
#: the variant table's `architecture` key -> architecture
ARCHITECTURES = {a.name: a for a in (ARTISTIC, STABLE)}


def _encoder(backbone: str) -> nn.Sequential:
    net = getattr(models, backbone)(weights=None)
    return nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc


def _channels(backbone: str) -> list[int]:
    """Output channels of encoder children 0..7."""
    expansion = 4 if backbone in ("resnet50", "resnet101", "resnet152") else 1
    return [64, 64, 64, 64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]


class DeepBlock(nn.Module):
    """Upsample the decoder path, join the skip features, two convolutions."""

    def __init__(self, up_in: int, skip_in: int, *, final_div: bool, nf_factor: float, attention: bool):
        super().__init__()
        self.shuf = BlurShuffleUp(up_in, up_in // 2)
        self.bn = nn.BatchNorm2d(skip_in)
        ni = up_in // 2 + skip_in
        nf = int((ni if final_div else ni // 2) * nf_factor)
        self.conv1 = conv_block(ni, nf, norm_after=True)
        self.conv2 = conv_block(nf, nf, norm_after=True, attention=attention)
        self.relu = nn.ReLU()
        self.out_channels = nf

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(_join(self.shuf(up), self.bn(skip), self.relu)))


class WideBlock(nn.Module):
    """Upsample the decoder path, join the skip features, one wide convolution."""

    def __init__(self, up_in: int, skip_in: int, n_out: int, *, attention: bool):
        super().__init__()
        half = n_out // 2
        self.shuf = BlurShuffleUp(up_in, half)
        self.bn = nn.BatchNorm2d(skip_in)
        self.conv = conv_block(half + skip_in, half, norm_after=True, attention=attention)
        self.relu = nn.ReLU()
        self.out_channels = half

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(_join(self.shuf(up), self.bn(skip), self.relu))


def _join(up: torch.Tensor, skip: torch.Tensor, relu: nn.Module) -> torch.Tensor:
    if up.shape[-2:] != skip.shape[-2:]:
        up = F.interpolate(up, skip.shape[-2:], mode="nearest")
    return relu(torch.cat([up, skip], dim=1))


class Generator(nn.Module):
    """A DeOldify generator: normalised RGB (B, 3, S, S) in, normalised RGB out, S a multiple of 32."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        ch = _channels(arch.backbone)
        ni = ch[-1]
        blocks: list[nn.Module] = []
        up = ni
        for i, idx in enumerate(SKIPS):
            final = i == len(SKIPS) - 1
            attention = i == len(SKIPS) - 3
            if arch.deep:
                block = DeepBlock(up, ch[idx], final_div=not final, nf_factor=arch.nf_factor, attention=attention)
            else:
                nf = int(512 * arch.nf_factor)
                block = WideBlock(up, ch[idx], nf if not final else nf // 2, attention=attention)
            blocks.append(block)
            up = block.out_channels
        head = up + 3
        self.layers = nn.ModuleList([
            _encoder(arch.backbone),  # 0
            nn.BatchNorm2d(ni),  # 1
            nn.ReLU(),  # 2
            nn.Sequential(conv_block(ni, ni * 2, norm_after=True), conv_block(ni * 2, ni, norm_after=True)),  # 3
            *blocks,  # 4-7
            BlurShuffleUp(up, up, weight_norm=True),  # 8
            nn.Identity(),  # 9: upstream's MergeLayer (concatenation with the input), done in forward
            _ResidualHead(head),  # 10
            conv_block(head, 3, 1, activation=False),  # 11
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        encoder = self.layers[0]
        skips: dict[int, torch.Tensor] = {}
        h = x
        for idx, child in enumerate(encoder):
            h = child(h)
            if idx in SKIPS:
                skips[idx] = h
        h = self.layers[3](self.layers[2](self.layers[1](h)))
        for block, idx in zip(self.layers[4:8], SKIPS):
            h = block(h, skips[idx])
        h = self.layers[8](h)
        h = torch.cat([h, x.to(h.dtype)], dim=1)  # under bf16 autocast the head stays in bf16 (fp32: a no-op)
        h = self.layers[11](self.layers[10](h))
        low, high = Y_RANGE
        return torch.sigmoid(h) * (high - low) + low


class _ResidualHead(nn.Module):
    """Two 3x3 convolutions with a residual connection (upstream's res_block), kept under `.layers`."""

    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.ModuleList([conv_block(channels, channels), conv_block(channels, channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.layers[0](x)) + x


def build(arch: Architecture) -> Generator:
    return Generator(arch).eval()
