"""The table of built-in model variants: one row per name a spec can use.

A row says which registered family implements the variant (and the module that registers
it, imported only when the variant is used), its architecture, the defaults of its
parameters, and its official weights. The registry, `harness weights` and `harness bench`
all read this table, so adding a variant of an existing family is one row here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from harness.weights import WeightsFile

_DEOLDIFY_HF = "https://huggingface.co/spensercai/DeOldify/resolve/main"


@dataclass(frozen=True)
class Variant:
    """One built-in model: `name` in specs, implemented by the class registered as `family`."""

    name: str
    family: str
    module: str  # the module whose import registers `family`
    architecture: str = ""  # family-specific key (DeOldify: 'deep' or 'wide')
    defaults: Mapping[str, Any] = field(default_factory=dict)  # parameter defaults that differ by variant
    weights: WeightsFile | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


_ROWS = [
    Variant("grayscale", "grayscale", "harness.models.baselines",
            summary="identity baseline: the gray input as RGB"),
    Variant("deoldify-artistic", "deoldify", "harness.models.deoldify", "deep", {"render_factor": 35},
            WeightsFile("deoldify-artistic", "ColorizeArtistic_gen.pth",
                        ("https://data.deepai.org/deoldify/ColorizeArtistic_gen.pth",
                         f"{_DEOLDIFY_HF}/ColorizeArtistic_gen.pth"),
                        255_144_681, "3f750246fa220529323b85a8905f9b49c0e5d427099185334d048fb5b5e22477",
                        source="third-party reports (mirrors, user posts), unverified"),
            "DeOldify Artistic: resnet34 deep U-Net, the most colourful"),
    Variant("deoldify-stable", "deoldify", "harness.models.deoldify", "wide", {"render_factor": 35},
            WeightsFile("deoldify-stable", "ColorizeStable_gen.pth",
                        # dl=1: upstream's README links dl=0, which answers with Dropbox's HTML preview page
                        ("https://www.dropbox.com/s/axsd2g85uyixaho/ColorizeStable_gen.pth?dl=1",
                         f"{_DEOLDIFY_HF}/ColorizeStable_gen.pth"),
                        874_066_230, "ca9cd7f43fb8b222c9a70f7b292e305a000694b0ff9d2ae4a6747b1a2e1ee5af",
                        source="third-party reports (mirrors, user posts), unverified"),
            "DeOldify Stable: resnet101 wide U-Net, best for portraits and landscapes"),
    Variant("deoldify-video", "deoldify", "harness.models.deoldify", "wide", {"render_factor": 21},
            WeightsFile("deoldify-video", "ColorizeVideo_gen.pth",
                        ("https://data.deepai.org/deoldify/ColorizeVideo_gen.pth",
                         f"{_DEOLDIFY_HF}/ColorizeVideo_gen.pth"),
                        874_066_230, None, source="third-party reports (mirrors, user posts), unverified"),
            "DeOldify Video: Stable's architecture trained for flicker-free video"),
]

#: name -> variant, in the order above
VARIANTS: dict[str, Variant] = {row.name: row for row in _ROWS}
