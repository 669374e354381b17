"""DeOldify inference, pixel-for-pixel as upstream's `ColorizerFilter`, batched.

Per image, upstream: stretch to a square of 16·render_factor (PIL bilinear), gray via
'LA'→'RGB', ImageNet normalisation, generator, denormalise, clamp to [0, 1], ×255 and
truncate to uint8, bilinear resize back, and (post_process) keep the input's Y while taking
U and V from the model (OpenCV YUV). The harness feeds gray images, for which resizing
first and converting second equals converting first, so the square is built from the gray
image directly.

Two ways through the network. The default runs the whole batch it is given (the spec's
`batch_size`) as one forward pass in channels-last layout, which oneDNN and cuDNN run
fastest; its float rounding differs from upstream's by ~1e-3 in the raw output, a few grey
levels on a few pixels end to end. `exact` runs one image per forward pass in the default
layout, upstream's order, and is bit-identical to upstream on the CPU. No watermark is
ever added; out of memory halves the forward batch instead of silently returning gray as
upstream does.
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
from harness.models import imagenet
from harness.models.deoldify.checkpoint import load_into
from harness.models.deoldify.unet import Architecture, Generator, build

RENDER_BASE = 16
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Loaded generators, most recent last: a render-factor sweep reuses one load, and at most
#: CACHE_SIZE networks stay in memory.
_cache: OrderedDict[tuple, Generator] = OrderedDict()
_lock = threading.Lock()
CACHE_SIZE = 2


def load_generator(arch: Architecture, weights: Path, device: str, model_name: str) -> Generator:
    """The generator for these weights on this device, loaded once and shared by sweep points.

    The cache key holds the file's mtime, so weights overwritten on disk are loaded again.
    """
    key = (arch.name, str(Path(weights).resolve()), Path(weights).stat().st_mtime_ns, device)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        while len(_cache) >= CACHE_SIZE:
            _cache.popitem(last=False)
        net = build(arch)
        load_into(net, Path(weights), model_name)
        _cache[key] = net.to(device).eval()
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


def to_model_input(squares: np.ndarray, device: str, *, channels_last: bool = False) -> torch.Tensor:
    """(B, S, S) uint8 -> ImageNet-normalised (B, 3, S, S) float32."""
    host = torch.from_numpy(squares)
    if device.startswith("cuda"):
        host = host.pin_memory()  # lets the copy overlap with work already queued on the GPU
    x = host.to(device, non_blocking=True).to(torch.float32).div_(255)
    x = imagenet.normalize(x[:, None].expand(-1, 3, -1, -1))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def to_uint8(pred: torch.Tensor) -> np.ndarray:
    """Generator output -> (B, S, S, 3) uint8: denormalise, clamp to [0, 1], x255, truncate (upstream's order)."""
    out = imagenet.denormalize(pred.float()).clamp(0, 1) * 255
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
                 post_process: bool = True, *, exact: bool = False):
        if precision == "fp16" and not device.startswith("cuda"):
            raise HarnessError("precision fp16 needs a CUDA device; on the CPU use fp32 or bf16.",
                               hint="Set precision: fp32 (or bf16) in the spec, or run on a GPU.")
        layout = torch.contiguous_format if exact else torch.channels_last
        self.net, self.device, self.precision = net.to(memory_format=layout), device, precision
        self.size = RENDER_BASE * render_factor
        self.post_process = post_process
        self.exact = exact
        #: largest forward batch allowed: None (the whole batch given), 1 when exact, lowered on out-of-memory
        self.batch_cap: int | None = 1 if exact else None
        self.largest_forward = 0  # largest forward batch actually run
        self.halved = False  # whether out-of-memory lowered the cap
        #: wall seconds spent per stage since construction (logged per sweep point)
        self.seconds = {"preprocess": 0.0, "model": 0.0, "postprocess": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The generator on a model-ready batch, under autocast when the precision asks for it."""
        dtype = DTYPES[self.precision]
        with torch.inference_mode():
            if dtype is None:
                return self.net(x)
            with torch.autocast(device_type=torch.device(self.device).type, dtype=dtype):
                return self.net(x)

    def _predict(self, squares: np.ndarray) -> np.ndarray:
        """Forward passes over the batch, in chunks of at most `batch_cap`; on CUDA out-of-memory,
        halve the chunk and retry (the outputs keep their input order)."""
        n = len(squares)
        step = min(n, self.batch_cap or n)
        outs, start = [], 0
        while start < n:
            chunk = squares[start:start + step]
            try:
                t0 = time.perf_counter()
                x = to_model_input(chunk, self.device, channels_last=not self.exact)
                t1 = time.perf_counter()
                pred = self.forward(x)
                if pred.is_cuda:
                    torch.cuda.synchronize(pred.device)
                t2 = time.perf_counter()
                outs.append(to_uint8(pred))
                self.seconds["preprocess"] += t1 - t0
                self.seconds["model"] += t2 - t1
                self.seconds["postprocess"] += time.perf_counter() - t2
                self.largest_forward = max(self.largest_forward, len(chunk))
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
            self.batch_cap, self.halved = step, True
        return np.concatenate(outs)

    def batching(self) -> dict[str, str]:
        """How images actually went through the network (logged after the run)."""
        if self.exact:
            how = "exact: one image per forward pass, default memory layout (upstream's order)"
        elif self.halved:
            how = f"the runner's batch per forward pass, lowered to {self.batch_cap} after out-of-memory"
        else:
            how = "the runner's batch in one forward pass, channels-last"
        return {"forward_batch": str(self.largest_forward), "batching": how}

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
