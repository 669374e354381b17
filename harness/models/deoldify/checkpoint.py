"""Loading DeOldify checkpoints safely, and making random ones in the same format.

Weights files are untrusted: unpickling can run code. Loading always goes through
`torch.load(weights_only=True)`, which refuses every global it does not know. fastai's
checkpoints (`{'model': state_dict, 'opt': {...}}`) also hold optimiser objects such as a
`functools.partial` of Adam; each such global is mapped to an inert stand-in that accepts
and discards its arguments, so the file loads, the tensors come back, and nothing named in
the file is ever called.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import torch

from harness.errors import HarnessError

log = logging.getLogger(__name__)

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_MAX_STAND_INS = 64
#: globals fastai v1's `Learner.save` writes into 'opt' (its OptimWrapper state: a partial of the
#: optimiser class, numpy floats from learning-rate ranges); anything else is logged when neutralised
EXPECTED_GLOBALS = ("functools.partial", "torch.optim.", "numpy.", "fastai.")


class Inert:
    """Stands in for any class or function named in a checkpoint: takes anything, does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _stand_in(name: str):
    return (type(f"Inert[{name}]", (Inert,), {"__module__": __name__}), name)


def safe_load(path: str | Path) -> object:
    """`torch.load(weights_only=True)` with unknown globals made inert; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"Weights file '{path}' does not exist.", hint="Check the `weights:` path in the spec.")
    if path.stat().st_size == 0:
        raise HarnessError(f"Weights file '{path}' is empty (0 bytes): an interrupted download?",
                           hint="Delete it and fetch again with `harness weights fetch MODEL`.")
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise HarnessError(f"Weights file '{path}' is an HTML page, not a checkpoint: the download returned a web "
                           f"page (a Dropbox 'dl=0' link or an error page).",
                           hint="Delete it and fetch again with `harness weights fetch MODEL`.")
    # Zip checkpoints (torch >= 1.6) list their globals without unpickling: map them all at
    # once. Legacy files (2019-era, such as the official ones) are discovered one error at a
    # time; there a failed attempt stops before any tensor data is read.
    stand_ins = [_stand_in(name) for name in _listed_globals(path)]
    for _ in range(_MAX_STAND_INS):
        try:
            with torch.serialization.safe_globals(stand_ins):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - classified below
            match = _GLOBAL.search(str(exc))
            if match and match.group(1) not in {n for _, n in stand_ins}:
                stand_ins.append(_stand_in(match.group(1)))
                continue
            raise _load_error(path, exc) from None
        odd = sorted(n for _, n in stand_ins if not n.startswith(EXPECTED_GLOBALS))
        if odd:
            log.warning("Weights file '%s' names %s, which no DeOldify checkpoint does; neutralised, nothing "
                        "was called.", path, ", ".join(odd))
        return obj
    raise HarnessError(f"Weights file '{path}' names more than {_MAX_STAND_INS} Python globals; refusing to load it.")


def _listed_globals(path: Path) -> list[str]:
    """Globals a zip checkpoint names beyond torch's safe set ([] for legacy or unreadable files)."""
    if not zipfile.is_zipfile(path):
        return []
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))[:_MAX_STAND_INS]
    except Exception:  # noqa: BLE001 - torch.load reports the problem with the file
        return []


def _load_error(path: Path, exc: Exception) -> HarnessError:
    text = str(exc)
    blocked = re.search(r"GLOBAL ([\w.]+) whose module ([\w.]+) is blocked", text)
    if blocked:
        return HarnessError(f"Weights file '{path}' asks to call {blocked.group(1)} while loading; refused, since "
                            f"unpickling it could run code. Nothing from it was executed.",
                            hint="Use the official weights (`harness weights fetch MODEL`) or a file you trust.")
    if "invalid load key" in text:
        return HarnessError(f"Weights file '{path}' is not a PyTorch checkpoint ({text.splitlines()[0]}).",
                            hint="It may be an HTML error page or another format; fetch it again.")
    if any(s in text for s in ("failed finding central directory", "unexpected EOF", "Ran out of input",
                               "file read failed", "truncated", "PytorchStreamReader")):
        size = path.stat().st_size
        return HarnessError(f"Weights file '{path}' is truncated or corrupt ({size:,} bytes): {text.splitlines()[0]}",
                            hint="Delete it and fetch it again with `harness weights fetch MODEL`.")
    return HarnessError(f"Cannot load weights file '{path}' safely: {type(exc).__name__}: {text.splitlines()[0]}")


def state_dict_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The generator's state dict from a fastai save (`{'model': ...}`) or a bare state dict."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise HarnessError(f"Weights file '{path}' holds no state dict (expected a fastai save with a 'model' entry "
                       f"or a plain state dict).")


def load_into(model: torch.nn.Module, path: Path, model_name: str) -> None:
    """Strict load; a mismatch names missing and unexpected keys and the likely cause."""
    state = state_dict_of(safe_load(path), path)
    expected = model.state_dict()
    # BatchNorm's batch counter appeared in torch 0.4.1 and only matters for training; torch
    # itself fills it in for older files, so a file without it is not a mismatch.
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(expected[key])
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise HarnessError(
            f"Weights file '{path}' does not fit {model_name}: {len(missing)} missing key(s) "
            f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} of the wrong shape "
            f"{wrong[:3]}. {_likely_cause(state, model_name)}")
    model.load_state_dict(state, strict=True)


def _likely_cause(state: dict, model_name: str) -> str:
    deep = any(k.startswith("layers.4.conv1.") for k in state)
    wide = any(k.startswith("layers.4.conv.") for k in state)
    if deep and model_name != "deoldify-artistic":
        return "These look like Artistic weights (resnet34, deep decoder): use model deoldify-artistic."
    if wide and model_name == "deoldify-artistic":
        return "These look like Stable/Video weights (resnet101, wide decoder): use deoldify-stable or deoldify-video."
    if not deep and not wide:
        return "This is not a DeOldify generator checkpoint (a critic, or another model?)."
    return "The file may be from a different DeOldify version or damaged."


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give a generator random, well-scaled weights (for tests and speed benchmarks, never for results).

    Convolutions get He-normal weights; spectral-norm vectors are set by power iteration so
    each normalised weight has about unit spectral norm, as in a trained checkpoint;
    self-attention is switched on (gamma 0.5); BatchNorm statistics are calibrated on gray
    photos so activations stay in range.
    """
    from harness.models.deoldify.layers import SelfAttention, SpectralConv

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
    from harness.models.deoldify.layers import SpectralConv

    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    gray = _calibration_grays(gen)
    x = (gray.expand(-1, 3, -1, -1) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
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
