"""Throughput benchmarks (pytest-benchmark). The normal test run passes --benchmark-disable, so each
body runs once as a correctness check; measure with
`python -m pytest tests/benchmarks --benchmark-enable --benchmark-json=bench.json`.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from harness import metrics
from harness import metrics_torch as mt


@pytest.fixture(scope="module")
def pair():
    gt = skimage.data.astronaut()[:480, :512]  # about a COCO image
    rng = np.random.default_rng(0)
    out = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    return gt, out


def test_metrics_reference_cpu(benchmark, pair):
    gt, out = pair
    row = benchmark(metrics.score_image, gt, out, ["psnr", "ssim", "colorfulness", "delta_e"])
    assert 20 < row["psnr"] < 40


def test_metrics_torch_batch_of_8(benchmark, pair):
    gt, out = pair
    g = torch.from_numpy(np.stack([gt] * 8))
    o = torch.from_numpy(np.stack([out] * 8))
    cols = benchmark(mt.score_batch, g, o, mt.SUPPORTED)
    assert cols["psnr"].shape == (8,)


def test_engine_artistic_rf8(benchmark):
    from harness.models.deoldify.checkpoint import randomize_
    from harness.models.deoldify.engine import Engine
    from harness.models.deoldify.unet import ARTISTIC, build

    engine = Engine(randomize_(build(ARTISTIC), seed=0), "cpu", render_factor=8)
    grays = [np.asarray(skimage.data.camera()[::4, ::4])] * 2
    outs = benchmark.pedantic(engine.colorize, args=(grays,), rounds=2, iterations=1)
    assert outs[0].shape == grays[0].shape + (3,)


def test_pipeline_grayscale_on_samples(benchmark):
    from harness.data import samples
    from harness.models.registry import build_model
    from harness.runner import evaluate

    ds = samples.build()
    result = benchmark.pedantic(evaluate, args=(ds, build_model("grayscale"), ["psnr", "ssim"]), rounds=1,
                                iterations=1)
    assert result.summary["n_scored"] == 8
