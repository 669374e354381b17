"""ColorFormer checkpoints: strict, safe loading with a diagnosis, and random weights in the official format.

The official `net_g_200000.pth` is BasicSR's training checkpoint, `{'params': state_dict}`,
saved on the CPU (`state_dict_of` unwraps it; it is read with `weights_only=True`). Its state
dict holds the whole network, the colour memory's centres (`color_center1..4`,
`semantic_centers`) included, so upstream's `.npy` centre files and `GLH.pth` backbone, which
its constructor reads before the checkpoint overwrites them, are not needed here. Centre
files given anyway (to compare them with a checkpoint) are read by `read_centres`, without
pickle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.assets.checkpoint import load_into, not_this_family
from harness.errors import HarnessError
from harness.models.colorformer.layers import SpectralConv2d
from harness.models.colorformer.network import ColorFormerNet, build

_MARK = "seg_decoder.layers.3.color_center1"


def likely_cause(state: dict[str, torch.Tensor]) -> str:
    """What a checkpoint that does not fit ColorFormer looks like instead."""
    if _MARK not in state:
        prefixed = sorted({k.split(".", 1)[0] for k in state if k.endswith(_MARK) and k != _MARK})
        if prefixed:
            return f"Its keys carry a prefix ({', '.join(prefixed)}.): a wrapped model's state dict."
        if state and all(k.startswith(("layers.", "patch_embed.", "norm", "head_cls.")) for k in state):
            return "This looks like the GLH backbone alone (GLH.pth): the model needs net_g_*.pth."
        return not_this_family(state, "This is not a ColorFormer checkpoint (no colour-memory keys)")
    return "The file may come from a different ColorFormer version, or be damaged."


def load_network(path: Path, model_name: str = "colorformer") -> ColorFormerNet:
    """A ColorFormer network holding the weights in `path`, loaded strictly (every key matched)."""
    net = build()
    load_into(net, Path(path), model_name, likely_cause)
    return net.eval()


def read_centres(color: Path, semantic: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's centre files (no pickle) as the state dict holds them: colour centres (4, 512, 2) int64
    as int(centre) + 128 clipped to 0..255, semantic centres (512, 64) float32."""
    colours = np.load(color, allow_pickle=False)
    semantic_centres = np.load(semantic, allow_pickle=False)
    if colours.shape != (4, 512, 2) or semantic_centres.shape != (512, 64) or semantic_centres.dtype != np.float32:
        raise HarnessError(f"ColorFormer centre files of the wrong layout: {color} {colours.shape} (expected "
                           f"(4, 512, 2)), {semantic} {semantic_centres.shape} {semantic_centres.dtype} "
                           f"(expected (512, 64) float32).")
    return (torch.from_numpy((colours.astype(np.int64) + 128).clip(0, 255)),
            torch.from_numpy(semantic_centres.copy()))


def calibration_grays(size: int = 64) -> torch.Tensor:
    """(4, 3, size, size) gray photos in [0, 1] from scikit-image, as gray RGB."""
    import skimage.data
    from PIL import Image

    photos = [skimage.data.camera(), skimage.data.coins(),
              np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L")),
              np.asarray(Image.fromarray(skimage.data.chelsea()).convert("L"))]
    squares = [np.asarray(Image.fromarray(p).resize((size, size), Image.Resampling.BILINEAR)) for p in photos]
    return torch.from_numpy(np.stack(squares)).float().div(255)[:, None].expand(-1, 3, -1, -1).contiguous()


def randomize_(net: ColorFormerNet, seed: int = 0, ab_rms: float = 20.0) -> ColorFormerNet:
    """Random weights for tests and speed benchmarks only, never results.

    Torch's init for the layers, random colour centres (0..255) and semantic centres, the
    spectral-norm vectors converged by power iteration (with random vectors eval mode divides
    by a tiny u.Wv and ab explodes), BatchNorm statistics from a train-mode pass over gray
    photos. A random network's ab is small (std ~0.05..0.2 Lab units), so the last conv's u is
    then scaled to give ab an RMS of `ab_rms` on those photos: images differ in colour end to end."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dtype == torch.int64:
                p.copy_(torch.randint(0, 256, p.shape, generator=gen))
            elif name.endswith("semantic_centers") or name.endswith("relative_position_bias_table"):
                p.copy_(torch.randn(p.shape, generator=gen) * (0.02 if "relative" in name else 1.0))
            elif p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p[0].numel()) ** 0.5)
        for module in net.modules():
            if isinstance(module, SpectralConv2d):
                module.power_iteration_(50)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch sets exactly its statistics
    net.train()
    with torch.no_grad():
        net(calibration_grays())
    for m in norms:
        m.momentum = 0.1
    net.eval()
    last = net.refine_net[1][0]
    with torch.no_grad():
        rms = float(net(calibration_grays()).pow(2).mean().sqrt())
        last.weight_u.mul_(rms / ab_rms)  # u.Wv scales with u: the output (less its bias) by ab_rms / rms
    return net


def write_random(path: Path, seed: int = 0) -> Path:
    """Random ColorFormer weights saved as the official file is: BasicSR's {'params': state_dict}."""
    net = randomize_(build(), seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": net.state_dict()}, path)
    return path
