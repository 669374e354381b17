"""Which device a run uses, and the device settings that change its numbers.

`resolve_device` turns a spec's or command's `device` into a concrete one. `numerics`
lists what, besides the device type, changes the floats a network produces there (TF32
on CUDA): a run records it, and it is part of the run key, so a run made under other
numerics is never reused.
"""

from __future__ import annotations

import os

from harness.errors import HarnessError


def _cuda_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; an absent CUDA device is an error."""
    if device == "cpu":
        return device
    count = _cuda_count()
    if device == "auto":
        return "cuda" if count else "cpu"
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= count:
        visible = ", ".join(f"cuda:{i}" for i in range(count)) or "none"
        raise HarnessError(f"Device '{device}' was asked for, but {count} CUDA device(s) are visible ({visible}).",
                           hint="Use device auto or cpu, pick a visible device, or check CUDA_VISIBLE_DEVICES.")
    return device


def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity mask, as a container or `taskset` sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def decode_workers(chosen: int | None) -> int:
    """Decoding threads: as chosen, else one per available core (decoding and the host-side checks
    must keep up with a GPU)."""
    return cpu_cores() if chosen is None else chosen


def device_type(device: str) -> str:
    """'cpu' or 'cuda': what the run key records (the index of a CUDA device does not change numbers)."""
    return device.split(":")[0]


def numerics(device: str) -> dict[str, str]:
    """Math settings of `device` that change results: on CUDA, whether fp32 convolutions and matmuls
    use TF32 (PyTorch's default for convolutions, as upstream runs); nothing on the CPU."""
    if device_type(device) != "cuda":
        return {}
    import torch

    return {"tf32_convolutions": str(torch.backends.cudnn.allow_tf32),
            "tf32_matmul": str(torch.backends.cuda.matmul.allow_tf32)}
