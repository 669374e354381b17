"""LPIPS (Zhang et al., CVPR 2018): learned perceptual distance between output and ground truth.

Computed with the `lpips` package itself (v0.1: its trained linear layers, which ship inside
the package), on the model's device, batched over same-size images. Its backbone (AlexNet by
default, VGG16 selectable) would come from torchvision's download at run time; here it goes
through the harness's weights cache instead (torchvision's files, verified against the
sha256 prefix in their names) and is loaded strictly into the package's network. Inputs are
8-bit RGB scaled to [-1, 1], as the package expects. Lower is better.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from harness.assets.weights import WeightsFile
from harness.config.params import Strict
from harness.errors import HarnessError
from harness.metrics.registry import Metric, register_metric

_TV = "https://download.pytorch.org/models"
_SOURCE = "the sha256 prefix in torchvision's file name, unverified here"
BACKBONES = {
    "alex": WeightsFile("lpips-alex", "alexnet-owt-7be5be79.pth", (f"{_TV}/alexnet-owt-7be5be79.pth",), None,
                        "7be5be79", source=_SOURCE),
    "vgg": WeightsFile("lpips-vgg", "vgg16-397923af.pth", (f"{_TV}/vgg16-397923af.pth",), None, "397923af",
                       source=_SOURCE),
}

_networks: dict[tuple, Any] = {}
_lock = threading.Lock()


def backbone_state(net, state: dict, path: Path) -> dict:
    """torchvision's `features.<i>.*` keys renamed to the lpips network's `slice<k>.<i>.*`; the
    classifier (unused by LPIPS) is dropped; anything else that does not fit is an error."""
    where = {child: slice_name for slice_name, block in net.named_children() for child, _ in block.named_children()}
    mapped, unexpected = {}, []
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "features" and parts[1] in where:
            mapped[".".join([where[parts[1]], *parts[1:]])] = value
        elif parts[0] != "classifier":
            unexpected.append(key)
    expected = net.state_dict()
    missing = [k for k in expected if k not in mapped]
    wrong = [k for k in expected if k in mapped and mapped[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        from harness.assets.checkpoint import identify

        found = identify(state)
        raise HarnessError(f"Weights file '{path}' does not fit the LPIPS backbone: {len(missing)} missing key(s) "
                           f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} of the wrong "
                           f"shape {wrong[:3]}." + (f" These look like {found}." if found else ""),
                           hint="Use torchvision's AlexNet or VGG16 file "
                                "(`harness weights fetch lpips-alex` or `lpips-vgg`).")
    return mapped


def lpips_network(net: str, path: Path, device: str):
    """The `lpips` package's LPIPS (v0.1) with the backbone weights at `path`, loaded once."""
    key = (net, str(Path(path).resolve()), Path(path).stat().st_mtime_ns, device)
    with _lock:
        if key not in _networks:
            import lpips

            from harness.assets.checkpoint import safe_load, state_dict_of

            state = state_dict_of(safe_load(path, strict_globals=True), Path(path))  # torchvision's: plain
            with warnings.catch_warnings():  # torchvision's notice about `pretrained=False`
                warnings.simplefilter("ignore")
                model = lpips.LPIPS(pretrained=True, net=net, version="0.1", pnet_rand=True, verbose=False)
            model.net.load_state_dict(backbone_state(model.net, state, Path(path)), strict=True)
            _networks.clear()
            _networks[key] = model.to(device).eval()
        return _networks[key]


class LpipsOptions(Strict):
    net: Literal["alex", "vgg"] = Field("alex", description="Backbone: AlexNet (the usual LPIPS) or VGG16.")
    weights: Path | None = Field(None, description="The backbone's weights file (torchvision's); default: the "
                                                   "official file in the cache.")


@register_metric("lpips", higher_is_better=False)
class LPIPS(Metric):
    """Learned perceptual image patch similarity (the lpips package, v0.1), AlexNet backbone by default."""

    Params = LpipsOptions

    def __init__(self, params=None, device: str = "cpu"):
        super().__init__(params, device)
        self._path = type(self).preflight(self.params)

    @classmethod
    def official_weights(cls, params) -> WeightsFile:
        return BACKBONES[params.net]

    @classmethod
    def weights_files(cls) -> list[WeightsFile]:
        return list(BACKBONES.values())

    @classmethod
    def check_weights(cls, path: Path, params) -> None:
        lpips_network(params.net, path, "cpu")  # strict; kept for a CPU run, replaced by a device's load

    def _distances(self, gt, out, device: str):
        import torch

        model = lpips_network(self.params.net, self._path, device)
        with torch.inference_mode():
            x = gt.to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1)
            y = out.to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1)
            return model(x, y).flatten()

    def score_batch(self, gt, out) -> dict[str, Any]:
        return {"lpips": self._distances(gt, out, self.device)}

    def score(self, gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
        import torch

        d = self._distances(torch.from_numpy(np.ascontiguousarray(gt))[None],
                            torch.from_numpy(np.ascontiguousarray(out))[None], self.device)
        return {"lpips": float(d[0])}
