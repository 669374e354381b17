"""Building blocks of DeOldify's generators, in plain PyTorch, inference only.

Parameter and buffer names match the official checkpoints exactly: spectrally normalised
convolutions keep `weight_orig`, `weight_u` and `weight_v` (torch's classic
`spectral_norm` layout), weight-normalised ones `weight_g` and `weight_v`. The normalised
weight is computed from them the way torch's hooks do in eval mode (no power iteration),
without hooks, so the modules are simple to script, trace and cast.

The normalised weight is always computed in float32 with autocast off (under CUDA autocast
`torch.mv` would otherwise run in half precision and perturb every layer's scale), and,
outside autograd, it is computed once and reused until the parameters change (a load, an
in-place edit, a move to another device): upstream recomputes it on every forward pass,
which costs a pass over all weights per image (~0.3 s for Artistic, ~0.5 s for Stable on
a CPU core) and gives the same values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cached(module: nn.Module, sources: tuple[torch.Tensor, ...], compute) -> torch.Tensor:
    """`compute()` in float32 with autocast off; memoised on `module` while `sources` are unchanged.

    The key holds each source's storage address and version counter, so a state-dict load,
    an in-place edit or `.to(...)` recomputes. With autograd recording (training, gradient
    checks) nothing is cached, so gradients still reach the parameters.
    """
    device_type = sources[0].device.type
    if torch.is_grad_enabled() and any(t.requires_grad for t in sources):
        with torch.autocast(device_type, enabled=False):
            return compute()
    try:
        key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources)
    except RuntimeError:  # inference tensors (a net built inside inference_mode) have no version counter
        with torch.autocast(device_type, enabled=False):
            return compute()
    if getattr(module, "_weight_key", None) != key:
        # a normal (not inference-mode) tensor, usable in and out of torch.inference_mode
        with torch.inference_mode(False), torch.no_grad(), torch.autocast(device_type, enabled=False):
            module._weight_cache = compute()
        module._weight_key = key
    return module._weight_cache


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

    def _compute_weight(self) -> torch.Tensor:
        w = self.weight_orig.float()
        sigma = torch.dot(self.weight_u.float(), torch.mv(w.reshape(w.shape[0], -1), self.weight_v.float()))
        return w / sigma

    def weight(self) -> torch.Tensor:
        """weight_orig / (u · W v), in float32."""
        return _cached(self, (self.weight_orig, self.weight_u, self.weight_v), self._compute_weight)

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

    def weight(self) -> torch.Tensor:
        """g · v / ||v||, in float32 (the op torch's weight_norm hook uses)."""
        return _cached(self, (self.weight_g, self.weight_v),
                       lambda: torch._weight_norm(self.weight_v.float(), self.weight_g.float(), 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight().to(x.dtype), self.bias.to(x.dtype), padding=self.padding)


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


class ReplicatePadTopLeft(nn.Module):
    """`nn.ReplicationPad2d((1, 0, 1, 0))` by copies: one row on top, one column on the left, repeated
    from the edge; the output's memory layout is the input's, as the padding op's is.

    Bit for bit the padding op (a pad only copies values), but made of a slice assignment, so it runs at
    any size: CUDA's `replication_pad2d` refuses tensors of more than 2^31 - 1 elements, which the
    final upsampling's (B, 300, 560, 560) input reaches at B = 23 (Artistic at render factor 35).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and not \
            x.is_contiguous() else torch.contiguous_format
        out = torch.empty((b, c, h + 1, w + 1), dtype=x.dtype, device=x.device, memory_format=layout)
        out[:, :, 1:, 1:] = x
        out[:, :, 1:, :1] = x[:, :, :, :1]
        out[:, :, :1, :] = out[:, :, 1:2, :]
        return out


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
        self.pad = ReplicatePadTopLeft()
        self.blur = nn.AvgPool2d(2, stride=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.pad(self.shuf(self.relu(self.conv(x)))))
