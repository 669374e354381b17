"""The harness's DeOldify equals upstream DeOldify (the `deoldify` package) on the same weights.

Per architecture, built once per module: the harness draws random, well-scaled weights;
upstream's own generator (its learner functions with `pretrained=False`, no download) takes
them with a strict load; fastai's format is then written *from upstream's model*
(`{'model': state_dict, 'opt': OptimWrapper.get_state()}`: a partial of Adam, numpy floats),
and the harness loads that file through its safe, strict loader. Both then colorize the same
photos. `exact: true` must equal upstream bit for bit; the default (one channels-last pass
per batch) is held to a stated deviation. Measured maxima are printed at the end of the run
(section "DeOldify parity and precision") and recorded as junit properties.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.models.registry import build_model
from tests.models.conftest import LAYOUT_FILE, REPORT, layout_of, write_layout

pytestmark = pytest.mark.upstream
deoldify = pytest.importorskip("deoldify", reason="upstream reference not installed: "
                               "pip install -e '.[test]' && pip install --no-deps -r requirements-upstream.txt")

KINDS = {"artistic": ("deoldify-artistic", "deep"), "stable": ("deoldify-stable", "wide")}
RENDER_FACTORS = (4, 8)


def photos() -> list[np.ndarray]:
    """Gray (PIL 'L') versions of three scikit-image photos: one square, two not, odd sizes."""
    import skimage.data

    rgb = [skimage.data.astronaut()[::4, ::4], skimage.data.chelsea()[::2, ::2], skimage.data.coffee()[::3, ::2]]
    return [np.asarray(Image.fromarray(p).convert("L")) for p in rgb]  # 128x128, 150x226, 134x300


@dataclass
class Pair:
    flt: object  # upstream ColorizerFilter (holds upstream's generator in flt.learn.model)
    name: str
    checkpoint: Path
    upstream: dict = field(default_factory=dict)  # render_factor -> [(raw, post-processed)] per photo
    harness_fp32: dict = field(default_factory=dict)  # render_factor -> harness output, post_process=True


@pytest.fixture(scope="module", params=list(KINDS))
def pair(request, tmp_path_factory) -> Pair:
    from harness.models.deoldify import engine
    from harness.models.deoldify.checkpoint import randomize_
    from harness.models.deoldify.unet import ARTISTIC, STABLE, build
    from harness.tools.upstream.deoldify import upstream_filter

    name, arch_name = KINDS[request.param]
    ours = randomize_(build(ARTISTIC if arch_name == "deep" else STABLE), seed=7)
    flt = upstream_filter(arch_name, ours.state_dict())  # upstream's strict load: same keys, same shapes
    del ours
    checkpoint = save_like_fastai(flt, tmp_path_factory.mktemp(request.param) / f"{request.param}_gen.pth")
    yield Pair(flt, name, checkpoint)
    engine.clear_cache()


def upstream_outputs(pair: Pair, render_factor: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Upstream's ColorizerFilter on each photo: (raw, post-processed).

    `filter(..., post_process=True)` is `_post_process(filter(..., post_process=False), orig)`
    (deoldify/filters.py), so one model pass per photo serves both.
    """
    if render_factor not in pair.upstream:
        out = []
        for gray in photos():
            orig = Image.fromarray(gray).convert("RGB")  # the harness's gray is upstream's orig_image
            raw = pair.flt.filter(orig, orig, render_factor, post_process=False)
            out.append((np.asarray(raw), np.asarray(pair.flt._post_process(raw, orig))))
        pair.upstream[render_factor] = out
    return pair.upstream[render_factor]


def max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b))


def test_layout_file_is_upstreams(pair):
    """tests/models/data/deoldify_layout.json (checked without upstream by test_deoldify.py) is upstream's."""
    arch = KINDS["artistic" if pair.name == "deoldify-artistic" else "stable"][1]
    actual = layout_of(pair.flt.learn.model.state_dict())
    if os.environ.get("HARNESS_WRITE_LAYOUT") == "1":
        write_layout(arch, actual)
    assert actual == json.loads(LAYOUT_FILE.read_text())[arch]


