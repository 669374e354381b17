"""DeOldify checkpoints: strict loading with DeOldify's own diagnosis, and random ones in the same format.

Safe loading itself is `harness.assets.checkpoint`; what is DeOldify's here is telling
Artistic from Stable weights when a file does not fit, and making random generators in
fastai's checkpoint format (tests and speed benchmarks).
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.assets.checkpoint import load_into as _strict_load
from harness.assets.checkpoint import (
    not_this_family,
    safe_load,  # noqa: F401 - re-exported for DeOldify's callers
)
from harness.models import imagenet
from harness.models.deoldify.layers import SelfAttention, SpectralConv


def load_into(model: torch.nn.Module, path: Path, model_name: str) -> None:
    """Strict load of a DeOldify checkpoint; a mismatch says which variant the file looks like."""
    _strict_load(model, path, model_name, lambda state: _likely_cause(state, model_name))


def _likely_cause(state: dict, model_name: str) -> str:
    deep = any(k.startswith("layers.4.conv1.") for k in state)
    wide = any(k.startswith("layers.4.conv.") for k in state)
    if deep and model_name != "deoldify-artistic":
        return "These look like Artistic weights (resnet34, deep decoder): use model deoldify-artistic."
    if wide and model_name == "deoldify-artistic":
        return "These look like Stable/Video weights (resnet101, wide decoder): use deoldify-stable or deoldify-video."
    if not deep and not wide:
        return not_this_family(state, "This is not a DeOldify generator checkpoint (a critic, or another model?)")
    return "The file may be from a different DeOldify version or damaged."


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give a generator random, well-scaled weights (for tests and speed benchmarks, never for results).

    Convolutions get He-normal weights; spectral-norm vectors are set by power iteration so
    each normalised weight has about unit spectral norm, as in a trained checkpoint;
    self-attention is switched on (gamma 0.5); BatchNorm statistics are calibrated on gray
    photos so activations stay in range.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(module, SelfAttention):
                module.gamma.fill_(0.5)
            for name, param in module.named_parameters(recurse=False):
                if param.dim() > 1:
                    param.copy_(torch.randn(param.shape, generator=gen) * (2.0 / param[0].numel()) ** 0.5)
                elif name == "bias":
                    param.copy_(0.01 * torch.randn(param.shape, generator=gen))
            if isinstance(module, SpectralConv):
                w = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
                v = torch.nn.functional.normalize(torch.randn(w.shape[1], generator=gen, dtype=w.dtype), dim=0)
                for _ in range(10):
                    u = torch.nn.functional.normalize(w @ v, dim=0)
                    v = torch.nn.functional.normalize(w.T @ u, dim=0)
                module.weight_u.copy_(u)
                module.weight_v.copy_(v)
    _calibrate(model, gen)
    return model


def _calibration_grays(gen: torch.Generator, size: int = 96) -> torch.Tensor:
    """(6, 1, size, size) in [0, 1]: scikit-image's bundled gray photos plus smooth and sharp noise."""
    import skimage.data

    photos = []
    for image in (skimage.data.camera(), skimage.data.coins(), skimage.data.moon(), skimage.data.page()):
        t = torch.from_numpy(image).float()[None, None] / 255
        photos.append(torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False))
    coarse = torch.nn.functional.interpolate(torch.rand((1, 1, 8, 8), generator=gen), size=(size, size),
                                             mode="bilinear", align_corners=False)
    fine = torch.rand((1, 1, size, size), generator=gen)
    return torch.cat([*photos, coarse, fine])


def _calibrate(model: torch.nn.Module, gen: torch.Generator) -> None:
    """One pass over gray photos sets every BatchNorm's running statistics to its input's and
    scales the last convolution so the pre-sigmoid output has unit RMS.

    Without this a deep random network (resnet101) saturates its output sigmoid and every
    image comes out the same clamped colour, which would make comparisons meaningless.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    gray = _calibration_grays(gen)
    x = imagenet.normalize(gray.expand(-1, 3, -1, -1))
    last = [m for m in model.modules() if isinstance(m, SpectralConv)][-1]
    seen: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch gives exactly its statistics
        model.train()  # BatchNorm normalises with the batch's statistics, as eval mode will with the stored ones
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        model.eval()
    # The last convolution sums hundreds of unit-variance channels; scaling its stored u
    # (which scales the spectral-norm estimate u·Wv) brings the pre-sigmoid output to unit
    # RMS (not std: ReLU features have large means) so colours vary instead of clamping.
    with torch.no_grad():
        last.weight_u.mul_(float(seen[0].pow(2).mean().sqrt()))


def save_fastai(model: torch.nn.Module, path: Path, *, legacy: bool = False) -> Path:
    """Save as fastai v1 does (`{'model': ..., 'opt': ...}`, optimiser objects included)."""
    import functools

    opt = {"opt_func": functools.partial(torch.optim.Adam, betas=(0.9, 0.99)), "lr": [1e-3], "mom": [0.9],
           "wd": [1e-3], "beta": [0.99], "true_wd": True, "bn_wd": True,
           "opt_state": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}}
    torch.save({"model": model.state_dict(), "opt": opt}, path, _use_new_zipfile_serialization=not legacy)
    return path
