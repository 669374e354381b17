"""DDColor checkpoints: strict loading with a diagnosis, random weights in the official format,
and upstream's pipeline on the same file (for `harness bench --vs-upstream`).

The official files (`pytorch_model.bin` of the Hugging Face repos piddnad/ddcolor_*) are
raw state dicts of upstream's model, saved by `PyTorchModelHubMixin` (the hub lists only
OrderedDict and tensor-rebuild globals in their pickles); basicsr training checkpoints
nest the same dict under 'params', which `state_dict_of` unwraps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.assets.checkpoint import load_into, not_this_family
from harness.models.ddcolor.convnext import CONFIGS
from harness.models.ddcolor.layers import SpectralConv2d
from harness.models.ddcolor.network import DDColorNet, build

#: key whose presence tells the sizes apart (stage 3 has 27 blocks in ConvNeXt-L, 9 in ConvNeXt-T)
_LARGE_ONLY = "encoder.arch.stages.2.26.gamma"
_STEM = "encoder.arch.downsample_layers.0.0.weight"


def size_of(state: dict[str, torch.Tensor]) -> str | None:
    """'tiny' or 'large' when `state` looks like a DDColor state dict of that size, else None."""
    if not (any(k.startswith("encoder.arch.") for k in state) and any(k.startswith("decoder.color_decoder.")
                                                                       for k in state)):
        return None
    stem = state.get(_STEM)
    for size, config in CONFIGS.items():
        if stem is not None and stem.shape[0] == config.dims[0]:
            return size
    return "large" if _LARGE_ONLY in state else "tiny"


def likely_cause(state: dict[str, torch.Tensor], size: str) -> str:
    """What a checkpoint that does not fit DDColor-`size` looks like instead."""
    found = size_of(state)
    if found is None:
        prefixed = {k.split(".", 1)[0] for k in state if ".encoder.arch." in f".{k}" and not k.startswith("encoder.")}
        if prefixed:
            return (f"Its keys carry a prefix ({', '.join(sorted(prefixed))}.): a wrapped model's state dict, "
                    f"not DDColor's own.")
        return not_this_family(state, "This is not a DDColor checkpoint (no ConvNeXt encoder and colour decoder keys)")
    if found != size:
        other = "DDColor-T (ConvNeXt-T): use size: tiny (weights_variant paper_tiny)" if found == "tiny" \
            else "DDColor-L (ConvNeXt-L): use size: large (weights_variant paper, modelscope or artistic)"
        return f"These look like {other}."
    return "The file may come from a different DDColor version, or be damaged."


def load_network(size: str, path: Path, model_name: str) -> DDColorNet:
    """A DDColor network of `size` holding the weights in `path`, loaded strictly (every key matched)."""
    net = build(size)
    load_into(net, Path(path), model_name, lambda state: likely_cause(state, size),
              strict_globals=True)  # the official files are raw state dicts
    return net.eval()


def calibration_grays(size: int = 96) -> torch.Tensor:
    """(4, 3, size, size) gray photos in [0, 1] from scikit-image, as gray RGB."""
    import skimage.data
    from PIL import Image

    photos = [skimage.data.camera(), skimage.data.coins(),
              np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L")),
              np.asarray(Image.fromarray(skimage.data.chelsea()).convert("L"))]
    squares = [np.asarray(Image.fromarray(p).resize((size, size), Image.Resampling.BILINEAR)) for p in photos]
    return torch.from_numpy(np.stack(squares)).float().div(255)[:, None].expand(-1, 3, -1, -1).contiguous()


def randomize_(net: DDColorNet, seed: int = 0, ab_rms: float = 25.0) -> DDColorNet:
    """Random, well-scaled weights (tests and speed benchmarks only, never results).

    Weights are LeCun-normal, norms and biases jittered, ConvNeXt's layer scales set to
    ~0.3 (its init, 1e-6, would make every block an identity); the spectral-norm vectors
    are converged by power iteration (with random vectors, eval mode divides by a tiny u.Wv
    and the output reaches ~1e12); BatchNorm statistics come from a train-mode pass over
    gray photos; finally the refinement's u is scaled so ab has RMS `ab_rms` on those photos,
    a plausible colour range, so images differ in colour end to end. ImageNet mean/std stay.
    """
    gen = torch.Generator().manual_seed(seed)

    def randn(t: torch.Tensor) -> torch.Tensor:
        return torch.randn(t.shape, generator=gen, dtype=t.dtype)

    with torch.no_grad():
        for module in net.modules():
            norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)) or type(module).__name__ == "ChannelNorm"
            for name, p in module.named_parameters(recurse=False):
                if name == "gamma":
                    p.copy_(0.3 * (1 + 0.2 * randn(p)))
                elif norm:
                    p.copy_((1 if name == "weight" else 0) + 0.1 * randn(p))
                elif isinstance(module, torch.nn.Embedding):
                    p.copy_(randn(p))
                elif p.dim() > 1:
                    p.copy_(randn(p) * (1.0 / p[0].numel()) ** 0.5)
                else:
                    p.copy_(0.02 * randn(p))
            if isinstance(module, SpectralConv2d):
                module.weight_u.copy_(torch.nn.functional.normalize(randn(module.weight_u), dim=0))
                module.weight_v.copy_(torch.nn.functional.normalize(randn(module.weight_v), dim=0))
                module.power_iteration_(100)
    _calibrate(net, ab_rms)
    return net


def _calibrate(net: DDColorNet, ab_rms: float) -> None:
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    x = calibration_grays()
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets exactly its statistics
        net.train()
        with torch.no_grad():
            net(x)
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        net.eval()
    refine = net.refine_net[0][0]
    with torch.no_grad():
        rms = float(net(x).pow(2).mean().sqrt())
        refine.weight_u.mul_(rms / ab_rms)  # u.Wv scales with u: the output (less its bias) by ab_rms / rms


def write_random(path: Path, size: str, seed: int = 0) -> Path:
    """Random DDColor-`size` weights saved as the official files are: a raw state dict."""
    net = randomize_(build(size), seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
