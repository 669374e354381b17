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

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

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


class Engine(NetworkEngine):
    """Runs one DDColor network on batches of gray images at one input size and precision."""

    oom_hint = "Lower input_size, use precision bf16, or free the GPU."

    def __init__(self, net: DDColorNet, device: str, input_size: int, precision: str = "fp32"):
        super().__init__(net, device, precision)
        self.size = input_size
        self.unit = f"input_size {input_size}"

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not grays:
            return []
        prepared = self.timed("preprocess", lambda: [prepare(g, self.size) for g in grays])
        ab = torch.cat(self.predict(np.stack([p[1] for p in prepared])))
        return self.timed("postprocess", lambda: [finish(a, p[0]) for a, p in zip(ab, prepared)])
