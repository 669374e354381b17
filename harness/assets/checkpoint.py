"""Loading checkpoints safely and strictly, for every model family (and metric networks).

Weights files are untrusted: unpickling can run code. Loading always goes through
`torch.load(weights_only=True)`, which refuses every global it does not know. Some
checkpoints also hold objects besides tensors: fastai's (`{'model': state_dict, 'opt':
{...}}`, DeOldify's format) keep a `functools.partial` of Adam; each such global is mapped
to an inert stand-in that accepts and discards its arguments, so the file loads, the
tensors come back, and nothing named in the file is ever called. Formats that are plain
state dicts (Zhang et al.'s, DDColor's, the metric networks') need no stand-in: they load
with `strict_globals`, which refuses a file naming any global beyond torch's safe set
(`shutil.rmtree` as much as `os.system`), so such a file is never half-loaded. A state
dict is loaded strictly: every key present, none extra, every shape right, or an error
naming them.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from harness.errors import HarnessError

log = logging.getLogger(__name__)

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_MAX_STAND_INS = 64
#: globals known checkpoint formats name besides tensors: fastai v1's `Learner.save` writes its
#: OptimWrapper state into 'opt' (a partial of the optimiser class, numpy floats from learning-rate
#: ranges); anything else is logged when neutralised
EXPECTED_GLOBALS = ("functools.partial", "torch.optim.", "numpy.", "fastai.")


class Inert:
    """Stands in for any class or function named in a checkpoint: takes anything, does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _stand_in(name: str):
    return (type(f"Inert[{name}]", (Inert,), {"__module__": __name__}), name)


def safe_load(path: str | Path, *, strict_globals: bool = False) -> object:
    """`torch.load(weights_only=True)` with unknown globals made inert; clear errors for bad files.

    With `strict_globals` (formats that are plain state dicts) a file that names any global
    beyond torch's safe set is refused, naming it, instead of loaded with stand-ins.
    """
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"Weights file '{path}' does not exist.", hint="Check the `weights:` path in the spec.")
    if path.stat().st_size == 0:
        raise HarnessError(f"Weights file '{path}' is empty (0 bytes): an interrupted download?",
                           hint="Delete it and fetch again with `harness weights fetch MODEL`.")
    with open(path, "rb") as f:
        raw = f.read(512)
    head = raw.lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise HarnessError(f"Weights file '{path}' is an HTML page, not a checkpoint: the download returned a web "
                           f"page (a Dropbox 'dl=0' link or an error page).",
                           hint="Delete it and fetch again with `harness weights fetch MODEL`.")
    if len(raw) < 4 and b"PK\x03\x04".startswith(raw):  # the first bytes of a zip checkpoint, and no more
        raise HarnessError(f"Weights file '{path}' is truncated ({len(raw)} bytes).",
                           hint="Delete it and fetch it again with `harness weights fetch MODEL`.")
    if not raw.startswith((b"PK\x03\x04", b"\x80")):  # torch's zip format, or a legacy pickle
        raise HarnessError(f"Weights file '{path}' is not a PyTorch checkpoint (it starts with {raw[:16]!r}).",
                           hint="Point the model at a .pth/.pt/.bin file saved by torch.save (a download that "
                                "went wrong: delete it and fetch it again with `harness weights fetch MODEL`).")
    # Zip checkpoints (torch >= 1.6) list their globals without unpickling: map them all at
    # once. Legacy files (2019-era, such as the official ones) are discovered one error at a
    # time; there a failed attempt stops before any tensor data is read.
    listed = _listed_globals(path)
    if strict_globals and listed:
        raise _foreign_global(path, listed)
    stand_ins = [_stand_in(name) for name in listed]
    for _ in range(_MAX_STAND_INS):
        try:
            with torch.serialization.safe_globals(stand_ins):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - classified below
            match = _GLOBAL.search(str(exc))
            if strict_globals and match and "is blocked" not in str(exc):
                raise _foreign_global(path, [match.group(1)]) from None
            if match and match.group(1) not in {n for _, n in stand_ins}:
                stand_ins.append(_stand_in(match.group(1)))
                continue
            raise _load_error(path, exc) from None
        odd = sorted(n for _, n in stand_ins if not n.startswith(EXPECTED_GLOBALS))
        if odd:
            log.warning("Weights file '%s' names %s, which no known checkpoint format does; neutralised, nothing "
                        "was called.", path, ", ".join(odd))
        return obj
    raise HarnessError(f"Weights file '{path}' names more than {_MAX_STAND_INS} Python globals; refusing to load it.")


