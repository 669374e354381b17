"""DeOldify's replicate padding is made of copies: bit for bit `F.pad(mode='replicate')`, and it runs
at the sizes where CUDA's `replication_pad2d` refuses (more than 2^31 - 1 elements)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from harness.models.deoldify.layers import BlurShuffleUp, ReplicatePadTopLeft


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["contiguous", "nhwc"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (3, 300, 16, 12), (1, 3, 1, 4), (2, 1, 6, 1)])
def test_pad_equals_replication_pad_bit_for_bit(shape, dtype, layout):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape))).to(dtype)
    x = x.contiguous(memory_format=layout)
    ours, theirs = ReplicatePadTopLeft()(x), F.pad(x, (1, 0, 1, 0), mode="replicate")
    assert torch.equal(ours, theirs)
    assert ours.dtype == theirs.dtype and ours.stride() == theirs.stride()  # same layout for the next kernels


def test_pad_equals_replication_pad_on_a_strided_view():
    x = torch.randn(2, 4, 9, 11)[:, ::2, 1:, ::3]
    assert torch.equal(ReplicatePadTopLeft()(x), F.pad(x, (1, 0, 1, 0), mode="replicate"))


class _Ops(TorchDispatchMode):
    """Records the aten ops that run (under fake tensors: their meta kernels, no memory)."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("batch", [23, 64])
def test_final_upsampling_runs_past_the_cuda_pad_limit_without_memory(batch):
    """Artistic at render factor 35: the last BlurShuffleUp pads (B, 300, 560, 560); at B = 23 that
    is 2,164,320,000 elements (> 2^31 - 1). Fake tensors carry shapes only, so nothing is allocated."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    assert batch * 300 * 560 * 560 > 2 ** 31 - 1
    with torch.device("meta"):
        layer = BlurShuffleUp(300, 300, weight_norm=True).eval()
    layer = layer.to_empty(device="cpu")
    ops = _Ops()
    with FakeTensorMode(allow_non_fake_inputs=True) as mode, torch.no_grad():
        x = mode.from_tensor(torch.empty(0)).new_empty((batch, 300, 280, 280))
        x = x.contiguous(memory_format=torch.channels_last)
        with ops:
            padded = layer.pad(torch.empty((batch, 300, 560, 560), device=x.device))
            out = layer(x)
    assert tuple(padded.shape) == (batch, 300, 561, 561)
    assert tuple(out.shape) == (batch, 300, 560, 560)
    assert "replication_pad2d" not in ops.names and "copy_" in ops.names
