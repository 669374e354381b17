"""The harness's ColorFormer equals upstream's (TencentYoutuResearch/ImageColorization-ColorFormer, the
reference folder) on the same weights.

Once per module: a fresh network's random weights (with random colour and semantic centres)
go into upstream's `ColorFormer`, which is warmed in train mode (30 passes, so the spectral
norms' u/v converge and eval-mode ab stays finite), then its state dict is saved as the
official file is, BasicSR's {'params': ...}, and the harness loads that file through its
safe, strict loader. Upstream's random-weight ab is small (std ~0.05-0.2 Lab units), so
the raw ab is compared in float, and is first checked to vary from image to image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.models.registry import build_model, get_model_class
from harness.tools.upstream import colorformer as upstream
from harness.tools.upstream import one_image, reference
from tests.conftest import COCO_SAMPLE
from tests.models.conftest import REPORT

pytestmark = [pytest.mark.upstream, pytest.mark.usefixtures("one_torch_thread")]


@dataclass
class Pair:
    checkpoint: Path
    upstream: torch.nn.Module


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Pair:
    from harness.models import engine
    from harness.models.colorformer.network import build

    if not upstream.available():
        pytest.skip(f"upstream reference 'colorformer' not found in {reference.reference_dir()}: "
                    f"{reference.FETCH_HINT}")
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    state = build().state_dict()
    for j in range(1, 5):
        state[f"seg_decoder.layers.3.color_center{j}"] = torch.randint(0, 256, (512, 2), generator=gen)
    state["seg_decoder.layers.3.semantic_centers"] = torch.randn(512, 64, generator=gen)
    folder = tmp_path_factory.mktemp("colorformer")
    model = upstream.build(state, folder / "pretrain")
    model.train()
    with torch.no_grad():
        for _ in range(30):  # one power iteration per pass (and BatchNorm statistics of gray inputs)
            model(torch.rand(2, 1, 64, 64, generator=gen).expand(-1, 3, -1, -1))
    model.eval()
    checkpoint = folder / "net_g_random.pth"
    torch.save({"params": model.state_dict()}, checkpoint)
    yield Pair(checkpoint, model)
    engine.clear_cache()


def photos() -> list[np.ndarray]:
    import skimage.data
    from PIL import Image

    return [np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L")),
            np.asarray(Image.fromarray(skimage.data.coffee()).convert("L"))]


@pytest.mark.parametrize("size", [256, 512])
def test_raw_ab_matches(pair, size, record_property):
    x = torch.cat([upstream.prepare(np.repeat(g[..., None], 3, axis=2), size)[0] for g in photos()])
    net = build_model("colorformer", {"input_size": size, "weights": str(pair.checkpoint)}, "cpu")._engine.net
    with torch.inference_mode():
        ref = pair.upstream(x)
        ours = net(x)
    # Meaningful only if finite and image-dependent (cold spectral norms give |ab| ~1e7; a dead network, constants).
    assert torch.isfinite(ref).all() and ref.abs().max() < 50
    assert ref.std() > 0.02 and (ref[0] - ref[1]).abs().mean() > 0.02
    diff = (ours - ref).abs().max().item()
    REPORT.append(f"colorformer: raw ab vs upstream (fp32, CPU, 2x2x{size}^2): max |diff| {diff:.2g} on "
                  f"|ab| <= {ref.abs().max().item():.2f} (std {ref.std().item():.3f}, mean |ab0 - ab1| "
                  f"{(ref[0] - ref[1]).abs().mean().item():.3f}); limit 1e-4 absolute")
    record_property(f"ab_max_abs_diff_{size}", diff)
    assert diff <= 1e-4


def test_end_to_end_images_match(pair, record_property):
    """At upstream's own resolution (S x S: upstream does not resize back), `colorize` equals upstream's steps."""
    import cv2

    from harness.data.images import decode_rgb
    from harness.gray import to_gray

    images = COCO_SAMPLE / "images"
    paths = sorted(images.glob("*.jpg"))[:3] if images.is_dir() else []
    sources = [to_gray(decode_rgb(p)) for p in paths] or photos()
    grays = [cv2.resize(g, (256, 256)) for g in sources]
    hook = upstream.one_image(pair.checkpoint, 256, "cpu")
    theirs = [hook(g) for g in grays]
    for exact in (False, True):
        ours = build_model("colorformer", {"weights": str(pair.checkpoint), "exact": exact}, "cpu").colorize(grays)
        diffs = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(ours, theirs)]
        worst = max(int(d.max()) for d in diffs)
        share = 100 * sum(int((d > 0).sum()) for d in diffs) / sum(d.size for d in diffs)
        REPORT.append(f"colorformer (exact={exact}): colorize vs upstream's steps on {len(grays)} images at 256: "
                      f"max |diff| {worst} grey level(s) (limit 1), {share:.4f}% of pixel channels differ")
        record_property(f"e2e_max_abs_diff_exact_{exact}", worst)
        assert all(a.shape == (256, 256, 3) for a in ours)
        assert worst <= 1
    # The outputs are nearly gray (random-weight ab is small) but not identical from image to image.
    assert any(np.abs(t.astype(int) - g[..., None]).max() > 0 for t, g in zip(theirs, grays))


def test_upstream_hook_is_wired_for_vs_upstream(pair):
    cls = get_model_class("colorformer")
    params = cls.Params(input_size=64, weights=pair.checkpoint)
    hook = one_image(cls, pair.checkpoint, params, "cpu")
    square = np.ascontiguousarray(photos()[1][:256:4, :256:4])
    assert hook(square).shape == (64, 64, 3) and hook(square).dtype == np.uint8
    gray = np.ascontiguousarray(photos()[1][::8, ::8])  # 50 x 75: upstream's steps, then the resize back
    ours = build_model("colorformer", {"input_size": 64, "weights": str(pair.checkpoint)}, "cpu").colorize([gray])[0]
    theirs = hook(gray)
    assert theirs.shape == ours.shape == (*gray.shape, 3)
    assert int(np.abs(ours.astype(int) - theirs.astype(int)).max()) <= 1


def test_upstream_ignores_the_centre_files_once_net_g_is_loaded(pair, tmp_path):
    """Why the variant needs net_g only: upstream built from *other* .npy centres and an empty GLH.pth, then
    loaded with the same state dict, gives the same ab."""
    state = pair.upstream.state_dict()
    other = upstream.build(state, tmp_path / "other")
    np.save(tmp_path / "other" / "color_embed_10000.npy", np.full((4, 512, 2), 7.0))
    x = torch.rand(1, 1, 64, 64).expand(-1, 3, -1, -1)
    with torch.inference_mode():
        assert torch.equal(other(x), pair.upstream(x))


def test_end_to_end_with_colourful_weights(tmp_path, record_property):
    """Random-weight ab is nearly gray, which would hide a colour-conversion difference: the same comparison
    on weights whose ab has RMS 20 (`write_random_weights`), at 64 x 64 (upstream's own resolution there)."""
    import cv2

    if not upstream.available():
        pytest.skip(f"upstream reference 'colorformer' not found in {reference.reference_dir()}")
    checkpoint = get_model_class("colorformer").write_random_weights(tmp_path / "net_g.pth", seed=4)
    grays = [cv2.resize(g, (64, 64)) for g in photos()] + [cv2.resize(photos()[0][100:300, 150:400], (64, 64))]
    hook = upstream.one_image(checkpoint, 64, "cpu")
    theirs = [hook(g) for g in grays]
    ours = build_model("colorformer", {"input_size": 64, "weights": str(checkpoint)}, "cpu").colorize(grays)
    colour = min(float(np.abs(t.astype(int) - g[..., None]).mean()) for t, g in zip(theirs, grays))
    worst = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(ours, theirs))
    REPORT.append(f"colorformer (ab RMS 20 weights): colorize vs upstream's steps at 64: max |diff| {worst} "
                  f"(limit 1); colour added (mean |RGB - gray|) >= {colour:.1f}")
    record_property("e2e_colourful_max_abs_diff", worst)
    assert colour > 3
    assert worst <= 1