def test_raw_generator_outputs_match(pair, record_property):
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = pair.flt.learn.model.eval()(x)
    assert ref.std() > 0.3 and (ref.abs() > 2.9).float().mean() < 0.05  # varied, not saturated at +-3
    assert (ref[0] - ref[1]).abs().mean() > 0.3  # and different for different inputs: the comparison means something
    diffs = {}
    for exact in (True, False):
        model = build_model(pair.name, {"weights": str(pair.checkpoint), "render_factor": 8, "exact": exact}, "cpu")
        engine = model._engine  # the generator the harness loaded from the fastai-written file, in the mode's layout
        layout = torch.contiguous_format if exact else torch.channels_last
        with torch.inference_mode():
            diffs[exact] = (ref - engine.net(x.contiguous(memory_format=layout))).abs().max().item()
    REPORT.append(f"{pair.name}: raw generator max |diff| = {diffs[True]:.3g} exact (limit 1e-4), {diffs[False]:.3g} "
                  f"channels-last (limit 1e-2) (fp32, 2x3x128x128); output std {ref.std().item():.2f}, "
                  f"range [{ref.min().item():.2f}, {ref.max().item():.2f}]")
    record_property("raw_max_abs_diff", diffs[True])
    record_property("raw_max_abs_diff_channels_last", diffs[False])
    assert diffs[True] <= 1e-4
    assert diffs[False] <= 1e-2  # other kernels, other float rounding; same network


@pytest.mark.parametrize("render_factor", RENDER_FACTORS)
def test_end_to_end_images_match(pair, render_factor, record_property):
    grays = photos()
    reference = upstream_outputs(pair, render_factor)
    lines = []
    for post_process in (True, False):
        model = build_model(pair.name, {"weights": str(pair.checkpoint), "render_factor": render_factor,
                                        "post_process": post_process, "exact": True}, "cpu")
        ours = model.colorize(grays)  # the harness exactly as `exact: true` runs
        if post_process:
            pair.harness_fp32[render_factor] = ours
        diff = max_diff(ours, [r[0 if not post_process else 1] for r in reference])
        record_property(f"e2e_max_abs_diff_rf{render_factor}_pp{post_process}", diff)
        lines.append(f"post_process={post_process}: {diff}")
        assert diff == 0, f"{pair.name} rf={render_factor} post_process={post_process}: max |diff| {diff}, not 0"
    # The default: the whole batch in one channels-last forward pass. Other kernels round
    # differently (~1e-3 in the raw output), which can flip a truncated uint8, and YUV
    # post-processing amplifies a 1-level chroma flip to a few RGB levels. Stated, bounded.
    fast = build_model(pair.name, {"weights": str(pair.checkpoint), "render_factor": render_factor}, "cpu")
    batched = fast.colorize(grays)
    post = [r[1] for r in reference]
    diff = np.concatenate([np.abs(a.astype(int) - b.astype(int)).ravel() for a, b in zip(batched, post)])
    n_batch = sum(int((a != b).any(axis=2).sum()) for a, b in zip(batched, post))
    pixels = sum(g.size for g in grays)
    p999 = float(np.percentile(diff, 99.9))
    REPORT.append(f"{pair.name} rf={render_factor}: end-to-end max |diff| vs upstream, exact: {', '.join(lines)} "
                  f"(limit 0); default (one channels-last pass), post_process=True: max {diff.max()}, p99.9 "
                  f"{p999:.0f} grey levels ({n_batch} of {pixels} pixels differ)")
    record_property(f"e2e_fast_max_abs_diff_rf{render_factor}", int(diff.max()))
    assert diff.max() <= 6 and p999 <= 2 and n_batch <= pixels // 40


