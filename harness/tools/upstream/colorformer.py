"""ColorFormer's upstream network and inference steps (`colorformer_ref`, from the reference folder) on the
harness's weights, for `harness bench --vs-upstream` and the parity tests.

Upstream's code lives in a package named `basicsr`, as DDColor's reference does; the two are
imported into one process by swapping `basicsr*` out of `sys.modules` while this one is
imported (each module keeps the objects it imported). Upstream imports timm (`DropPath`,
`to_2tuple`, `trunc_normal_`) and einops (two `rearrange` patterns) for trivial helpers;
where they are not installed, minimal stand-ins are registered for the import only: they
do not change inference (DropPath is the identity in eval mode, the rest is init and
reshaping).

The pipeline, as upstream's `inference_colorformer.py` and `ValDataset` do it: the BGR image
(a gray one tiled) resized to S x S with OpenCV's INTER_LINEAR, /255, scikit-image's
`rgb2lab` for L, Lab (L, 0, 0) back to RGB (`tensor_lab2rgb`) as the input; the output Lab
(that L, ab) through `tensor_lab2rgb`, x255, rounded: an S x S image (upstream never resizes
back; `one_image` adds the harness's resize-back step for other sizes, and says so).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from pathlib import Path

import numpy as np
import torch

from harness.errors import HarnessError
from harness.tools.upstream import reference

FOLDER = "colorformer_ref"


def available() -> bool:
    return (reference.reference_dir() / FOLDER / "basicsr" / "archs" / "colorformer_arch.py").is_file()


def _stand_ins() -> dict[str, types.ModuleType]:
    """Stand-ins for timm's and einops's few helpers upstream imports, where those are not installed."""
    made = {}
    if importlib.util.find_spec("timm") is None:
        layers = types.ModuleType("timm.models.layers")
        layers.DropPath = lambda p=0.0: torch.nn.Identity()  # eval-mode behaviour; training is not compared
        layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
        layers.trunc_normal_ = lambda t, std=1.0, **kw: torch.nn.init.trunc_normal_(t, std=std, **kw)
        models = types.ModuleType("timm.models")
        models.layers = layers
        made.update({"timm": types.ModuleType("timm"), "timm.models": models, "timm.models.layers": layers})
    if importlib.util.find_spec("einops") is None:
        einops = types.ModuleType("einops")

        def rearrange(x, pattern):
            if pattern == "b1 b2 b3 b4 b5 -> (b1 b2) b3 b4 b5":
                return x.flatten(0, 1)
            if pattern == "n c1 c2 -> n c2 c1":
                return x.transpose(1, 2)
            raise NotImplementedError(pattern)

        einops.rearrange = rearrange
        made["einops"] = einops
    return made


_OWN: dict[str, types.ModuleType] = {}  # this reference's basicsr modules, once imported


def _ours(name: str) -> bool:
    return name == "basicsr" or name.startswith("basicsr.")


@contextlib.contextmanager
def _swapped():
    """This reference's `basicsr` (and the stand-ins) in `sys.modules` for the block; whatever was there before
    (DDColor's reference has a `basicsr` too) afterwards. Upstream's constructor imports the encoder lazily."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if _ours(k)}
    shims = {k: v for k, v in _stand_ins().items() if k not in sys.modules}
    sys.modules.update(shims)
    sys.modules.update(_OWN)
    path = str((reference.reference_dir() / FOLDER).resolve())
    sys.path.insert(0, path)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # leave the reference folder as it is
    try:
        yield
    finally:
        sys.dont_write_bytecode = dont_write
        sys.path.remove(path)
        _OWN.update({k: sys.modules.pop(k) for k in list(sys.modules) if _ours(k)})
        sys.modules.update(saved)
        for k in shims:
            sys.modules.pop(k, None)


def load():
    """(upstream's `ColorFormer` class, `tensor_lab2rgb`, `rgb2lab`) from the reference folder."""
    if not available():
        raise HarnessError(f"The upstream reference 'colorformer' is not available (looked in "
                           f"{reference.reference_dir() / FOLDER}).", hint=reference.FETCH_HINT.capitalize() + ".")
    with _swapped():
        importlib.import_module("basicsr.archs.GLHTransformer")
        arch = importlib.import_module("basicsr.archs.colorformer_arch")
        img_util = importlib.import_module("basicsr.utils.img_util")
        transforms = importlib.import_module("basicsr.data.transforms")
    return arch.ColorFormer, img_util.tensor_lab2rgb, transforms.rgb2lab


def build(state: dict[str, torch.Tensor], folder: Path, input_size: int = 256) -> torch.nn.Module:
    """Upstream's ColorFormer holding `state` (loaded strictly), in eval mode. Its constructor reads a GLH
    backbone file and the two centre files, whose values `state` overwrites: empty and zero stand-ins
    are written to `folder` (only their shapes and dtypes matter)."""
    cls, _, _ = load()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({}, folder / "GLH.pth")
    np.save(folder / "color_embed_10000.npy", np.zeros((4, 512, 2)))
    np.save(folder / "semantic_embed_10000.npy", np.zeros((512, 64), np.float32))
    with _swapped():
        model = cls("GLHTransformer", pretrained_path=str(folder / "GLH.pth"), input_size=[input_size, input_size],
                    num_output_channels=2, last_norm="Spectral", do_normalize=False,
                    color_centers_path=str(folder / "color_embed_10000.npy"),
                    semantic_centers_path=str(folder / "semantic_embed_10000.npy"))
    model.load_state_dict(state, strict=True)
    return model.eval()


def prepare(bgr: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's `ValDataset` on one BGR uint8 image: (network input (1, 3, S, S), L (1, 1, S, S))."""
    import cv2

    _, lab2rgb, rgb2lab = load()
    img = cv2.cvtColor(cv2.resize(bgr, dsize=(size, size)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    light = torch.from_numpy(np.transpose(rgb2lab(img)[0], (2, 0, 1))).float()[None]
    return lab2rgb(torch.cat([light, torch.zeros_like(light), torch.zeros_like(light)], 1)), light


def finish(light: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    """Upstream's script: Lab (L, ab) -> RGB uint8 (1 image; the script writes it as BGR)."""
    _, lab2rgb, _ = load()
    rgb = lab2rgb(torch.cat([light, ab.float().cpu()], 1))[0].clamp(0, 1)
    return (rgb.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def one_image(weights: Path, input_size: int, device: str):
    """Upstream's network and steps on `weights`: gray H x W uint8 in, RGB H x W x 3 uint8 out.

    Upstream stops at S x S; for an image of another size this adds the harness's one step (ab
    resized bilinearly to H x W, joined with the original image's L from upstream's `rgb2lab`),
    so `bench --vs-upstream` compares like with like. An S x S image gets upstream's steps only."""
    import tempfile

    import torch.nn.functional as F

    from harness.assets.checkpoint import safe_load, state_dict_of

    state = state_dict_of(safe_load(weights), Path(weights))
    with tempfile.TemporaryDirectory() as tmp:
        model = build(state, Path(tmp), input_size).to(device)
    _, _, rgb2lab = load()

    def run(gray: np.ndarray) -> np.ndarray:
        x, light = prepare(np.repeat(gray[..., None], 3, axis=2), input_size)
        with torch.no_grad():
            ab = model(x.to(device)).float().cpu()
        if gray.shape != (input_size, input_size):
            ab = F.interpolate(ab, size=gray.shape, mode="bilinear", align_corners=False)
            full = np.repeat(gray[..., None], 3, axis=2).astype(np.float32) / 255.0
            light = torch.from_numpy(rgb2lab(full)[0][:, :, 0]).float()[None, None]
        return finish(light, ab)

    return run
