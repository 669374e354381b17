"""Building blocks of DeOldify's generators, in plain PyTorch, inference only.

Parameter and buffer names match the official checkpoints exactly: spectrally normalised
convolutions keep `weight_orig`, `weight_u` and `weight_v` (torch's classic
`spectral_norm` layout), weight-normalised ones `weight_g` and `weight_v`. The normalised
weight is computed from them the way torch's hooks do in eval mode (no power iteration),
without hooks, so the modules are simple to script, trace and cast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpectralConv(nn.Module):
    """Convolution (1-D or 2-D) whose weight is divided by its spectral norm estimate u·Wv."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, *, bias: bool = True, dims: int = 2):
        super().__init__()
        shape = (cout, cin) + (kernel,) * dims
        self.weight_orig = nn.Parameter(torch.empty(shape))
        self.register_buffer("weight_u", torch.empty(cout))
        self.register_buffer("weight_v", torch.empty(cin * kernel ** dims))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.padding = (kernel - 1) // 2
        self.dims = dims
        nn.init.kaiming_normal_(self.weight_orig)
        nn.init.normal_(self.weight_u)
        nn.init.normal_(self.weight_v)
        with torch.no_grad():
            self.weight_u.div_(self.weight_u.norm().clamp_min(1e-12))
            self.weight_v.div_(self.weight_v.norm().clamp_min(1e-12))

    def weight(self) -> torch.Tensor:
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight().to(x.dtype)
        b = None if self.bias is None else self.bias.to(x.dtype)
        if self.dims == 1:
            return F.conv1d(x, w, b, padding=self.padding)
        return F.conv2d(x, w, b, padding=self.padding)


class WeightNormConv(nn.Module):
    """2-D convolution with weight normalisation: weight = g · v / ||v|| (norm over all but dim 0)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(cout, 1, 1, 1))
        self.weight_v = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.padding = (kernel - 1) // 2
        nn.init.kaiming_normal_(self.weight_v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch._weight_norm(self.weight_v, self.weight_g, 0)  # the op torch's weight_norm hook uses
        return F.conv2d(x, w.to(x.dtype), self.bias.to(x.dtype), padding=self.padding)


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2018) as DeOldify uses it: softmax over the query axis."""

    def __init__(self, channels: int):
        super().__init__()
        self.query = SpectralConv(channels, channels // 8, 1, bias=False, dims=1)
        self.key = SpectralConv(channels, channels // 8, 1, bias=False, dims=1)
        self.value = SpectralConv(channels, channels, 1, bias=False, dims=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(shape[0], shape[1], -1)
        f, g, h = self.query(flat), self.key(flat), self.value(flat)
        beta = torch.softmax(torch.bmm(f.transpose(1, 2).contiguous(), g), dim=1)
        out = self.gamma.to(x.dtype) * torch.bmm(h, beta) + flat
        return out.reshape(shape)


def conv_block(cin: int, cout: int, kernel: int = 3, *, activation: bool = True, norm_after: bool = False,
               attention: bool = False, bias: bool | None = None) -> nn.Sequential:
    """Spectral conv [-> ReLU] [-> BatchNorm] [-> self-attention], indexed as upstream's layer lists.

    With a BatchNorm the convolution has no bias (it would be redundant), as upstream decides.
    """
    layers: list[nn.Module] = [SpectralConv(cin, cout, kernel, bias=(not norm_after) if bias is None else bias)]
    if activation:
        layers.append(nn.ReLU(inplace=True))
    if norm_after:
        layers.append(nn.BatchNorm2d(cout))
    if attention:
        layers.append(SelfAttention(cout))
    return nn.Sequential(*layers)


class BlurShuffleUp(nn.Module):
    """x2 upsampling: 1x1 conv to 4x channels, ReLU, pixel shuffle, then a 2x2 blur against checkerboards.

    `conv` is a spectral conv + BatchNorm inside the U-Net blocks, a weight-normalised conv
    for the final upsampling, matching the two upstream variants.
    """

    def __init__(self, cin: int, cout: int, *, weight_norm: bool = False):
        super().__init__()
        if weight_norm:
            self.conv = nn.Sequential(WeightNormConv(cin, cout * 4, 1))
        else:
            self.conv = conv_block(cin, cout * 4, 1, activation=False, norm_after=True)
        self.shuf = nn.PixelShuffle(2)
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.blur = nn.AvgPool2d(2, stride=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.pad(self.shuf(self.relu(self.conv(x)))))
