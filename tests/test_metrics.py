"""Metrics agree with scikit-image, colourfulness with hand-computed values, summaries with numpy."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import skimage.data
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.filters import gaussian
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness import metrics
from harness.errors import HarnessError


def outputs_for(gt: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    noisy = np.clip(gt.astype(int) + rng.integers(-25, 26, gt.shape), 0, 255).astype(np.uint8)
    blurred = (gaussian(gt, sigma=2, channel_axis=-1) * 255).round().astype(np.uint8)
    hue_shift = gt[..., [1, 2, 0]]
    gray = np.repeat(np.asarray(gt @ [0.299, 0.587, 0.114], dtype=np.uint8)[..., None], 3, axis=2)
    return [noisy, blurred, hue_shift, gray]


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_parity_with_scikit_image(name):
    gt = getattr(skimage.data, name)()
    for out in outputs_for(gt):
        assert abs(metrics.psnr(gt, out) - peak_signal_noise_ratio(gt, out, data_range=255)) <= 1e-6
        assert abs(metrics.ssim(gt, out) - structural_similarity(gt, out, channel_axis=-1, data_range=255)) <= 1e-6
        ref = deltaE_ciede2000(rgb2lab(gt), rgb2lab(out)).mean()
        assert abs(metrics.delta_e(gt, out) - ref) <= 1e-6


def test_identical_images():
    img = skimage.data.chelsea()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning either
        assert metrics.psnr(img, img) == metrics.PSNR_CAP
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    assert metrics.delta_e(img, img) == 0.0


def test_colorfulness_known_inputs():
    assert metrics.colorfulness(np.full((8, 8, 3), 128, np.uint8)) == 0.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255  # rg = 255, yb = 127.5, no spread
    assert metrics.colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
    half = np.zeros((2, 2, 3), np.uint8)
    half[0] = (255, 0, 0)  # rg: 255 | 0, yb: 127.5 | 0
    expected = np.hypot(127.5, 63.75) + 0.3 * np.hypot(127.5, 63.75)  # population std = mean = half the step
    assert metrics.colorfulness(half) == pytest.approx(expected)
    photo = skimage.data.coffee()
    gray = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert metrics.colorfulness(photo) > 30 > metrics.colorfulness(gray) == 0.0


def test_score_image_columns():
    gt = skimage.data.astronaut()[:64, :64]
    row = metrics.score_image(gt, gt[..., ::-1].copy(), ["psnr", "colorfulness"])
    assert set(row) == {"psnr", "colorfulness", "colorfulness_gt"}
    assert row["colorfulness_gt"] == pytest.approx(metrics.colorfulness(gt))


def test_summarize_matches_numpy_and_ci_behaves():
    rng = np.random.default_rng(0)
    values = rng.normal(25, 3, size=200)
    s = metrics.summarize(values)
    assert s["mean"] == pytest.approx(values.mean()) and s["std"] == pytest.approx(values.std(ddof=1))
    for key, q in (("p05", 5), ("p25", 25), ("p50", 50), ("p75", 75), ("p95", 95)):
        assert s[key] == pytest.approx(np.percentile(values, q))
    assert s["min"] == values.min() and s["max"] == values.max()
    assert s["ci95_low"] < s["mean"] < s["ci95_high"]
    small = metrics.summarize(values[:20])
    assert (small["ci95_high"] - small["ci95_low"]) > (s["ci95_high"] - s["ci95_low"])
    assert metrics.summarize(values) == s
    with_nan = metrics.summarize(np.append(values, np.nan))
    assert with_nan["mean"] == pytest.approx(s["mean"])
    assert np.isnan(metrics.summarize([])["mean"])
    assert metrics.summarize([5.0])["std"] == 0.0


def test_summarize_run_counts_and_cf_delta():
    rows = pd.DataFrame({
        "status": ["ok", "ok", "failed:corrupt", "excluded:grayscale", "ok"],
        "psnr": [20.0, 30.0, np.nan, np.nan, 25.0],
        "colorfulness": [10.0, 20.0, np.nan, np.nan, 30.0],
        "colorfulness_gt": [40.0, 40.0, np.nan, np.nan, 40.0],
    })
    s = metrics.summarize_run(rows, ["psnr", "colorfulness"])
    assert (s["n_images"], s["n_scored"], s["n_failed"], s["n_excluded"]) == (5, 3, 1, 1)
    assert s["psnr_mean"] == 25.0 and s["psnr_p50"] == 25.0
    assert s["cf_delta"] == pytest.approx(20.0)
    assert s["colorfulness_gt_mean"] == 40.0


def test_psnr_is_mean_of_per_image_values_not_pooled():
    gt = np.zeros((10, 10, 3), np.uint8)
    a, b = gt.copy(), gt.copy()
    a[0, 0, 0] = 10
    b[:] = 10
    rows = pd.DataFrame({"status": ["ok", "ok"], "psnr": [metrics.psnr(gt, a), metrics.psnr(gt, b)]})
    pooled = 10 * np.log10(255 ** 2 / np.mean([np.mean((gt - a) ** 2), np.mean((gt - b) ** 2.0)]))
    assert metrics.summarize_run(rows, ["psnr"])["psnr_mean"] != pytest.approx(pooled)


def test_registry_and_directions():
    assert metrics.metric_names() == ["colorfulness", "delta_e", "psnr", "ssim"]
    with pytest.raises(HarnessError, match="Did you mean 'ssim'"):
        metrics.get_metric("ssmi")
    assert metrics.higher_is_better("psnr_mean") is True
    assert metrics.higher_is_better("ssim_p05") is True
    assert metrics.higher_is_better("delta_e_mean") is False
    assert metrics.higher_is_better("cf_delta") is False
    assert metrics.higher_is_better("colorfulness_gt_mean") is True
    assert metrics.higher_is_better("psnr_std") is None
    assert metrics.higher_is_better("psnr_mean__animal") is True
    assert metrics.higher_is_better("n_failed") is False
    assert metrics.higher_is_better("whatever") is None
