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

from harness.assets.weights import WeightsFile

_DEOLDIFY_HF = "https://huggingface.co/spensercai/DeOldify/resolve/main"
_ZHANG_S3 = "https://colorizers.s3.us-east-2.amazonaws.com"
_ZHANG_ECCV16_SOURCE = ("the sha256 prefix in the official file name (upstream loads it with check_hash=True); the "
                        "full digest and size from a Git LFS pointer of the same file in a public repository, "
                        "unverified")
_ZHANG_SIGGRAPH17_SOURCE = "the sha256 prefix in the official file name (upstream loads it with check_hash=True)"
_DDCOLOR_SOURCE = ("the Hugging Face LFS object id (the file's sha256) and sizes pinned by third-party downloaders, "
                   "unverified here")


def _ddcolor(repo: str, sha256: str, size: int | None = None) -> WeightsFile:
    """A DDColor checkpoint published as `pytorch_model.bin` of Hugging Face repo piddnad/<repo>,
    cached under the repo's name (the four files share their remote name)."""
    return WeightsFile(repo.replace("_", "-"), f"{repo}.bin",
                       (f"https://huggingface.co/piddnad/{repo}/resolve/main/pytorch_model.bin",),
                       size, sha256, source=_DDCOLOR_SOURCE)

#: upstream README's Google Drive folder "pretrain": net_g_200000.pth, GLH.pth and the two centre .npy files
COLORFORMER_DRIVE = "https://drive.google.com/drive/folders/1ktv0DJFteII4kLb7II0c88jW36aE_hBu"
_COLORFORMER_SOURCE = ("nothing published: no size or sha256 is known for net_g_200000.pth (upstream's Google Drive "
                       f"folder {COLORFORMER_DRIVE}), unverified; the file has no direct link, so it is placed by hand")


@dataclass(frozen=True)
class Variant:
    """One built-in model: `name` in specs, implemented by the class registered as `family`.

    Its official weights are one file (`weights`), or one of several published files chosen
    by the value of a parameter (`weights_by`: parameter name, {value: file}), as DDColor's
    `weights_variant`.
    """

    name: str
    family: str
    module: str  # the module whose import registers `family`
    architecture: str = ""  # family-specific key (DeOldify: 'deep' or 'wide')
    defaults: Mapping[str, Any] = field(default_factory=dict)  # parameter defaults that differ by variant
    weights: WeightsFile | None = None
    summary: str = ""
    weights_by: tuple[str, Mapping[str, WeightsFile]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def official_weights(self, params: Any = None) -> WeightsFile | None:
        """The official file these parameters use (None for a model without weights)."""
        if self.weights_by is None:
            return self.weights
        param, files = self.weights_by
        return files[getattr(params, param)]

    def weights_files(self) -> list[WeightsFile]:
        """Every official file of this variant."""
        return list(self.weights_by[1].values()) if self.weights_by else [self.weights] if self.weights else []


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
    Variant("zhang-eccv16", "zhang", "harness.models.zhang", "eccv16", {},
            WeightsFile("zhang-eccv16", "colorization_release_v2-9b330a0b.pth",
                        (f"{_ZHANG_S3}/colorization_release_v2-9b330a0b.pth",), 128_976_165,
                        "9b330a0bae53f4ded77b1e23defbf78beaa09c10ebc4c4999e8e4f4a160b93f9",
                        source=_ZHANG_ECCV16_SOURCE),
            "Zhang et al. ECCV 2016, Colorful Image Colorization: classification over 313 ab bins"),
    Variant("zhang-siggraph17", "zhang", "harness.models.zhang", "siggraph17", {},
            WeightsFile("zhang-siggraph17", "siggraph17-df00044c.pth",
                        (f"{_ZHANG_S3}/siggraph17-df00044c.pth",), None, "df00044c", source=_ZHANG_SIGGRAPH17_SOURCE),
            "Zhang et al. SIGGRAPH 2017, Real-Time User-Guided Colorization, run without hints"),
    Variant("ddcolor", "ddcolor", "harness.models.ddcolor", "", {},
            summary="DDColor (Kang et al., ICCV 2023): ConvNeXt encoder, multi-scale colour decoder",
            weights_by=("weights_variant", {
                "paper": _ddcolor("ddcolor_paper", "5c77db8292398a2ec1397003f0a90266c28e97b013515d5e9a32e73a4c54a67d"),
                "modelscope": _ddcolor("ddcolor_modelscope",
                                       "d81711971ec59200da26d5e8a1afae8dd3778d495ea8ad7a7dadc769f403f7e7", 911_914_869),
                "artistic": _ddcolor("ddcolor_artistic",
                                     "5a076e84efce59848394f572a105f7b78f7f6e917f615d1ee88537241b96dca3", 911_914_869),
                "paper_tiny": _ddcolor("ddcolor_paper_tiny",
                                       "8a1277bc90a1bfbb6d2d83933a9a6bc821931879ca93e26e4fcec12165d41fce", 220_372_845)})),
    # One file: net_g's state dict holds the colour memory's centres too, so upstream's color_embed_10000.npy
    # and semantic_embed_10000.npy (read by its constructor, then overwritten) and GLH.pth are not needed.
    Variant("colorformer", "colorformer", "harness.models.colorformer", "", {},
            WeightsFile("colorformer", "colorformer_net_g_200000.pth", (), None, None, source=_COLORFORMER_SOURCE),
            "ColorFormer (Ji et al., ECCV 2022): GLH-Transformer encoder, colour memory"),
]

#: name -> variant, in the order above
VARIANTS: dict[str, Variant] = {row.name: row for row in _ROWS}
