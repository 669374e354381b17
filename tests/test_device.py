"""Device resolution: auto, explicit CUDA devices that exist or not, and the numerics a run records."""

from __future__ import annotations

import pytest

import harness.device as device
from harness.errors import HarnessError


@pytest.mark.parametrize("count, asked, expected", [
    (0, "auto", "cpu"), (2, "auto", "cuda"), (0, "cpu", "cpu"), (2, "cuda", "cuda"), (2, "cuda:1", "cuda:1")])
def test_resolution(monkeypatch, count, asked, expected):
    monkeypatch.setattr(device, "_cuda_count", lambda: count)
    assert device.resolve_device(asked) == expected


@pytest.mark.parametrize("count, asked, visible", [(0, "cuda", "none"), (1, "cuda:1", "cuda:0"),
                                                   (2, "cuda:5", "cuda:0, cuda:1")])
def test_an_absent_cuda_device_is_a_clear_error(monkeypatch, count, asked, visible):
    monkeypatch.setattr(device, "_cuda_count", lambda: count)
    with pytest.raises(HarnessError) as info:
        device.resolve_device(asked)
    text = str(info.value)
    assert f"Device '{asked}'" in text and f"{count} CUDA device(s) are visible ({visible})" in text
    assert "CUDA_VISIBLE_DEVICES" in text


def test_numerics_are_recorded_on_cuda_only():
    import torch

    assert device.numerics("cpu") == {}
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:  # torch's flag objects compute these attributes, so they are set and restored by hand
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = False, True
        assert device.numerics("cuda:1") == {"tf32_convolutions": "False", "tf32_matmul": "True"}
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    assert device.device_type("cuda:1") == "cuda" and device.device_type("cpu") == "cpu"
