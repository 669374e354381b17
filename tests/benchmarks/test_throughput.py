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


@pytest.fixture(scope="module")
def pair():
    gt = skimage.data.astronaut()[:480, :512]  # about a COCO image
    rng = np.random.default_rng(0)
    out = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    return gt, out


def test_metrics_reference_cpu(benchmark, pair):
    gt, out = pair
    from harness.pipeline.scoring import PairScorer

    scorer = PairScorer(metrics.build_metrics(["psnr", "ssim", "colorfulness", "delta_e"]), "skimage", "cpu")
    (row,) = benchmark(scorer.score, [(gt, out)])
    assert 20 < row["psnr"] < 40


def test_metrics_torch_batch_of_8(benchmark, pair):
    gt, out = pair
    g = torch.from_numpy(np.stack([gt] * 8))
    o = torch.from_numpy(np.stack([out] * 8))
    built = metrics.build_metrics(["psnr", "ssim", "colorfulness", "delta_e"])
    cols = benchmark(lambda: {k: v for m in built for k, v in m.score_batch(g, o).items()})
    assert cols["psnr"].shape == (8,)


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "fast"])
def test_engine_artistic_rf8(benchmark, exact):
    """The two ways through the network: `exact` (upstream's order) is the baseline of `fast`."""
    from harness.models.deoldify.checkpoint import randomize_
    from harness.models.deoldify.engine import Engine
    from harness.models.deoldify.unet import ARTISTIC, build

    benchmark.group = "deoldify engine, Artistic rf 8, 2 images"
    engine = Engine(randomize_(build(ARTISTIC), seed=0), "cpu", render_factor=8, exact=exact)
    grays = [np.asarray(skimage.data.camera()[::4, ::4])] * 2
    outs = benchmark.pedantic(engine.colorize, args=(grays,), rounds=2, iterations=1)
    assert outs[0].shape == grays[0].shape + (3,)


def test_pipeline_grayscale_on_samples(benchmark):
    from harness.data import samples
    from harness.models.registry import build_model
    from harness.sweep.evaluate import evaluate

    ds = samples.build()
    result = benchmark.pedantic(evaluate, args=(ds, build_model("grayscale"), ["psnr", "ssim"]), rounds=1,
                                iterations=1)
    assert result.summary["n_scored"] == 8


def test_temporal_pairs_per_frame_960x540(benchmark):
    """The video reporter's work for one frame of a 960x540 clip: its pairs with the frames before it
    (histograms, CIELAB means, two DIS flows and the warp, on the output and the truth)."""
    import dataclasses

    from PIL import Image

    from harness.data.base import Sample
    from harness.data.video_report import VideoReporter

    photo = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1120, 560)))
    truth = [np.ascontiguousarray(photo[10:550, 8 * k:8 * k + 960]) for k in range(5)]
    outs = [np.clip(t.astype(int) + 6 * (k % 2), 0, 255).astype(np.uint8) for k, t in enumerate(truth)]
    samples = [Sample(id=f"c#{k}", loader=lambda: None, meta={"clip": "c", "frame": k, "index": k}, group="c")
               for k in range(5)]
    reporter = VideoReporter({"c": samples}, {"c": 25.0})
    for k in range(4):
        reporter.score(samples[k], truth[k], outs[k])
    state = dict(reporter._recent)

    def last_frame():  # each round from the same state (score() drops the images of older frames)
        reporter._clip, reporter._recent = "c", {i: dataclasses.replace(f) for i, f in state.items()}
        return reporter.score(samples[4], truth[4], outs[4])

    row = benchmark.pedantic(last_frame, rounds=3, iterations=1)
    assert row["warp_pixels"] > 0.9 * 960 * 540 and row["js_d4"] > 0