def _foreign_global(path: Path, names: list[str]) -> HarnessError:
    return HarnessError(f"Weights file '{path}' names {', '.join(names[:5])} besides tensors; refused: this format "
                        f"is a plain state dict, and unpickling such a global could run code. Nothing from it was "
                        f"executed.", hint="Use the official weights (`harness weights fetch NAME`) or a plain state "
                                           "dict saved by torch.save(model.state_dict()).")


def _listed_globals(path: Path) -> list[str]:
    """Globals a zip checkpoint names beyond torch's safe set ([] for legacy or unreadable files)."""
    if not zipfile.is_zipfile(path):
        return []
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))[:_MAX_STAND_INS]
    except Exception:  # noqa: BLE001 - torch.load reports the problem with the file
        return []


#: what torch and pickle say about a file cut short or damaged
_TRUNCATED = ("failed finding central directory", "unexpected EOF", "Ran out of input", "file read failed",
              "truncated", "PytorchStreamReader", "pickle data was truncated", "EOF")


def _load_error(path: Path, exc: Exception) -> HarnessError:
    """A `HarnessError` naming the file and the fix for any failure of `torch.load` (never another
    error: an exception with no message, a cut pickle's `EOFError`, included)."""
    import pickle

    text = str(exc)
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    refetch = "Delete it and fetch it again with `harness weights fetch MODEL` (or copy a whole file there)."
    blocked = re.search(r"GLOBAL ([\w.]+) whose module ([\w.]+) is blocked", text)
    if blocked:
        return HarnessError(f"Weights file '{path}' asks to call {blocked.group(1)} while loading; refused, since "
                            f"unpickling it could run code. Nothing from it was executed.",
                            hint="Use the official weights (`harness weights fetch MODEL`) or a file you trust.")
    if "invalid load key" in text:
        return HarnessError(f"Weights file '{path}' is not a PyTorch checkpoint ({first}).",
                            hint="It may be an HTML error page or another format; fetch it again.")
    try:
        size = f"{path.stat().st_size:,} bytes"
    except OSError:
        size = "size unknown"
    if isinstance(exc, (EOFError, IndexError, pickle.UnpicklingError, zipfile.BadZipFile)) or not text.strip() \
            or any(s in text for s in _TRUNCATED):
        return HarnessError(f"Weights file '{path}' is truncated or corrupt ({size}): {type(exc).__name__}: {first}",
                            hint=refetch)
    return HarnessError(f"Cannot load weights file '{path}' safely ({size}): {type(exc).__name__}: {first}",
                        hint=f"If it is damaged: {refetch[0].lower()}{refetch[1:]}")


#: keys under which checkpoint formats nest the state dict: fastai's save, basicsr's (DDColor), others'
NESTED_KEYS = ("model", "params", "params_ema", "state_dict")


