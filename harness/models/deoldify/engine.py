"""DeOldify inference, pixel-for-pixel as upstream's `ColorizerFilter`, batched.

Per image, upstream: stretch to a square of 16·render_factor (PIL bilinear), gray via
'LA'→'RGB', ImageNet normalisation, generator, denormalise, clamp to [0, 1], ×255 and
truncate to uint8, bilinear resize back, and (post_process) keep the input's Y while taking
U and V from the model (OpenCV YUV). The harness feeds gray images, for which resizing
first and converting second equals converting first, so the square is built from the gray
image directly.

Two ways through. The default runs the whole batch it is given (the spec's `batch_size`) as
one forward pass in channels-last layout, which oneDNN and cuDNN run fastest, and does the
resizing and the YUV recombination as torch operations on the model's device
(`models.imageops`: PIL's two-pass 8-bit resize, OpenCV's fixed-point YUV), so a GPU runs the
code the CPU tests run; its float rounding differs from upstream's by ~1e-3 in the raw output,
a few grey levels on a few pixels end to end. `exact` runs upstream's order with PIL and
OpenCV on the host, one image per forward pass in the default layout, and is bit-identical to
upstream on the CPU. No watermark is
ever added; out of memory halves the forward batch instead of silently returning gray as
upstream does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from harness.models import imagenet, imageops
from harness.models.deoldify.checkpoint import load_into
from harness.models.deoldify.unet import Architecture, Generator, build
from harness.models.engine import NetworkEngine, cached_network, clear_cache  # noqa: F401 - clear_cache re-exported

RENDER_BASE = 16


def load_generator(arch: Architecture, weights: Path, device: str, model_name: str) -> Generator:
    """The generator for these weights on this device, loaded once and shared by sweep points."""

    def load() -> Generator:
        net = build(arch)
        load_into(net, Path(weights), model_name)
        return net

    return cached_network("deoldify", weights, device, load, arch.name)


def square_inputs(grays: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Gray images stretched to size x size with PIL's bilinear filter: (B, size, size) uint8."""
    return np.stack([np.asarray(Image.fromarray(g, "L").resize((size, size), Image.Resampling.BILINEAR))
                     for g in grays])


def square_tensor(grays: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """Uploaded gray images ((1, 1, H, W) grey levels) stretched to size x size as PIL does: (B, S, S)."""
    return torch.cat([imageops.resize_like_pil(g, (size, size), "bilinear") for g in grays])[:, 0]


def to_model_input(squares: np.ndarray | torch.Tensor, device: str, *, channels_last: bool = False) -> torch.Tensor:
    """(B, S, S) grey levels (uint8 on the host, or a float tensor on `device`) -> ImageNet-normalised
    (B, 3, S, S) float32."""
    if isinstance(squares, torch.Tensor):
        x = squares.to(device, torch.float32) / 255
    else:
        host = torch.from_numpy(squares)
        if device.startswith("cuda"):
            host = host.pin_memory()  # lets the copy overlap with work already queued on the GPU
        x = host.to(device, non_blocking=True).to(torch.float32).div_(255)
    x = imagenet.normalize(x[:, None].expand(-1, 3, -1, -1))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def to_levels(pred: torch.Tensor) -> torch.Tensor:
    """Generator output -> (B, 3, S, S) whole grey levels, on its device: denormalise, clamp to [0, 1],
    x255, truncate (upstream's order)."""
    return (imagenet.denormalize(pred.float()).clamp(0, 1) * 255).floor_()


def to_uint8(pred: torch.Tensor) -> np.ndarray:
    """Generator output -> (B, S, S, 3) uint8 on the host (upstream's order, as `to_levels`)."""
    return to_levels(pred).permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()


def finish_tensor(square: torch.Tensor, gray: torch.Tensor, post_process: bool) -> np.ndarray:
    """`finish` as torch operations on the square's device: (3, S, S) levels and the uploaded gray image
    (1, 1, H, W) -> H x W x 3 uint8 on the host."""
    raw = imageops.resize_like_pil(square[None], tuple(gray.shape[-2:]), "bilinear")
    return imageops.to_host(imageops.keep_luma(gray, raw) if post_process else raw)


def finish(color_square: np.ndarray, gray: np.ndarray, post_process: bool) -> np.ndarray:
    """Resize the model's square back to the input size; optionally keep the input's luminance."""
    h, w = gray.shape
    raw = np.asarray(Image.fromarray(color_square, "RGB").resize((w, h), Image.Resampling.BILINEAR))
    if not post_process:
        return raw
    orig = np.repeat(gray[..., None], 3, axis=2)
    yuv = cv2.cvtColor(orig, cv2.COLOR_RGB2YUV)
    yuv[..., 1:] = cv2.cvtColor(raw, cv2.COLOR_RGB2YUV)[..., 1:]
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)


class Engine(NetworkEngine):
    """Runs one generator on batches of gray images at one render factor and precision."""

    oom_hint = "Lower render_factor, use precision bf16, or free the GPU."

    def __init__(self, net: Generator, device: str, render_factor: int, precision: str = "fp32",
                 post_process: bool = True, *, exact: bool = False):
        layout = torch.contiguous_format if exact else torch.channels_last
        super().__init__(net.to(memory_format=layout), device, precision, batch_cap=1 if exact else None)
        self.size = RENDER_BASE * render_factor
        self.unit = f"render_factor {render_factor}, {self.size}x{self.size} pixels"
        self.post_process = post_process
        self.exact = exact

    def to_device(self, squares: np.ndarray) -> torch.Tensor:
        return to_model_input(squares, self.device, channels_last=not self.exact)

    def batching(self) -> dict[str, str]:
        if not self.exact:
            return {**super().batching(), **({} if self.halved else {"batching": "the runner's batch in one forward "
                                                                                 "pass, channels-last"})}
        return {"forward_batch": str(self.largest_forward),
                "batching": "exact: one image per forward pass, default memory layout (upstream's order)"}

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not grays:
            return []
        if self.exact:
            inputs = self.timed("preprocess", square_inputs, grays, self.size)
            squares = np.concatenate(self.predict(inputs, to_uint8))
            return self.timed("postprocess", lambda: [finish(sq, g, self.post_process)
                                                      for sq, g in zip(squares, grays)])
        uploaded = self.timed("preprocess", lambda: [imageops.upload(g, self.device) for g in grays])
        inputs = self.timed("preprocess", square_tensor, uploaded, self.size)
        squares = torch.cat(self.predict(inputs, to_levels))
        return self.timed("postprocess", lambda: [finish_tensor(sq, g, self.post_process)
                                                  for sq, g in zip(squares, uploaded)])
