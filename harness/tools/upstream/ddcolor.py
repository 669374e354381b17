"""DDColor's upstream `ColorizationPipeline` (`ddcolor`, from the reference folder) on the harness's weights.

For `harness bench --vs-upstream` and the parity tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.assets.checkpoint import safe_load, state_dict_of
from harness.tools.upstream import reference


def upstream_pipeline(weights: Path, size: str, input_size: int, device: str):
    """Upstream's `ColorizationPipeline` around `build_ddcolor_model` on `weights` (a BGR-in, BGR-out callable).

    Upstream loads with strict=False, which would hide a mismatch; the same state dict is
    then loaded strictly, so it is certain both sides hold every tensor of the file.
    """
    ref = reference.load("ddcolor")
    dev = torch.device(device)
    model = ref.build_ddcolor_model(ref.DDColor, model_path=str(weights), input_size=input_size,
                                    model_size=size, device=dev)
    model.load_state_dict(state_dict_of(safe_load(weights, strict_globals=True), Path(weights)), strict=True)
    return ref.ColorizationPipeline(model.to(dev).eval(), input_size=input_size, device=dev)


def one_image(weights: Path, size: str, input_size: int, device: str):
    """Upstream's pipeline on `weights`: gray H x W uint8 in, RGB out (upstream speaks BGR)."""
    pipeline = upstream_pipeline(Path(weights), size, input_size, device)
    return lambda gray: np.ascontiguousarray(pipeline.process(np.repeat(gray[..., None], 3, axis=2))[:, :, ::-1])
