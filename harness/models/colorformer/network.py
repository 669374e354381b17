"""ColorFormer's network: GLH-Transformer encoder, U-Net decoder with the colour memory, refinement.

Input: (N, 3, S, S) gray RGB in [0, 1], S a multiple of 32 (square: upstream reshapes token
maps by the square root of their length); the ImageNet normalisation is inside the network,
always applied, with its mean and std as buffers of the checkpoint. Output: (N, 2, S, S), the
a and b channels of CIE Lab in Lab units, unbounded (upstream's `do_normalize=False`). The
module tree, and so every state-dict name and shape, is upstream's `ColorFormer('GLHTransformer',
num_output_channels=2, last_norm='Spectral')`, so the official checkpoint loads strictly.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models import imagenet
from harness.models.colorformer.glh import DIMS, GLHTransformer
from harness.models.colorformer.layers import ColorMemory, ResBlock, ShuffleUp, SpectralConv2d, UpBlock

WIDTH = 512  # the decoder's width (upstream's nf)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.arch = GLHTransformer()


class Decoder(nn.Module):
    """Three U-Net stages (8 -> 16 -> 32 -> 64 at S = 256), the colour memory, and a x4 upsampling."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([UpBlock(DIMS[3], DIMS[2], WIDTH), UpBlock(WIDTH, DIMS[1], WIDTH),
                                     UpBlock(WIDTH, DIMS[0], WIDTH // 2), ColorMemory(WIDTH // 2)])
        self.last_shuf = ShuffleUp(WIDTH // 2, WIDTH // 2, scale=4, batchnorm=False)

    def forward(self, maps: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        x = maps[3]
        for layer, skip in zip(self.layers[:3], (maps[2], maps[1], maps[0])):
            x = layer(x, skip)
        return self.last_shuf(self.layers[3](x, weights))


class ColorFormerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.seg_decoder = Decoder()
        channels = WIDTH // 2 + 3
        self.refine_net = nn.Sequential(ResBlock(channels), nn.Sequential(SpectralConv2d(channels, 2, 3)))
        self.register_buffer("mean", torch.tensor(imagenet.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(imagenet.STD).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        n, _, h, w = rgb.shape
        if h != w or h % 32:
            raise ValueError(f"ColorFormer needs a square input whose side is a multiple of 32, got {h} x {w}")
        x = (rgb - self.mean.to(rgb.dtype)) / self.std.to(rgb.dtype)
        maps, weights = self.encoder.arch(x)
        features = self.seg_decoder(maps, weights)
        return self.refine_net(torch.cat([features, x.to(features.dtype)], 1))


def build() -> ColorFormerNet:
    """A ColorFormer network with random weights, in eval mode."""
    return ColorFormerNet().eval()
