"""What every network-backed model shares: the loaded-network cache and the batched forward pass.

`cached_network` keeps the last few loaded networks (across families) so a sweep over a
model's settings loads its weights once; the key holds the file's mtime, so weights
overwritten on disk are loaded again. `NetworkEngine` runs a network on a batch as one
forward pass (the spec's `batch_size`), under autocast for bf16/fp16, halving the pass and
retrying after a CUDA out-of-memory error (outputs keep their order, never silently gray),
with wall-clock stage timings and a record of the forward batch actually used. A family
supplies its own pre- and post-processing around `NetworkEngine.predict`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from harness.device import fixed_size_passes
from harness.errors import HarnessError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: loaded networks kept in memory, all families together (most recent last)
CACHE_SIZE = 2
_cache: OrderedDict[tuple, torch.nn.Module] = OrderedDict()
_lock = threading.Lock()


def cached_network(family: str, weights: Path, device: str, load: Callable[[], torch.nn.Module],
                   *key: object) -> torch.nn.Module:
    """The network `load()` builds from `weights`, on `device`, loaded once per file version.

    `key` adds what else distinguishes two networks of one family (architecture, size).
    """
    path = Path(weights)
    full = (family, *key, str(path.resolve()), path.stat().st_mtime_ns, device)
    with _lock:
        if full in _cache:
            _cache.move_to_end(full)
            return _cache[full]
        while len(_cache) >= CACHE_SIZE:
            _cache.popitem(last=False)
        _cache[full] = load().to(device).eval()
        return _cache[full]


def clear_cache() -> None:
    """Drop every cached network (and CUDA's cached blocks)."""
    with _lock:
        _cache.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def check_precision(precision: str, device: str) -> None:
    if precision == "fp16" and not device.startswith("cuda"):
        raise HarnessError("precision fp16 needs a CUDA device; on the CPU use fp32 or bf16.",
                           hint="Set precision: fp32 (or bf16) in the spec, or run on a GPU.")


class NetworkEngine:
    """One network on one device at one precision; see the module docstring."""

    #: what one image is for the network, for the out-of-memory message ("input_size 512", ...)
    unit = "one image"
    oom_hint = "Use precision bf16, or free the GPU."

    def __init__(self, net: torch.nn.Module, device: str, precision: str = "fp32", *, batch_cap: int | None = None):
        check_precision(precision, device)
        self.net, self.device, self.precision = net, device, precision
        #: largest forward batch allowed: None (the whole batch given); lowered on out-of-memory
        self.batch_cap = batch_cap
        self.largest_forward = 0  # largest forward batch actually run
        self.halved = False  # whether out-of-memory lowered the cap
        #: wall seconds spent per stage since construction (logged per sweep point)
        self.seconds = {"preprocess": 0.0, "model": 0.0, "postprocess": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a model-ready batch, under autocast when the precision asks for it (output float32)."""
        dtype = DTYPES[self.precision]
        with torch.inference_mode(), fixed_size_passes(self.device):  # every family feeds fixed-size squares
            if dtype is None:
                return self.net(x)
            with torch.autocast(device_type=torch.device(self.device).type, dtype=dtype):
                return self.net(x).float()

    def to_device(self, chunk: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A chunk of prepared inputs as the network's input tensor (pinned host memory on CUDA); a tensor
        prepared on the device already is used as it is."""
        if isinstance(chunk, torch.Tensor):
            return chunk.to(self.device)
        host = torch.from_numpy(np.ascontiguousarray(chunk))
        if self.device.startswith("cuda"):
            host = host.pin_memory()  # lets the copy overlap with work already queued on the GPU
        return host.to(self.device, non_blocking=True)

    def predict(self, inputs: np.ndarray, collect: Callable[[torch.Tensor], object] = lambda y: y.cpu()) -> list:
        """`collect(network output)` for chunks of at most `batch_cap` inputs (one chunk unless capped);
        on CUDA out-of-memory the chunk is halved and retried. Returns the collected chunks in order."""
        n = len(inputs)
        step = min(n, self.batch_cap or n)
        outs, start = [], 0
        while start < n:
            chunk = inputs[start:start + step]
            try:
                t0 = time.perf_counter()
                x = self.to_device(chunk)
                t1 = time.perf_counter()
                y = self.forward(x)
                if y.is_cuda:
                    torch.cuda.synchronize(y.device)
                t2 = time.perf_counter()
                outs.append(collect(y))
                self.seconds["preprocess"] += t1 - t0
                self.seconds["model"] += t2 - t1
                self.seconds["postprocess"] += time.perf_counter() - t2
                self.largest_forward = max(self.largest_forward, len(chunk))
                start += len(chunk)
                continue
            except torch.cuda.OutOfMemoryError:
                pass  # handled below, once the traceback (which pins the failed pass's tensors) is released
            if step == 1:
                raise HarnessError(f"Out of GPU memory at batch size 1, {self.unit}.", hint=self.oom_hint)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            step = (step + 1) // 2
            self.batch_cap, self.halved = step, True
        return outs

    def batching(self) -> dict[str, str]:
        """How images actually went through the network (logged after the run)."""
        how = (f"the runner's batch per forward pass, lowered to {self.batch_cap} after out-of-memory" if self.halved
               else "the runner's batch in one forward pass")
        return {"forward_batch": str(self.largest_forward), "batching": how}

    def warnings(self) -> list[str]:
        """Fallbacks taken so far, for the run's warnings: a forward pass lowered after out-of-memory."""
        if not self.halved:
            return []
        return [f"out of GPU memory: forward passes lowered to {self.batch_cap} images (the spec's batch_size "
                f"asks for more); the numbers are the same, the speed is not"]

    def timed(self, stage: str, fn: Callable, *args):
        """`fn(*args)`, its wall time added to `stage`."""
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[stage] += time.perf_counter() - start
