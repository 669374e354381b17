"""The harness's DeOldify equals upstream DeOldify (the `deoldify` package) on the same weights.

Upstream's own generator and `ColorizerFilter` are built on the CPU with `pretrained=False`,
given random weights that the harness also loads from a fastai-format checkpoint, and both
colorize the same photos. Measured maxima are printed in the test summary.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from harness.models.deoldify.upstream import colorize_upstream
from harness.models.registry import build_model
from tests.models.conftest import REPORT

pytestmark = pytest.mark.upstream
deoldify = pytest.importorskip("deoldify", reason="upstream reference not installed: "
                               "pip install --no-deps -r requirements-upstream.txt")

KINDS = {"artistic": ("deoldify-artistic", "deep"), "stable": ("deoldify-stable", "wide")}


def photos() -> list[np.ndarray]:
    import skimage.data

    rgb = [skimage.data.astronaut()[::4, ::4], skimage.data.chelsea()[::2, ::2], skimage.data.coffee()[::3, ::2]]
    return [np.asarray(Image.fromarray(p).convert("L")) for p in rgb]  # one square, two not


@pytest.fixture(scope="module", params=list(KINDS))
def pair(request, tmp_path_factory):
    """(upstream ColorizerFilter, upstream generator, harness model name, checkpoint path)."""
    from harness.models.deoldify import engine
    from harness.models.deoldify.checkpoint import randomize_, save_fastai
    from harness.models.deoldify.unet import ARTISTIC, STABLE, build
    from harness.models.deoldify.upstream import upstream_filter

    name, arch_name = KINDS[request.param]
    ours = randomize_(build(ARTISTIC if arch_name == "deep" else STABLE), seed=7)
    checkpoint = save_fastai(ours, tmp_path_factory.mktemp(request.param) / f"{request.param}.pth")
    flt = upstream_filter(arch_name, ours.state_dict())
    yield flt, flt.learn.model, name, checkpoint
    engine.clear_cache()


def test_raw_generator_outputs_match(pair):
    _, upstream_net, name, checkpoint = pair
    model = build_model(name, {"weights": str(checkpoint), "render_factor": 8}, "cpu")
    net = model._engine.net  # the generator loaded from the checkpoint file
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, ours = upstream_net(x), net(x)
    diff = (ref - ours).abs().max().item()
    REPORT.append(f"{name}: raw generator max |diff| = {diff:.3g} (fp32, 2x3x128x128; limit 1e-4)")
    assert ref.std() > 0.05  # the random weights give a non-trivial, unsaturated output
    assert diff <= 1e-4


@pytest.mark.parametrize("render_factor", [4, 8])
@pytest.mark.parametrize("post_process", [True, False])
def test_end_to_end_images_match(pair, render_factor, post_process):
    flt, _, name, checkpoint = pair
    grays = photos()
    model = build_model(name, {"weights": str(checkpoint), "render_factor": render_factor,
                               "post_process": post_process}, "cpu")
    reference = [colorize_upstream(flt, g, render_factor, post_process) for g in grays]
    ours = model.colorize(grays)  # the harness as it runs on the CPU
    model._engine.max_batch = None  # force one forward pass for all three, as on a GPU
    batched = model.colorize(grays)
    diff = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(ours, reference))
    d_batch = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(batched, reference))
    n_batch = sum(int((a != b).any(axis=2).sum()) for a, b in zip(batched, reference))
    pixels = sum(g.size for g in grays)
    REPORT.append(f"{name} rf={render_factor} post_process={post_process}: max |diff| = {diff} (CPU engine); "
                  f"forced single batch: {d_batch} ({n_batch} of {pixels} pixels differ)")
    assert all(a.shape == b.shape for a, b in zip(ours, reference))
    assert diff <= 1
    # One forward pass over a batch uses other kernels, whose float rounding (~1e-7) can
    # flip a truncated uint8; random weights amplify that more than trained ones would.
    assert d_batch <= 4 and n_batch <= pixels // 200


def test_bf16_against_fp32(pair):
    _, _, name, checkpoint = pair
    grays = photos()
    fp32 = build_model(name, {"weights": str(checkpoint), "render_factor": 8}, "cpu").colorize(grays)
    bf16 = build_model(name, {"weights": str(checkpoint), "render_factor": 8, "precision": "bf16"},
                       "cpu").colorize(grays)
    diffs = np.concatenate([np.abs(a.astype(int) - b.astype(int)).ravel() for a, b in zip(fp32, bf16)])
    REPORT.append(f"{name} rf=8: bf16 (CPU autocast) vs fp32 output: max |diff| = {diffs.max()}, "
                  f"mean = {diffs.mean():.3f} grey levels")
    assert 0 < diffs.mean() < 10  # bf16 keeps ~3 significant digits: close, not identical
