"""ColorFormer's encoder, the GLH-Transformer (a Swin-T layout), in plain PyTorch, for inference.

Four stages (96/192/384/768 channels, depths 2/2/6/2, heads 3/6/12/24, windows of 7) after a
4x4 patch embedding. Blocks alternate: even ones attend within a 7x7 window *and* to a few
global tokens, the adaptive average pool (8/4/2/1 per stage) of the zero-padded normed map,
normed and projected to keys and values; odd ones are Swin's shifted windows (shift 3, mask
-100). The relative-position bias applies to the window's 49 keys only. The stage outputs,
each through its own LayerNorm (`norm0..norm3`), feed the decoder; `head_cls` weighs the
four colour-centre sets. Module names follow upstream's state dict (`encoder.arch.*`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DIMS = (96, 192, 384, 768)
DEPTHS = (2, 2, 6, 2)
HEADS = (3, 6, 12, 24)
POOLS = (8, 4, 2, 1)
WINDOW = 7
SHIFT = WINDOW // 2


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int | None = None):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, out or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _position_index(w: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # 2, w*w
    rel = coords[:, :, None] - coords[:, None, :] + (w - 1)
    return rel[0] * (2 * w - 1) + rel[1]


def windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * windows, w * w, C), windows in row-major order per image."""
    b, h, wd, c = x.shape
    return x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def unwindow(x: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    b = x.shape[0] // ((h // w) * (wd // w))
    return x.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, -1)


class Attention(nn.Module):
    """Window attention; with `pool`, also over the pooled map's global tokens (the GL variant)."""

    def __init__(self, dim: int, heads: int, pool: int | None):
        super().__init__()
        self.heads, self.pool = heads, pool
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * WINDOW - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _position_index(WINDOW))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        if pool is not None:
            self.norm = nn.LayerNorm(dim)
            self.kv = nn.Linear(dim, dim * 2)

    def _split(self, x: torch.Tensor, parts: int) -> torch.Tensor:
        n, t, c = x.shape
        return x.view(n, t, parts, self.heads, c // (parts * self.heads)).permute(2, 0, 3, 1, 4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                padded: torch.Tensor | None = None) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self._split(self.qkv(x), 3)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(t, t, -1).permute(2, 0, 1)
        if self.pool is not None:  # global tokens of each image, shared by its windows
            b = padded.shape[0]
            g = F.adaptive_avg_pool2d(padded.permute(0, 3, 1, 2), self.pool).flatten(2).transpose(1, 2)
            kg, vg = self._split(self.kv(self.norm(g)), 2)
            per = n // b
            k = torch.cat([k, kg.repeat_interleave(per, dim=0)], 2)
            v = torch.cat([v, vg.repeat_interleave(per, dim=0)], 2)
            bias = F.pad(bias, (0, k.shape[2] - t))
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(n // nw, nw, self.heads, t, t) + mask[None, :, None]).view(n, self.heads, t, t)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(n, t, c)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, pool: int | None):
        super().__init__()
        self.shift = 0 if pool is not None else SHIFT
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, pool)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * 4)

    def forward(self, x: torch.Tensor, hw: tuple[int, int], mask: torch.Tensor) -> torch.Tensor:
        h, w = hw
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        ph, pw = (-h) % WINDOW, (-w) % WINDOW
        y = F.pad(y, (0, 0, 0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
            out = self.attn(windows(y, WINDOW), mask=mask)
        else:
            out = self.attn(windows(y, WINDOW), padded=y)
        y = unwindow(out, WINDOW, hp, wp)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), (1, 2))
        x = x + y[:, :h, :w].reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        h, w = hw
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.reshape(b, -1, 4 * c)))


def shift_mask(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Swin's attention mask for the shifted windows of an h x w map padded to whole windows."""
    hp, wp = -(-h // WINDOW) * WINDOW, -(-w // WINDOW) * WINDOW
    region = torch.zeros(1, hp, wp, 1, device=device)
    cuts = (slice(0, -WINDOW), slice(-WINDOW, -SHIFT), slice(-SHIFT, None))
    for i, hs in enumerate(cuts):
        for j, ws in enumerate(cuts):
            region[:, hs, ws] = i * 3 + j
    ids = windows(region, WINDOW)[..., 0]
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class Stage(nn.Module):
    def __init__(self, index: int):
        super().__init__()
        dim = DIMS[index]
        self.blocks = nn.ModuleList([Block(dim, HEADS[index], POOLS[index] if i % 2 == 0 else None)
                                     for i in range(DEPTHS[index])])
        self.downsample = PatchMerging(dim) if index < len(DIMS) - 1 else None

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        mask = shift_mask(*hw, x.device).to(x.dtype)
        for block in self.blocks:
            x = block(x, hw, mask)
        return x


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, DIMS[0], 4, stride=4)
        self.norm = nn.LayerNorm(DIMS[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))  # (B, HW, C)


class GLHTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = PatchEmbed()
        self.layers = nn.ModuleList([Stage(i) for i in range(len(DIMS))])
        for i, dim in enumerate(DIMS):
            self.add_module(f"norm{i}", nn.LayerNorm(dim))
        self.norm_cls = nn.LayerNorm(DIMS[-1])
        self.head_cls = nn.Linear(DIMS[-1], 4)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(B, 3, S, S) normalised -> stage maps [(B, C_i, S/4/2^i, S/4/2^i)] and the (B, 4) centre-set weights."""
        b, _, h, w = x.shape
        hw = (h // 4, w // 4)
        x = self.patch_embed(x)
        maps = []
        for i, stage in enumerate(self.layers):
            x = stage(x, hw)
            out = getattr(self, f"norm{i}")(x)
            maps.append(out.transpose(1, 2).reshape(b, DIMS[i], *hw))
            if stage.downsample is not None:
                x = stage.downsample(x, hw)
                hw = ((hw[0] + 1) // 2, (hw[1] + 1) // 2)
        pooled = self.norm_cls(out).mean(1)  # norm_cls on top of norm3, as upstream
        return maps, self.head_cls(pooled).softmax(1)
