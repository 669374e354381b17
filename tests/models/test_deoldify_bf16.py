"""Under bf16 autocast DeOldify's head (the residual block over the features joined with the input image)
runs in bf16: the input image is cast to the features' dtype before the join, not the features promoted
to fp32. In fp32 the join is unchanged."""

from __future__ import annotations

import torch

from harness.models.deoldify.unet import ARTISTIC, build


def test_head_stays_in_bf16_under_autocast():
    net = build(ARTISTIC)
    seen = []
    net.layers[10].register_forward_hook(lambda _m, i, o: seen.append((i[0].dtype, o.dtype)))
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        net(x)
    with torch.inference_mode():
        net(x)
    assert seen == [(torch.bfloat16, torch.bfloat16), (torch.float32, torch.float32)]
