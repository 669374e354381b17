"""The two networks of Zhang et al.: ECCV 2016 (313-bin classification) and SIGGRAPH 2017 (run without hints).

Written for the harness from the papers' architecture and upstream's state-dict layout
(`richzhang/colorization`, BSD-2): module and parameter names and shapes are upstream's so
the official checkpoints load strictly; the code is not. Both networks take the CIE L
channel (0..100) of a 256x256 image and return ab (Lab units) at 256x256.

Also here: what a checkpoint that does not fit looks like (`likely_cause`), and the batched
inference engine with upstream's pre- and post-processing (`Engine`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from harness.assets.checkpoint import load_into, not_this_family
from harness.models import imageops
from harness.models.engine import NetworkEngine, cached_network, check_precision

L_CENTER, L_SCALE, AB_SCALE = 50.0, 100.0, 110.0  # upstream's normalisation of L and ab


def _convs(c_in: int, c_out: int, count: int, *, dilation: int = 1, stride_last: int = 1,
           relu_first: bool = False, norm: bool = True) -> nn.Sequential:
    """`count` 3x3 convolutions each followed by ReLU (optionally a ReLU before them), then BatchNorm.

    The positions inside the Sequential are the state-dict keys (`model3.4.weight` ...),
    so the order of layers here is part of the checkpoint format.
    """
    layers: list[nn.Module] = [nn.ReLU(inplace=True)] if relu_first else []
    for i in range(count):
        stride = stride_last if i == count - 1 else 1
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, stride=stride, padding=dilation, dilation=dilation),
                   nn.ReLU(inplace=True)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


def _up(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    """x2 upsampling by a 4x4 transposed convolution."""
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)


def _encoder(net: nn.Module, c_in: int, stride: int) -> None:
    """Blocks 1-7 shared by both models (ECCV16 downsamples with stride-2 convolutions, SIGGRAPH17 by slicing)."""
    net.model1 = _convs(c_in, 64, 2, stride_last=stride)
    net.model2 = _convs(64, 128, 2, stride_last=stride)
    net.model3 = _convs(128, 256, 3, stride_last=stride)
    net.model4 = _convs(256, 512, 3)
    net.model5 = _convs(512, 512, 3, dilation=2)
    net.model6 = _convs(512, 512, 3, dilation=2)
    net.model7 = _convs(512, 512, 3)


class ECCV16(nn.Module):
    """Colorful Image Colorization: a distribution over 313 quantised ab bins per pixel at 1/4 size,
    its expectation (a bias-free 1x1 convolution whose weights are the bin centres), upsampled x4."""

    architecture = "eccv16"

    def __init__(self) -> None:
        super().__init__()
        _encoder(self, 1, stride=2)
        self.model8 = nn.Sequential(_up(512, 256), nn.ReLU(inplace=True),
                                    *_convs(256, 256, 2, norm=False), nn.Conv2d(256, 313, 1))
        self.model_out = nn.Conv2d(313, 2, 1, bias=False)

    def logits(self, lightness: torch.Tensor) -> torch.Tensor:
        x = (lightness - L_CENTER) / L_SCALE
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6, self.model7,
                      self.model8):
            x = block(x)
        return x

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """L (B, 1, H, W) in 0..100 -> ab (B, 2, H, W); H and W multiples of 8."""
        ab = self.model_out(torch.softmax(self.logits(lightness), dim=1))
        return F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False) * AB_SCALE


class SIGGRAPH17(nn.Module):
    """Real-Time User-Guided Colorization: a U-Net over (L, hint ab, hint mask), regression to ab by tanh.

    Run without hints: the ab and mask channels are zero. `model_class` (the 529-way
    classification head) is kept only because the official checkpoint holds it; the
    colorization does not use it.
    """

    architecture = "siggraph17"

    def __init__(self) -> None:
        super().__init__()
        _encoder(self, 4, stride=1)
        self.model8up = nn.Sequential(_up(512, 256))
        self.model8 = _convs(256, 256, 2, relu_first=True)
        self.model9up = nn.Sequential(_up(256, 128))
        self.model9 = _convs(128, 128, 1, relu_first=True)
        self.model10up = nn.Sequential(_up(128, 128))
        self.model10 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2))
        # skip connections from the encoder, added to the upsampled features (registered after, as upstream's)
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1))
        self.model_class = nn.Sequential(nn.Conv2d(256, 529, 1))  # unused (see the class docstring)
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """L (B, 1, H, W) in 0..100 -> ab (B, 2, H, W); H and W multiples of 8."""
        x = (lightness - L_CENTER) / L_SCALE
        x = torch.cat([x, torch.zeros_like(x).expand(-1, 3, -1, -1)], dim=1)  # no hints: ab 0, mask 0
        s1 = self.model1(x)
        s2 = self.model2(s1[:, :, ::2, ::2])
        s3 = self.model3(s2[:, :, ::2, ::2])
        x = self.model4(s3[:, :, ::2, ::2])
        x = self.model7(self.model6(self.model5(x)))
        x = self.model8(self.model8up(x) + self.model3short8(s3))
        x = self.model9(self.model9up(x) + self.model2short9(s2))
        x = self.model10(self.model10up(x) + self.model1short10(s1))
        return self.model_out(x) * AB_SCALE


NETWORKS: dict[str, type[nn.Module]] = {"eccv16": ECCV16, "siggraph17": SIGGRAPH17}


def likely_cause(state: dict, model_name: str) -> str:
    """What a checkpoint that does not fit `model_name` looks like instead."""
    if "model8up.0.weight" in state or "model_class.0.weight" in state:
        other = "zhang-siggraph17"
    elif "model_out.weight" in state and "model8.6.weight" in state:
        other = "zhang-eccv16"
    else:
        return not_this_family(state, "This is not a Zhang et al. colorizer checkpoint (ECCV16 or SIGGRAPH17)")
    if other == model_name:
        return "The file may be damaged or from a modified version of the network."
    return f"These look like {other} weights: use model {other}."


# ----- batched inference with upstream's pre- and post-processing ----------------------------

SIDE = 256  # both networks see the image stretched to 256x256 (upstream's HW)


def load_network(architecture: str, weights: Path, device: str, model_name: str) -> nn.Module:
    """The network for these weights on this device (strict, safe load), loaded once per file version.

    The default (contiguous) memory layout, as upstream: on the CPU the batched forward pass then
    equals upstream's bit for bit. Channels-last ran 10-30% faster on a shared 2-core CPU but moved
    SIGGRAPH17's ab by up to 0.015 (calibrated random weights), past the 1e-4 parity limit.
    """

    def load() -> nn.Module:
        net = NETWORKS[architecture]()
        load_into(net, Path(weights), model_name, lambda state: likely_cause(state, model_name),
                  strict_globals=True)  # the official files are plain state dicts
        return net

    return cached_network("zhang", weights, device, load, architecture)


@functools.lru_cache(maxsize=1)
def lightness_table() -> np.ndarray:
    """CIE L* (float32) of each gray level: skimage's rgb2lab of the pixel (v, v, v), as upstream computes
    it for a gray image tiled to RGB. A gray image's L channel is this table indexed by the image."""
    from skimage import color

    levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)
    return color.rgb2lab(levels)[:, 0, 0].astype(np.float32)


