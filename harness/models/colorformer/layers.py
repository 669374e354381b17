"""ColorFormer's decoder pieces in plain PyTorch: spectrally normalised convolutions, the U-Net
blocks, the x4 upsampling and the colour memory.

Names follow upstream's state dict. A spectrally normalised convolution keeps torch's legacy
`spectral_norm` layout (`weight_orig`, `weight_u`, `weight_v`); at inference its weight is
`weight_orig / (u . W v)` with the stored vectors, as torch's hook computes it in eval mode
(no power iteration). Upsampling is a 1x1 conv, PixelShuffle and a 2x2 blur over a
replication-padded map (upstream's `CustomPixelShuffle_ICNR`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.colorformer.glh import Mlp
from harness.models.spectral import SpectralVectors


class SpectralConv2d(SpectralVectors, nn.Module):
    """k x k convolution ('same' padding) whose weight is divided by the stored estimate u . W v."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, *, bias: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        nn.init.kaiming_normal_(self.weight_orig)
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * kernel * kernel), dim=0))
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            weight = self.weight_orig.float() / self.sigma()
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(x, weight.to(x.dtype), bias, padding=self.padding)


def blur_shuffle(x: torch.Tensor, scale: int) -> torch.Tensor:
    """PixelShuffle by `scale`, then a 2x2 average over the map replication-padded at the top and left."""
    return F.avg_pool2d(F.pad(F.pixel_shuffle(x, scale), (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class ShuffleUp(nn.Module):
    """x `scale` upsampling: SN 1x1 conv (then BatchNorm with `batchnorm`, else a bias), ReLU, shuffle, blur."""

    def __init__(self, cin: int, cout: int, scale: int = 2, *, batchnorm: bool = True):
        super().__init__()
        wide = cout * scale * scale
        layers = [SpectralConv2d(cin, wide, 1, bias=not batchnorm)] + ([nn.BatchNorm2d(wide)] if batchnorm else [])
        self.conv = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return blur_shuffle(F.relu(self.conv(x)), self.scale)


class UpBlock(nn.Module):
    """Upstream's `UnetBlockWide`: upsample, join with the BatchNormed skip, ReLU, SN 3x3 conv, ReLU, BatchNorm."""

    def __init__(self, cin: int, skip: int, cout: int):
        super().__init__()
        self.shuf = ShuffleUp(cin, cout)
        self.bn = nn.BatchNorm2d(skip)
        self.conv = nn.Sequential(SpectralConv2d(cout + skip, cout, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(torch.cat([self.shuf(x), self.bn(skip)], 1)))


class ColorMemory(nn.Module):
    """Attention of each pixel over 512 semantic centres, whose values are colour embeddings mixed by
    the encoder's 4-way weights; the softmax is unscaled (no 1/sqrt(d)), as upstream's.

    The colour centres (a + 128, b + 128 as integers in 0..255) and semantic centres are state-dict
    entries, so a checkpoint brings its own: upstream's `.npy` files only give their initial values.
    """

    def __init__(self, dim: int = 256, embed: int = 512, centres: int = 512, colour: int = 256):
        super().__init__()
        for j in range(1, 5):
            self.register_parameter(f"color_center{j}", nn.Parameter(torch.zeros(centres, 2, dtype=torch.int64),
                                                                     requires_grad=False))
        self.a_embed = nn.Embedding(256, colour)
        self.b_embed = nn.Embedding(256, colour)
        for j in range(1, 5):
            self.add_module(f"color_embed{j}", nn.Linear(colour * 2, colour))
        self.semantic_centers = nn.Parameter(torch.zeros(centres, 64), requires_grad=False)
        self.semantic_embed = nn.Linear(64, embed)
        self.proj_q = nn.Linear(dim, embed)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim + colour)
        self.norm3 = nn.LayerNorm(dim + colour)
        self.mlp = Mlp(dim + colour, dim + colour)
        self.last_conv = nn.Conv2d(dim + colour, dim, 1)

    def values(self, weights: torch.Tensor) -> torch.Tensor:
        """(B, 4) centre-set weights -> (B, centres, colour) values."""
        sets = []
        for j in range(1, 5):
            centre = getattr(self, f"color_center{j}")
            ab = torch.cat([self.a_embed(centre[:, 0]), self.b_embed(centre[:, 1])], -1)
            sets.append(getattr(self, f"color_embed{j}")(ab))
        return torch.einsum("bj,jnc->bnc", weights.to(sets[0].dtype), torch.stack(sets))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        q = self.proj_q(self.norm1(tokens))
        keys = self.semantic_embed(self.semantic_centers.to(q.dtype))  # (centres, embed)
        prior = torch.matmul(q, keys.t()).softmax(-1) @ self.values(weights).to(q.dtype)
        y = self.norm2(torch.cat([tokens, prior], -1))
        y = self.norm3(y + self.mlp(y))
        return self.last_conv(y.transpose(1, 2).reshape(b, -1, h, w))


class ResBlock(nn.Module):
    """x + ReLU(SN conv(ReLU(SN conv(x)))), 3x3 convolutions with biases."""

    def __init__(self, dim: int):
        super().__init__()
        self.layer = nn.Sequential(*[nn.Sequential(SpectralConv2d(dim, dim, 3), nn.ReLU()) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer(x)
