"""DDColor's network: ConvNeXt encoder, U-Net pixel decoder, query-based colour decoder, refinement.

Input: (N, 3, S, S) gray RGB in [0, 1] (S a multiple of 32); the ImageNet normalisation is
inside the network, with its mean and std as buffers of the checkpoints. Output: (N, 2, S, S),
the a and b channels of CIE Lab, unbounded. The module tree (and so every state-dict name
and shape) is that of upstream's `DDColor(encoder_name, 'MultiScaleColorDecoder',
num_output_channels=2, last_norm='Spectral', num_queries=100, num_scales=3, dec_layers=9)`,
so the official checkpoints load strictly.

Upstream's last step is a 1x1 conv over [100 query maps ; normalised input], where query
map q is the dot product of colour embedding q with the full-resolution image embedding.
Both are linear, so here the conv's weights are applied to the 100 embeddings first and
the result is matched against the image embedding once: the same sum in another order,
without the (N, 100, S, S) intermediate (13 GFLOP per image at S = 512).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models import imagenet
from harness.models.ddcolor.colour import ColourDecoder
from harness.models.ddcolor.convnext import CONFIGS, Encoder
from harness.models.ddcolor.layers import ShuffleUp, SpectralConv2d, UpBlock

QUERIES = 100
WIDTH = 512  # the pixel decoder's width (upstream's nf)


class Decoder(nn.Module):
    """Pixel decoder (three U-Net stages and a x4 upsampling) and the colour decoder."""

    def __init__(self, dims: tuple[int, int, int, int]):
        super().__init__()
        self.layers = nn.ModuleList([UpBlock(dims[3], dims[2], WIDTH), UpBlock(WIDTH, dims[1], WIDTH),
                                     UpBlock(WIDTH, dims[0], WIDTH // 2)])
        self.last_shuf = ShuffleUp(WIDTH // 2, WIDTH // 2, scale=4, batchnorm=False)
        self.color_decoder = ColourDecoder((WIDTH, WIDTH, WIDTH // 2), queries=QUERIES)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder maps (finest first) -> colour embeddings (N, Q, C) and image embedding (N, C, S, S)."""
        x, scales = feats[3], []
        for layer, skip in zip(self.layers, (feats[2], feats[1], feats[0])):
            x = layer(x, skip)
            scales.append(x)
        return self.color_decoder(scales), self.last_shuf(x)


class DDColorNet(nn.Module):
    def __init__(self, size: str = "large"):
        super().__init__()
        config = CONFIGS[size]
        self.size = size
        self.encoder = Encoder(config)
        self.decoder = Decoder(config.dims)
        self.refine_net = nn.Sequential(nn.Sequential(SpectralConv2d(QUERIES + 3, 2, 1, bias=True)))
        self.register_buffer("mean", torch.tensor(imagenet.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(imagenet.STD).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = (rgb - self.mean) / self.std
        embeds, image = self.decoder(self.encoder(x))
        return self.refine(embeds, image, x)

    def refine(self, embeds: torch.Tensor, image: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """ab = W_q . (embeds . image) + W_x . x + b, computed as (W_q . embeds) . image + W_x . x + b."""
        conv = self.refine_net[0][0]
        w = conv.weight().flatten(1).to(image.dtype)  # (2, Q + 3)
        mixed = torch.matmul(w[:, :QUERIES], embeds.to(image.dtype))  # (N, 2, C)
        n, c, h, wd = image.shape
        ab = torch.bmm(mixed, image.reshape(n, c, h * wd))
        ab = ab + torch.matmul(w[:, QUERIES:], x.to(image.dtype).reshape(n, 3, h * wd))
        return (ab + conv.bias.to(ab.dtype)[:, None]).reshape(n, 2, h, wd)


def build(size: str) -> DDColorNet:
    """A DDColor network of `size` ('tiny': ConvNeXt-T, 'large': ConvNeXt-L), in eval mode."""
    if size not in CONFIGS:
        raise ValueError(f"size must be one of {sorted(CONFIGS)}, got {size!r}")
    return DDColorNet(size).eval()