def network_input(grays: Sequence[np.ndarray]) -> np.ndarray:
    """(B, 1, 256, 256) float32 L of the images stretched to 256x256 with PIL's bicubic filter.

    Upstream resizes the tiled RGB image; PIL filters each channel alike, so resizing the
    gray image gives the same pixels.
    """
    table = lightness_table()
    squares = [np.asarray(Image.fromarray(g, "L").resize((SIDE, SIDE), Image.Resampling.BICUBIC)) for g in grays]
    return np.stack([table[s] for s in squares])[:, None]


def to_rgb(ab: torch.Tensor, gray: np.ndarray) -> np.ndarray:
    """One image's ab (1, 2, 256, 256, float32) -> H x W x 3 uint8 RGB with the gray image's own L.

    ab is stretched to the image's size bilinearly (align_corners False, upstream's
    F.interpolate), joined to the full-size L, converted by skimage's lab2rgb (float32, clipped
    to [0, 1]), then x255 and truncated: upstream's demo saves the float image with
    matplotlib's imsave, which converts to bytes as `(x * 255).astype(uint8)`.
    """
    from skimage import color

    h, w = gray.shape
    if tuple(ab.shape[-2:]) != (h, w):
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
    lightness = torch.from_numpy(lightness_table()[gray])[None, None]
    lab = torch.cat([lightness, ab.cpu()], dim=1).numpy()[0].transpose(1, 2, 0)
    with warnings.catch_warnings():  # out-of-gamut ab is common (upstream warns per image); the values are clipped
        warnings.filterwarnings("ignore", message=".*negative Z values", category=UserWarning)
        rgb = color.lab2rgb(lab)
    return (rgb * 255).astype(np.uint8)


def network_input_tensor(grays: Sequence[torch.Tensor]) -> torch.Tensor:
    """`network_input` as torch operations on the uploaded images' device ((1, 1, H, W) grey levels each):
    PIL's bicubic resize reproduced in fixed point, then the lightness table."""
    table = torch.from_numpy(lightness_table()).to(grays[0].device)
    squares = torch.cat([imageops.resize_like_pil(g, (SIDE, SIDE), "bicubic") for g in grays])
    return table[squares.to(torch.int64)]


def to_rgb_tensor(ab: torch.Tensor, gray: torch.Tensor) -> np.ndarray:
    """`to_rgb` as torch operations on ab's device: ab (1, 2, 256, 256) and the uploaded gray image
    (1, 1, H, W) -> H x W x 3 uint8 on the host (Lab -> RGB as scikit-image computes it, in float32)."""
    ab = imageops.resize(ab, tuple(gray.shape[-2:]), "bilinear")
    lightness = torch.from_numpy(lightness_table()).to(gray.device)[gray.to(torch.int64)]
    return imageops.to_host((imageops.lab_to_rgb(torch.cat([lightness, ab], 1)) * 255).floor_())


class Engine(NetworkEngine):
    """Runs one network on batches of gray images: the batch given is one forward pass. The default
    pre- and post-processing are torch operations on the model's device; `exact` runs upstream's
    (PIL, scikit-image) on the host."""

    unit = "one 256x256 image per pass"

    def __init__(self, architecture: str, weights: Path, device: str, precision: str, model_name: str,
                 exact: bool = False):
        check_precision(precision, device)  # before the load: a clear error costs nothing
        super().__init__(load_network(architecture, weights, device, model_name), device, precision)
        self.exact = exact

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not grays:
            return []
        if self.exact:
            inputs = self.timed("preprocess", network_input, grays)
            ab = torch.cat(self.predict(inputs))
            return self.timed("postprocess", lambda: [to_rgb(ab[i:i + 1], g) for i, g in enumerate(grays)])
        uploaded = self.timed("preprocess", lambda: [imageops.upload(g, self.device) for g in grays])
        inputs = self.timed("preprocess", network_input_tensor, uploaded)
        ab = torch.cat(self.predict(inputs, lambda y: y))
        return self.timed("postprocess", lambda: [to_rgb_tensor(ab[i:i + 1], g) for i, g in enumerate(uploaded)])
