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
    assert device.numerics("cpu") == {}
    with device.tf32_set(convolutions=False, matmul=True):
        assert device.numerics("cuda:1") == {"tf32_convolutions": "False", "tf32_matmul": "True"}
    assert device.device_type("cuda:1") == "cuda" and device.device_type("cpu") == "cpu"


def _raw_settings():
    import torch

    api = device._backends()
    if api is None:
        return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    return api[0].fp32_precision, api[1].fp32_precision


@pytest.mark.parametrize("api", ["precision-api", "legacy-flags"])
def test_tf32_is_set_and_restored_even_after_an_error(monkeypatch, api):
    if api == "legacy-flags":
        monkeypatch.setattr(device, "_backends", lambda: None)  # torch before the precision API
    before, seen = _raw_settings(), device.tf32()
    for conv, mm in ((True, False), (False, True), (False, False)):
        with pytest.raises(RuntimeError, match="boom"), device.tf32_set(convolutions=conv, matmul=mm):
            assert device.tf32() == {"convolutions": conv, "matmul": mm}
            raise RuntimeError("boom")
        assert _raw_settings() == before and device.tf32() == seen
    with device.tf32_set(matmul=not seen["matmul"]):  # None leaves the other setting alone
        assert device.tf32() == {"convolutions": seen["convolutions"], "matmul": not seen["matmul"]}


def test_the_run_key_records_tf32():
    from harness.sweep import identity

    assert identity.numerics is device.numerics  # what point_identity puts under "numerics"
    keys = set()
    for conv in (True, False):
        with device.tf32_set(convolutions=conv, matmul=False):
            keys.add(identity.run_key({"device": "cuda", "numerics": device.numerics("cuda")}))
    assert len(keys) == 2


def test_cudnn_benchmark_only_inside_fixed_size_passes():
    import torch

    before = torch.backends.cudnn.benchmark
    with device.fixed_size_passes("cpu"):
        assert torch.backends.cudnn.benchmark == before  # nothing changes on the CPU
    with pytest.raises(RuntimeError), device.fixed_size_passes("cuda:0"):
        assert torch.backends.cudnn.benchmark is True
        raise RuntimeError
    assert torch.backends.cudnn.benchmark == before


def test_network_passes_run_under_the_autotuner_on_cuda(monkeypatch):
    import torch

    from harness.models import engine

    seen = []
    net = torch.nn.Identity()
    monkeypatch.setattr(net, "forward", lambda x: seen.append(torch.backends.cudnn.benchmark) or x)
    eng = engine.NetworkEngine(net, "cpu")
    eng.device = "cuda"  # what the engine asks for; the pass itself runs on the CPU tensor given
    eng.forward(torch.zeros(1))
    assert seen == [True] and torch.backends.cudnn.benchmark is False
