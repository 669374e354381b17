"""Which device a run uses, and the device settings that change its numbers.

`resolve_device` turns a spec's or command's `device` into a concrete one. `numerics`
lists what, besides the device type, changes the floats a network produces there (TF32
on CUDA): a run records it, and it is part of the run key, so a run made under other
numerics is never reused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

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


def _backends():
    """(convolution settings, matmul settings) objects of the new precision API, or None before it (torch < 2.9)."""
    import torch

    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    matmul = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if conv is None or matmul is None:
        return None
    return torch.backends.cudnn.conv, torch.backends.cuda.matmul


def _uses_tf32(value: str) -> bool:
    """A precision setting of the new API: 'tf32', 'ieee', or 'none' (inherit the global setting)."""
    import torch

    if value == "none":
        value = getattr(torch.backends, "fp32_precision", "ieee")
    return value == "tf32"


def tf32() -> dict[str, bool]:
    """Whether fp32 convolutions and matmuls may use TF32 on CUDA: read through the precision API where torch
    has it (reading the legacy flags raises once that API was used), the legacy flags otherwise."""
    import torch

    api = _backends()
    if api is None:
        return {"convolutions": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32}
    return {"convolutions": _uses_tf32(api[0].fp32_precision), "matmul": _uses_tf32(api[1].fp32_precision)}


def _set_tf32(convolutions: bool, matmul: bool) -> None:
    import torch

    api = _backends()
    if api is None:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = convolutions, matmul
        return
    api[0].fp32_precision = "tf32" if convolutions else "ieee"
    api[1].fp32_precision = "tf32" if matmul else "ieee"


@contextlib.contextmanager
def tf32_set(*, convolutions: bool | None = None, matmul: bool | None = None) -> Iterator[None]:
    """TF32 for fp32 convolutions and/or matmuls set inside the block (None: unchanged) and restored after it,
    through the same API `tf32` reads."""
    import torch

    api = _backends()
    saved = ((api[0].fp32_precision, api[1].fp32_precision) if api is not None
             else (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
    now = tf32()
    _set_tf32(now["convolutions"] if convolutions is None else convolutions, now["matmul"] if matmul is None else matmul)
    try:
        yield
    finally:
        if api is None:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        else:
            api[0].fp32_precision, api[1].fp32_precision = saved


@contextlib.contextmanager
def fixed_size_passes(device: str) -> Iterator[None]:
    """cuDNN's autotuner (`cudnn.benchmark`) on for the block on CUDA, then restored: right for a network
    that sees one input size again and again (a render factor's square), wrong globally (LPIPS at each
    image's native size would tune for every size). Nothing changes on the CPU."""
    if device_type(device) != "cuda":
        yield
        return
    import torch

    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def numerics(device: str) -> dict[str, str]:
    """Math settings of `device` that change results: on CUDA, whether fp32 convolutions and matmuls
    use TF32 (PyTorch's default for convolutions, as upstream runs); nothing on the CPU."""
    if device_type(device) != "cuda":
        return {}
    now = tf32()
    return {"tf32_convolutions": str(now["convolutions"]), "tf32_matmul": str(now["matmul"])}