def test_bf16_against_fp32(pair, record_property):
    """bf16 is autocast of the fp32 network and nothing else, and moves the output by about what
    the network's own sensitivity predicts.

    Random weights make a 100-layer generator close to chaotic: rounding only its *input* to
    bf16 already moves the fp32 output by 13-23% (relative L2). An absolute bound on the bf16
    difference would therefore measure the weights, not the precision path. So the harness's
    bf16 forward pass must equal plain autocast of the same network exactly (any extra
    perturbation in the engine shows), autocast must stay within 4x the input-rounding
    sensitivity, and the end-to-end difference is reported for the README.
    """
    render_factor = RENDER_FACTORS[-1]
    model = build_model(pair.name, {"weights": str(pair.checkpoint), "render_factor": render_factor,
                                    "precision": "bf16"}, "cpu")
    net = model._engine.net
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)).contiguous(
        memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = net(x)
        rounded_input = net(x.bfloat16().float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x).float()
    harness_low = model._engine.forward(x).float()
    assert torch.equal(harness_low, low)  # the engine's bf16 path adds nothing to autocast

    def rel(y: torch.Tensor) -> float:
        return ((y - ref).norm() / ref.norm()).item()

    grays = photos()
    fp32 = build_model(pair.name, {"weights": str(pair.checkpoint), "render_factor": render_factor},
                       "cpu").colorize(grays)
    bf16 = model.colorize(grays)
    diffs = np.concatenate([np.abs(a.astype(int) - b.astype(int)).ravel() for a, b in zip(fp32, bf16)])
    signal = np.concatenate([np.abs(a.astype(int) - g[..., None].astype(int)).ravel() for a, g in zip(fp32, grays)])
    REPORT.append(f"{pair.name}: bf16 autocast (CPU) vs fp32, raw generator: relative L2 {rel(low):.3f} "
                  f"(input rounded to bf16 alone: {rel(rounded_input):.3f}); end to end rf={render_factor}, "
                  f"post_process=True: mean |diff| {diffs.mean():.2f}, p99 {np.percentile(diffs, 99):.0f}, "
                  f"max {diffs.max()} grey levels (fp32 output vs its gray input: mean {signal.mean():.2f})")
    record_property("bf16_vs_fp32_rel_l2", rel(low))
    record_property("bf16_vs_fp32_mean_abs_diff", float(diffs.mean()))
    assert 0 < rel(rounded_input) < rel(low) <= 4 * rel(rounded_input)  # lower precision, same network
    assert 0 < diffs.mean() < signal.mean() / 2  # most of the colour the model adds survives bf16


@pytest.mark.parametrize("before", ["0,1", None], ids=["set", "unset"])
def test_building_upstream_leaves_cuda_visible_devices_alone(monkeypatch, before):
    """Upstream's `device.set` rewrites CUDA_VISIBLE_DEVICES ('' for the CPU), which would hide
    the GPU from every later test or benchmark in the same process."""
    from harness.models.deoldify.unet import ARTISTIC, build
    from harness.tools.upstream.deoldify import upstream_filter

    if before is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", before)
    flt = upstream_filter("deep", build(ARTISTIC).state_dict())
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before
    assert not next(flt.learn.model.parameters()).is_cuda


def save_like_fastai(flt, path: str | Path, *, legacy: bool = False) -> Path:
    """Save upstream's generator as fastai 1.0 (DeOldify's era) `Learner.save` did.

    `{'model': state_dict, 'opt': OptimWrapper.get_state()}`: the optimiser entry holds a
    `functools.partial` of `torch.optim.Adam`, hyper-parameter lists and, since learning
    rates come from a range, numpy floats, which is what a safe loader has to get past.
    `legacy` writes torch's pre-1.6 format, which the official files use.
    """
    learn = flt.learn
    learn.create_opt(learn.lr_range(slice(1e-5, 1e-3)), wd=1e-3)
    state = {"model": learn.model.state_dict(), "opt": learn.opt.get_state()}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return Path(path)
