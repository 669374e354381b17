"""DeOldify inference, pixel-for-pixel as upstream's `ColorizerFilter`, but batched.

Per image, upstream: stretch to a square of 16·render_factor (PIL bilinear), gray via
'LA'→'RGB', ImageNet normalisation, generator, denormalise, clamp to [0, 1], ×255 and
truncate to uint8, bilinear resize back, and (post_process) keep the input's Y while taking
U and V from the model (OpenCV YUV). The harness feeds gray images, for which resizing
first and converting second equals converting first, so the square is built from the gray
image directly. Every image of one render factor has the same square size, so a batch is
one forward pass. No watermark is ever added; out of memory halves the batch instead of
silently returning gray as upstream does.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from harness.errors import HarnessError
from harness.models.deoldify.unet import Architecture, Generator, build

RENDER_BASE = 16
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Loaded generators, most recent last: a render-factor sweep reuses one load, and at most
#: CACHE_SIZE networks stay in memory.
_cache: OrderedDict[tuple, Generator] = OrderedDict()
_lock = threading.Lock()
CACHE_SIZE = 2


def load_generator(arch: Architecture, weights: Path, device: str, model_name: str) -> Generator:
    """The generator for these weights on this device, loaded once and shared by sweep points."""
    from harness.models.deoldify.checkpoint import load_into

    key = (arch.name, str(Path(weights).resolve()), Path(weights).stat().st_mtime_ns, device)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        while len(_cache) >= CACHE_SIZE:
            _cache.popitem(last=False)
        net = build(arch)
        load_into(net, Path(weights), model_name)
        net = net.to(device).eval()
        if device.startswith("cuda"):  # faster convolutions on GPUs; on the CPU it changes rounding vs upstream
            net = net.to(memory_format=torch.channels_last)
        _cache[key] = net
        return _cache[key]


def clear_cache() -> None:
    with _lock:
        _cache.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def square_inputs(grays: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Gray images stretched to size x size with PIL's bilinear filter: (B, size, size) uint8."""
    return np.stack([np.asarray(Image.fromarray(g, "L").resize((size, size), Image.Resampling.BILINEAR))
                     for g in grays])


def to_model_input(squares: np.ndarray, device: str) -> torch.Tensor:
    """(B, S, S) uint8 -> ImageNet-normalised (B, 3, S, S) float32 (channels-last on CUDA)."""
    host = torch.from_numpy(squares)
    if device.startswith("cuda"):
        host = host.pin_memory()  # lets the copy overlap with work already queued on the GPU
    x = host.to(device, non_blocking=True).to(torch.float32).div_(255)
    x = x[:, None].expand(-1, 3, -1, -1)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


def to_uint8(pred: torch.Tensor) -> np.ndarray:
    """Generator output -> (B, S, S, 3) uint8: denormalise, clamp to [0, 1], x255, truncate (upstream's order)."""
    mean = torch.tensor(MEAN, device=pred.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=pred.device).view(1, 3, 1, 1)
    out = (pred.float() * std + mean).clamp(0, 1) * 255
    return out.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()


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


class Engine:
    """Runs one generator on batches of gray images at one render factor and precision."""

    def __init__(self, net: Generator, device: str, render_factor: int, precision: str = "fp32",
                 post_process: bool = True):
        if precision == "fp16" and not device.startswith("cuda"):
            raise HarnessError("precision fp16 needs a CUDA device; on the CPU use fp32 or bf16.",
                               hint="Set precision: fp32 (or bf16) in the spec, or run on a GPU.")
        self.net, self.device, self.precision = net, device, precision
        self.size = RENDER_BASE * render_factor
        self.post_process = post_process
        # On the CPU images go through the network one at a time: batching gains little there,
        # and batch-size-dependent kernels would change float rounding, while one at a time the
        # output is bit-identical to upstream's. On CUDA the whole batch runs at once; this is
        # lowered after an out-of-memory error.
        self.max_batch: int | None = None if device.startswith("cuda") else 1
        #: wall seconds spent per stage since construction (logged per sweep point)
        self.seconds = {"preprocess": 0.0, "model": 0.0, "postprocess": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = DTYPES[self.precision]
        with torch.inference_mode():
            if dtype is None:
                return self.net(x)
            with torch.autocast(device_type=torch.device(self.device).type, dtype=dtype):
                return self.net(x)

    def _predict(self, squares: np.ndarray) -> np.ndarray:
        """Forward pass in chunks; on CUDA out-of-memory, halve the chunk and retry."""
        n = len(squares)
        step = min(n, self.max_batch or n)
        outs, start = [], 0
        while start < n:
            chunk = squares[start:start + step]
            try:
                t0 = time.perf_counter()
                x = to_model_input(chunk, self.device)
                t1 = time.perf_counter()
                pred = self.forward(x)
                if pred.is_cuda:
                    torch.cuda.synchronize(pred.device)
                t2 = time.perf_counter()
                outs.append(to_uint8(pred))
                self.seconds["preprocess"] += t1 - t0
                self.seconds["model"] += t2 - t1
                self.seconds["postprocess"] += time.perf_counter() - t2
                start += len(chunk)
                continue
            except torch.cuda.OutOfMemoryError:
                pass  # handled below, once the traceback (which pins the failed pass's tensors) is released
            if step == 1:
                raise HarnessError(f"Out of GPU memory at batch size 1, render_factor {self.size // RENDER_BASE} "
                                   f"({self.size}x{self.size} pixels).",
                                   hint="Lower render_factor, use precision bf16, or free the GPU.")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            step = (step + 1) // 2
            self.max_batch = step
        return np.concatenate(outs)

    def batching(self) -> str:
        """How images go through the network (logged with the run's params)."""
        if self.max_batch == 1 and not self.device.startswith("cuda"):
            return "1 image per forward pass on the CPU (bit-identical to upstream's one-image loop)"
        if self.max_batch is None:
            return "the runner's batch_size per forward pass, halved and retried on CUDA out-of-memory"
        return f"up to {self.max_batch} images per forward pass (lowered after CUDA out-of-memory)"

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not grays:
            return []
        t0 = time.perf_counter()
        inputs = square_inputs(grays, self.size)
        self.seconds["preprocess"] += time.perf_counter() - t0
        squares = self._predict(inputs)
        t1 = time.perf_counter()
        outs = [finish(sq, g, self.post_process) for sq, g in zip(squares, grays)]
        self.seconds["postprocess"] += time.perf_counter() - t1
        return outs
