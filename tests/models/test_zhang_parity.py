"""The harness's ECCV16 and SIGGRAPH17 equal upstream's `colorizers` on the same weights.

Per model, built once per module: the harness writes random, calibrated weights in the
official format (a plain state dict, torch's legacy format); upstream's generator
(`pretrained=False`, no download) takes them with a strict load; its own state dict is saved
again and the harness loads *that* file through its safe, strict loader, so the key layout is
checked in both directions. The reference's outputs must vary from image to image before any
comparison means something. Measured maxima are printed at the end of the run and recorded
as junit properties.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.cli import main
from harness.models.engine import clear_cache
from harness.models.registry import build_model, get_model_class
from harness.models.zhang import networks as zhang_nets
from harness.tools.upstream import one_image
from tests.conftest import COCO_SAMPLE
from tests.models.conftest import REPORT
from tests.models.reference import require

pytestmark = [pytest.mark.upstream,
              pytest.mark.filterwarnings("ignore:Conversion from CIE-LAB:UserWarning")]  # upstream warns per image

MODELS = {"eccv16": "zhang-eccv16", "siggraph17": "zhang-siggraph17"}


@dataclass
class Pair:
    name: str
    arch: str
    ref: torch.nn.Module  # upstream's generator holding the weights
    colorizers: object  # upstream's package
    checkpoint: Path  # written from upstream's model


@pytest.fixture(scope="module", params=list(MODELS))
def pair(request, tmp_path_factory) -> Pair:
    colorizers = require("colorizers")
    name, arch = MODELS[request.param], request.param
    folder = tmp_path_factory.mktemp(arch)
    ours = get_model_class(name).write_random_weights(folder / "random.pth", seed=3)
    ref = (colorizers.eccv16 if arch == "eccv16" else colorizers.siggraph17)(pretrained=False)
    ref.load_state_dict(torch.load(ours, weights_only=True), strict=True)  # upstream's strict load
    ref.eval()
    checkpoint = folder / "from_upstream.pth"
    torch.save(ref.state_dict(), checkpoint, _use_new_zipfile_serialization=False)
    yield Pair(name, arch, ref, colorizers, checkpoint)
    clear_cache()


def skimage_grays() -> list[np.ndarray]:
    """Two gray photos of odd sizes (not those the random weights were calibrated on)."""
    import skimage.data

    rgb = [skimage.data.rocket()[::3, ::2], skimage.data.hubble_deep_field()[:97]]
    return [np.asarray(Image.fromarray(p).convert("L")) for p in rgb]


def upstream_demo(pair: Pair, gray: np.ndarray) -> np.ndarray:
    """Upstream's demo_release.py on a gray image: load_img tiles it to RGB, preprocess_img, the
    generator, postprocess_tens, plt.imsave to PNG (here into memory), read back."""
    import matplotlib.pyplot as plt

    c = pair.colorizers
    orig_l, small_l = c.preprocess_img(np.tile(gray[:, :, None], 3), HW=(256, 256))
    with torch.no_grad():
        rgb = c.postprocess_tens(orig_l, pair.ref(small_l).cpu())
    buf = io.BytesIO()
    plt.imsave(buf, rgb, format="png")
    return np.asarray(Image.open(buf).convert("RGB"))


def test_raw_network_outputs_match(pair, record_property):
    grays = skimage_grays()
    small = torch.cat([pair.colorizers.preprocess_img(np.tile(g[:, :, None], 3))[1] for g in grays])
    assert np.array_equal(zhang_nets.network_input(grays), small.numpy())  # same L at 256x256, bit for bit
    with torch.inference_mode():
        ref = pair.ref(small)
    # the comparison means something only if upstream's output varies: within each image, from
    # image to image (pixel by pixel), and is not pinned at tanh's +-110 (SIGGRAPH17)
    spread = ref.std(dim=(2, 3)).min().item()
    apart = (ref[0] - ref[1]).abs().mean().item()
    pinned = (ref.abs() > 105).float().mean().item()
    assert spread > 3 and apart > 5 and pinned < 0.02, (spread, apart, pinned)
    model = build_model(pair.name, {"weights": str(pair.checkpoint)}, "cpu")  # the file written from upstream
    ours = model._engine.forward(small)  # the engine's forward pass, one batch of 2
    diff = (ours - ref).abs().max().item()
    REPORT.append(f"{pair.name}: raw ab max |diff| vs upstream = {diff:.3g} (limit 1e-4; fp32 CPU, batch 2x1x256x256); "
                  f"upstream ab std {ref.std().item():.1f}, range [{ref.min().item():.1f}, {ref.max().item():.1f}], "
                  f"within-image std >= {spread:.1f}, image-to-image mean |diff| {apart:.1f}")
    record_property("raw_max_abs_diff", diff)
    assert diff <= 1e-4


def test_end_to_end_images_match_through_harness_colorize(pair, tmp_path, record_property, capsys):
    photos = sorted((COCO_SAMPLE / "images").glob("*.jpg"))[:3]
    if len(photos) < 3:
        pytest.skip(f"COCO sample photos not found in {COCO_SAMPLE / 'images'}")
    src = tmp_path / "gray"
    src.mkdir()
    grays = []
    for p in photos:
        g = np.asarray(Image.open(p).convert("L"))
        Image.fromarray(g).save(src / f"{p.stem}.png")
        grays.append(g)
    out = tmp_path / "out"
    args = ["colorize", str(src), "--model", pair.name, "--weights", str(pair.checkpoint), "--device", "cpu",
            "--batch-size", "3", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    ours = [np.asarray(Image.open(out / f"{p.stem}.png")) for p in photos]
    theirs = [upstream_demo(pair, g) for g in grays]
    assert len({t.tobytes() for t in theirs}) == 3
    assert min(np.abs(t.astype(int) - g[..., None]).mean() for t, g in zip(theirs, grays)) > 3  # coloured
    diffs = np.concatenate([np.abs(a.astype(int) - b.astype(int)).ravel() for a, b in zip(ours, theirs)])
    differ = int((diffs > 0).sum())
    REPORT.append(f"{pair.name}: end-to-end max |diff| vs upstream's demo (harness colorize, 3 COCO photos in one "
                  f"batch) = {diffs.max()} grey levels (limit 1); {differ} of {diffs.size} channel values differ")
    record_property("e2e_max_abs_diff", int(diffs.max()))
    assert [a.shape for a in ours] == [b.shape for b in theirs]
    assert diffs.max() <= 1  # the default: torch operations on the model's device (models.imageops)
    host = build_model(pair.name, {"weights": str(pair.checkpoint), "exact": True}, "cpu").colorize(grays)
    exact = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(host, theirs))
    REPORT.append(f"{pair.name}: exact (PIL and scikit-image on the host) max |diff| vs upstream = {exact} (limit 1)")
    assert exact <= 1
    if pair.arch != "eccv16":
        return  # the bench hook's code is shared: checked once
    # the bench hook is upstream's pipeline too: the demo's PNG bytes without the PNG
    cls = get_model_class(pair.name)
    hook = one_image(cls, pair.checkpoint, cls.Params(), "cpu")
    assert np.array_equal(hook(grays[0]), theirs[0])
