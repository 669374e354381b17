"""Upstream DeOldify (the `deoldify` package) set up as the reference, for parity tests and `bench --vs-upstream`.

Builds upstream's own learner with `pretrained=False` (no ImageNet download), gives it the
weights the harness uses, and wraps it in upstream's `ColorizerFilter`. Needs
`pip install --no-deps -r requirements-upstream.txt` plus the `test` extra.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.errors import HarnessError


def upstream_filter(arch_name: str, state_dict: dict[str, torch.Tensor], device: str = "cpu"):
    """upstream's ColorizerFilter around its generator ('deep' or 'wide') holding `state_dict`.

    `device` is 'cpu' or a CUDA device. Upstream picks its device by rewriting
    CUDA_VISIBLE_DEVICES, at import (`deoldify/__init__.py` sets it to '' unless told otherwise)
    and in its `device.set`, which would hide GPUs from the rest of this process and from its
    children; the variable is saved before the first import and restored after, and the model is
    placed explicitly. Its import also adds a stdout handler to the root logger at INFO, which
    would print every library's log lines into the harness's output: the root logger is restored too.
    """
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        try:
            import torch.nn.functional as F
            from deoldify import device as upstream_device
            from deoldify.dataset import get_dummy_databunch
            from deoldify.device_id import DeviceId
            from deoldify.filters import ColorizerFilter
            from deoldify.generators import unet_learner_deep, unet_learner_wide
            from fastai.layers import NormType
            from fastai.vision import models
        except ImportError as exc:
            raise HarnessError(f"The upstream reference is not installed ({exc}).",
                               hint="pip install -e '.[test]' && pip install --no-deps -r requirements-upstream.txt"
                               ) from None
        on_gpu = torch.device(device).type == "cuda"
        upstream_device.set(device=DeviceId.GPU0 if on_gpu else DeviceId.CPU)  # its filters ask is_gpu()
    finally:
        restore_visible_devices(saved)
        root.handlers[:] = handlers
        root.setLevel(level)
    work = Path(tempfile.mkdtemp(prefix="harness-upstream-"))
    (work / "dummy").mkdir()
    for i in range(2):  # upstream's dummy databunch lists ./dummy/
        Image.fromarray(np.full((8, 8, 3), 90 * i, np.uint8)).save(work / "dummy" / f"{i}.png")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        data = get_dummy_databunch()
    finally:
        os.chdir(cwd)
    make, backbone, nf = ((unet_learner_deep, models.resnet34, 1.5) if arch_name == "deep"
                          else (unet_learner_wide, models.resnet101, 2))
    learn = make(data, backbone, pretrained=False, wd=1e-3, blur=True, norm_type=NormType.Spectral,
                 self_attention=True, y_range=(-3.0, 3.0), loss_func=F.l1_loss, nf_factor=nf)
    learn.model.load_state_dict(state_dict, strict=True)
    learn.model.to(device).eval()
    return ColorizerFilter(learn=learn)


def restore_visible_devices(saved: str | None) -> None:
    """Put CUDA_VISIBLE_DEVICES back as it was (`saved`; None: it was not set)."""
    if saved is None:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = saved


def one_image(architecture: str, weights: Path, render_factor: int, post_process: bool, device: str):
    """Upstream's `ColorizerFilter` holding `weights`, as a gray H x W uint8 -> RGB function."""
    from harness.assets.checkpoint import safe_load, state_dict_of

    flt = upstream_filter(architecture, state_dict_of(safe_load(weights), weights), device)
    return lambda gray: colorize_upstream(flt, gray, render_factor, post_process)


def colorize_upstream(flt, gray: np.ndarray, render_factor: int, post_process: bool = True) -> np.ndarray:
    """Upstream's one-image path, fed the gray image as its original."""
    img = Image.fromarray(gray).convert("RGB")
    return np.asarray(flt.filter(img, img, render_factor, post_process=post_process))
