"""DDColor inference, pixel for pixel as upstream's `ColorizationPipeline`, batched.

Per image, upstream (BGR uint8 in): /255 to float32; L of the full-size image (OpenCV
BGR2Lab); resize to S x S (OpenCV bilinear); L of that, as Lab (L, 0, 0) converted back to
RGB: the gray network input. The network returns ab at S x S, which is resized to the
image's size with `F.interpolate`'s default (nearest), joined to the full-size L, converted
with OpenCV LAB2BGR (which clips to [0, 1]) and rounded to uint8. The harness's input is a
gray image, so the BGR image upstream would be given is the gray tiled three times; the
output is turned from BGR to RGB.

The batch given to `colorize` is one forward pass (every image becomes S x S, so they
stack); a CUDA out-of-memory error halves the pass and retries, keeping the order. Networks
are cached per file and device, so an `input_size` sweep loads the weights once.
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
from harness.models.ddcolor.checkpoint import load_network
from harness.models.ddcolor.network import DDColorNet
from harness.models.engine import NetworkEngine, clear_cache  # noqa: F401 - clear_cache re-exported
from harness.models.engine import cached_network as shared_cache


def cached_network(size: str, weights: Path, device: str, model_name: str) -> DDColorNet:
    """The network for these weights on this device, loaded once (an `input_size` sweep shares it)."""
    return shared_cache("ddcolor", weights, device, lambda: load_network(size, Path(weights), model_name), size)


def prepare(gray: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(full-size L (H, W, 1) float32, network input (3, size, size) float32 gray RGB), as upstream."""
    img = (np.repeat(gray[..., None], 3, axis=2) / 255.0).astype(np.float32)  # upstream's BGR image
    full_l = cv2.cvtColor(img, cv2.COLOR_BGR2Lab)[:, :, :1]
    small_l = cv2.cvtColor(cv2.resize(img, (size, size)), cv2.COLOR_BGR2Lab)[:, :, :1]
    lab = np.concatenate([small_l, np.zeros_like(small_l), np.zeros_like(small_l)], axis=-1)
    return full_l, cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).transpose(2, 0, 1)


def finish(ab: torch.Tensor, full_l: np.ndarray) -> np.ndarray:
    """ab (2, S, S) float32 on the CPU -> RGB uint8 at the size of `full_l`: nearest resize, Lab -> BGR, round."""
    h, w = full_l.shape[:2]
    ab_full = F.interpolate(ab[None], size=(h, w))[0].numpy().transpose(1, 2, 0)
    bgr = cv2.cvtColor(np.concatenate([full_l, ab_full], axis=-1), cv2.COLOR_LAB2BGR)
    return np.ascontiguousarray((bgr * 255.0).round().astype(np.uint8)[:, :, ::-1])


@functools.lru_cache(maxsize=1)
def lightness_table() -> np.ndarray:
    """OpenCV's float L (BGR2Lab) of each gray level v / 255: a gray image's full-size L, indexed."""
    levels = np.repeat((np.arange(256, dtype=np.float32) / 255.0)[:, None, None], 3, axis=2)
    return np.ascontiguousarray(cv2.cvtColor(levels, cv2.COLOR_BGR2Lab)[:, 0, 0])


def _round_trip(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's float L of gray values v (its float Lab is tabulated: L comes in steps) and upstream's gray
    network input for them, Lab (L, 0, 0) back to RGB."""
    light = cv2.cvtColor(np.repeat(v.astype(np.float32)[:, None, None], 3, axis=2), cv2.COLOR_BGR2Lab)[:, :, :1]
    lab = np.concatenate([light, np.zeros_like(light), np.zeros_like(light)], axis=-1)
    return light[:, 0, 0], cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)[:, 0, 0]


@functools.lru_cache(maxsize=1)
def round_trip_steps() -> tuple[np.ndarray, np.ndarray]:
    """Upstream's gray network input as a step function of the gray value v in [0, 1]: the float32 values
    where OpenCV's L steps up (found by bisection on float32 bit patterns) and the input on each step, so
    `values[searchsorted(starts, v, right=True) - 1]` is OpenCV's round trip for any float32 v."""
    grid = np.linspace(0, 1, (1 << 18) + 1, dtype=np.float32)
    light, _ = _round_trip(grid)
    change = np.nonzero(light[1:] != light[:-1])[0]
    lo, hi = grid[change].view(np.int32).copy(), grid[change + 1].view(np.int32).copy()
    target = light[change + 1]
    while (hi - lo > 1).any():  # invariant: L(lo) below the step, L(hi) on it
        mid = lo + (hi - lo) // 2
        on = _round_trip(mid.view(np.float32))[0] == target
        hi, lo = np.where(on, mid, hi), np.where(on, lo, mid)
    starts = np.concatenate([[np.float32(0)], hi.view(np.float32)])
    return starts, _round_trip(starts)[1]


def prepare_tensor(grays: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """`prepare`'s network input as torch operations on the uploaded images' device: the gray image / 255
    resized bilinearly (OpenCV's INTER_LINEAR: no antialiasing), through upstream's Lab round trip
    (`round_trip_steps`), tiled to RGB. (B, 3, size, size)."""
    starts, values = (torch.from_numpy(t).to(grays[0].device) for t in round_trip_steps())
    small = torch.cat([imageops.resize(g / 255, (size, size), "bilinear") for g in grays]).clamp_(0, 1)
    step = torch.searchsorted(starts, small.contiguous(), right=True) - 1
    return values[step].expand(-1, 3, -1, -1)


def finish_tensor(ab: torch.Tensor, gray: torch.Tensor) -> np.ndarray:
    """`finish` as torch operations on ab's device: ab (2, S, S) and the uploaded gray image (1, 1, H, W)
    -> H x W x 3 uint8 RGB on the host (OpenCV's Lab -> RGB in float32, rounded)."""
    lightness = torch.from_numpy(lightness_table()).to(gray.device)[gray.to(torch.int64)]
    lab = torch.cat([lightness, imageops.resize(ab[None], tuple(gray.shape[-2:]), "nearest")], 1)
    return imageops.to_host((imageops.lab_to_rgb(lab, "opencv") * 255).round_())


class Engine(NetworkEngine):
    """Runs one DDColor network on batches of gray images at one input size and precision."""

    oom_hint = "Lower input_size, use precision bf16, or free the GPU."

    def __init__(self, net: DDColorNet, device: str, input_size: int, precision: str = "fp32", *,
                 exact: bool = False):
        super().__init__(net, device, precision)
        self.size = input_size
        self.unit = f"input_size {input_size}"
        self.exact = exact

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not grays:
            return []
        if not self.exact:
            uploaded = self.timed("preprocess", lambda: [imageops.upload(g, self.device) for g in grays])
            inputs = self.timed("preprocess", prepare_tensor, uploaded, self.size)
            ab = torch.cat(self.predict(inputs, lambda y: y))
            return self.timed("postprocess", lambda: [finish_tensor(a, g) for a, g in zip(ab, uploaded)])
        prepared = self.timed("preprocess", lambda: [prepare(g, self.size) for g in grays])
        ab = torch.cat(self.predict(np.stack([p[1] for p in prepared])))
        return self.timed("postprocess", lambda: [finish(a, p[0]) for a, p in zip(ab, prepared)])