def state_dict_of(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint: a bare one, or one nested under a key of `NESTED_KEYS`."""
    if isinstance(obj, dict):
        for key in NESTED_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise HarnessError(f"Weights file '{path}' holds no state dict (expected a plain state dict or one under "
                       f"{', '.join(repr(k) for k in NESTED_KEYS)}).")


def load_into(model: torch.nn.Module, path: Path, model_name: str,
              likely_cause: Callable[[dict[str, torch.Tensor]], str] | None = None, *,
              strict_globals: bool = False) -> None:
    """Strict load of `path` into `model`; a mismatch names missing, unexpected and mis-shaped keys,
    and `likely_cause(state)` says what the file looks like instead (another model's weights?).
    `strict_globals`: see `safe_load` (for formats that are plain state dicts)."""
    state = state_dict_of(safe_load(path, strict_globals=strict_globals), path)
    expected = model.state_dict()
    # BatchNorm's batch counter appeared in torch 0.4.1 and only matters for training; torch
    # itself fills it in for older files, so a file without it is not a mismatch (when the file
    # has that BatchNorm's statistics: another model's file gets no keys of this one's).
    for key in expected:
        stats = key.removesuffix("num_batches_tracked") + "running_mean"
        if key.endswith(".num_batches_tracked") and key not in state and stats in state:
            state[key] = torch.zeros_like(expected[key])
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        cause = likely_cause(state) if likely_cause else ""
        raise HarnessError(
            f"Weights file '{path}' does not fit {model_name}: {len(missing)} missing key(s) "
            f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} of the wrong shape "
            f"{wrong[:3]}." + (f" {cause}" if cause else ""))
    model.load_state_dict(state, strict=True)


# ----- which known weights a state dict looks like (for the "wrong file" diagnosis) ------------

def _has_prefix(state: dict, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in state)


#: key signatures of every weights format the harness knows, most specific first: (test, what it is and
#: how to use it). Plain key checks, so telling a file apart never imports another family's code.
_SIGNATURES: list[tuple[Callable[[dict], bool], str]] = [
    (lambda s: "seg_decoder.layers.3.color_center1" in s, "ColorFormer weights (net_g_*.pth): use model colorformer"),
    (lambda s: _has_prefix(s, "encoder.arch.") and _has_prefix(s, "decoder.color_decoder.")
     and "encoder.arch.stages.2.26.gamma" in s, "DDColor-L (ConvNeXt-L) weights: use model ddcolor (size: large)"),
    (lambda s: _has_prefix(s, "encoder.arch.") and _has_prefix(s, "decoder.color_decoder."),
     "DDColor-T (ConvNeXt-T) weights: use model ddcolor with size: tiny"),
    (lambda s: "model8up.0.weight" in s or "model_class.0.weight" in s,
     "zhang-siggraph17 weights: use model zhang-siggraph17"),
    (lambda s: "model_out.weight" in s and "model8.6.weight" in s, "zhang-eccv16 weights: use model zhang-eccv16"),
    (lambda s: _has_prefix(s, "layers.4.conv1."),
     "DeOldify Artistic weights (resnet34, deep decoder): use model deoldify-artistic"),
    (lambda s: _has_prefix(s, "layers.4.conv."),
     "DeOldify Stable/Video weights (resnet101, wide decoder): use model deoldify-stable or deoldify-video"),
    (lambda s: _has_prefix(s, "Mixed_7c."), "Inception-v3 weights (pytorch-fid's are the fid and kid metrics' "
                                            "weights)"),
    (lambda s: "features.28.weight" in s and _has_prefix(s, "classifier."),
     "torchvision's VGG16 (the lpips metric's backbone with net: vgg)"),
    (lambda s: "features.10.weight" in s and _has_prefix(s, "classifier.") and "features.11.weight" not in s,
     "torchvision's AlexNet (the lpips metric's backbone with net: alex)"),
]


def identify(state: dict) -> str | None:
    """What a state dict looks like among the weights the harness knows (a model's or a metric
    network's), with how to use it; None when it matches none of them."""
    return next((what for test, what in _SIGNATURES if test(state)), None)


def not_this_family(state: dict, verdict: str) -> str:
    """`verdict` ("This is not a ... checkpoint"), then which known model the file looks like, if any."""
    found = identify(state)
    return verdict + (f": these look like {found}." if found else ".")
