"""ColorFormer inference as upstream's `inference_colorformer.py`, batched, at the ground truth's size.

Upstream, per image (BGR uint8 in): resize to S x S (OpenCV INTER_LINEAR, aspect ratio not
kept), /255, L by scikit-image's `rgb2lab`, and Lab (L, 0, 0) back to RGB (`tensor_lab2rgb`)
as the network input; the output Lab is (that L, ab) at S x S, converted back and rounded.
The harness's input is a gray image, whose L and gray RGB depend on its grey level only, so
both are tables over the 256 levels (`tables`), computed once with scikit-image as upstream.

Upstream stops at S x S; the harness scores at the ground truth's size, so here (the one
departure, as DDColor's pipeline does it) the ab is resized back to the image's H x W
(bilinear, `F.interpolate`'s align_corners=False) and joined with the L of the *original*
gray image, then converted (scikit-image's Lab -> RGB, negative Z clipped) and rounded. An
image already S x S gets exactly upstream's steps.

Default mode: the resize (bilinear, no antialiasing, rounded to grey levels as OpenCV's
8-bit resize is), the tables and the conversion run as torch operations on the model's
device. `exact`: the resize is OpenCV's on the host, as upstream.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from harness.models import imageops
from harness.models.colorformer.checkpoint import load_network
from harness.models.colorformer.network import ColorFormerNet
from harness.models.engine import NetworkEngine
from harness.models.engine import cached_network as shared_cache


def cached_network(weights: Path, device: str, model_name: str) -> ColorFormerNet:
    """The network for these weights on this device, loaded once (an `input_size` sweep shares it)."""
    return shared_cache("colorformer", weights, device, lambda: load_network(Path(weights), model_name))


@functools.lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray]:
    """(L (256,) float32, network input (256, 3) float32) of each grey level, as upstream computes them:
    scikit-image's `rgb2lab` on the float32 level / 255, then Lab (L, 0, 0) back to RGB."""
    from skimage.color import rgb2lab

    levels = np.repeat((np.arange(256, dtype=np.float32) / 255.0)[:, None, None], 3, axis=2)
    light = rgb2lab(levels)[:, 0, 0].astype(np.float32)
    lab = torch.from_numpy(np.stack([light, np.zeros_like(light), np.zeros_like(light)], 1))[:, :, None, None]
    rgb = imageops.lab_to_rgb(lab)[:, :, 0, 0].numpy()
    return light, np.ascontiguousarray(rgb, dtype=np.float32)


def network_input(small: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) whole grey levels -> (B, 3, S, S) upstream's gray RGB network input."""
    rgb = torch.from_numpy(tables()[1]).to(small.device)[small[:, 0].to(torch.int64)]  # B, S, S, 3
    return rgb.permute(0, 3, 1, 2).contiguous()


def finish(ab: torch.Tensor, gray: torch.Tensor) -> np.ndarray:
    """ab (2, S, S) and the gray image (1, 1, H, W) in grey levels, on one device -> H x W x 3 uint8 RGB:
    ab resized bilinearly to H x W, joined with the gray image's own L, Lab -> RGB, rounded."""
    h, w = gray.shape[-2:]
    ab = ab[None].float()
    if ab.shape[-2:] != (h, w):
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
    light = torch.from_numpy(tables()[0]).to(gray.device)[gray.to(torch.int64)]
    return imageops.to_host((imageops.lab_to_rgb(torch.cat([light, ab], 1)) * 255).round_())


class Engine(NetworkEngine):
    """Runs one ColorFormer network on batches of gray images at one input size and precision."""

    oom_hint = "Lower the batch size, use precision bf16, or free the GPU."

    def __init__(self, net: ColorFormerNet, device: str, input_size: int, precision: str = "fp32", *,
                 exact: bool = False):
        super().__init__(net, device, precision)
        self.size, self.exact = input_size, exact
        self.unit = f"input_size {input_size}"

    def _small(self, grays: Sequence[np.ndarray], uploaded: list[torch.Tensor]) -> torch.Tensor:
        s = self.size
        if self.exact:
            return torch.from_numpy(np.stack([cv2.resize(g, (s, s)) for g in grays])[:, None]).to(self.device).float()
        return torch.cat([imageops.levels(imageops.resize(g, (s, s), "bilinear")) for g in uploaded])

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not grays:
            return []
        uploaded = self.timed("preprocess", lambda: [imageops.upload(g, self.device) for g in grays])
        inputs = self.timed("preprocess", lambda: network_input(self._small(grays, uploaded)))
        ab = torch.cat(self.predict(inputs, lambda y: y))
        return self.timed("postprocess", lambda: [finish(a, g) for a, g in zip(ab, uploaded)])
