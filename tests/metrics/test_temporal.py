"""Temporal metrics: CDC as TCVC defines it, warp error along the true motion, flicker, CIELAB."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.gray import to_gray
from harness.metrics import higher_is_better
from harness.metrics import temporal as tm
from tests.conftest import hue_frames, pan_frames, zoom_frames


def _two_level_frame(red_high: int, blue_high: int, pixels: int = 100) -> np.ndarray:
    """A 10 x 10 frame: `red_high` pixels R = 255 (the rest 0), G = 128 everywhere,
    `blue_high` pixels B = 200 (the rest 50): each channel's histogram is known."""
    frame = np.zeros((pixels, 3), np.uint8)
    frame[:red_high, 0] = 255
    frame[:, 1] = 128
    frame[:, 2] = 50
    frame[:blue_high, 2] = 200
    return frame.reshape(10, 10, 3)


def _js_two_bins(x: float, y: float) -> float:
    """JS divergence (natural log) of the distributions (x, 1-x) and (y, 1-y), by hand."""
    total = 0.0
    for p, q in ((x, y), (1 - x, 1 - y)):
        m = (p + q) / 2
        total += 0.5 * (p * math.log(p / m) if p else 0.0) + 0.5 * (q * math.log(q / m) if q else 0.0)
    return total


def test_cdc_equals_a_hand_computation_on_known_histograms():
    reds, blues = [10, 30, 30, 70, 50, 90], [50, 50, 20, 80, 50, 10]
    frames = [_two_level_frame(r, b) for r, b in zip(reds, blues)]
    per_channel = []
    for levels in (reds, [0] * 6, blues):  # green never changes: JS 0
        means = [np.mean([_js_two_bins(levels[t] / 100, levels[t + d] / 100) for t in range(6 - d)])
                 for d in (1, 2, 4)]
        per_channel.append(sum(means) / 3)
    expected = sum(per_channel) / 3
    assert expected > 0.01
    assert tm.cdc(frames) == pytest.approx(expected, rel=1e-12)


def test_cdc_agrees_with_tcvc_recipe():
    """TCVC's recipe: cv2.calcHist per BGR channel / (H*W), scipy's entropy-based JS, d = 1, 2, 4."""
    import cv2
    from scipy.stats import entropy

    frames = zoom_frames(7)

    def js(p, q):
        m = (p + q) / 2
        return float(0.5 * entropy(p, m) + 0.5 * entropy(q, m))

    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    hists = [[cv2.calcHist([im], [c], None, [256], [0, 256]).ravel() / (im.shape[0] * im.shape[1]) for c in range(3)]
             for im in bgr]
    channels = [sum(np.mean([js(hists[t][c], hists[t + d][c]) for t in range(7 - d)]) / 3 for d in (1, 2, 4))
                for c in range(3)]
    assert tm.cdc(frames) == pytest.approx(np.mean(channels), rel=1e-5)  # calcHist counts in float32


def test_cdc_needs_a_pair_at_every_distance():
    frames = pan_frames(4)  # no pair 4 frames apart
    assert math.isnan(tm.cdc(frames))
    assert math.isnan(tm.cdc_from_pairs({1: [0.1], 2: [0.2], 4: []}))
    assert tm.cdc_from_pairs({1: [0.3, 0.1], 2: [0.2], 4: [0.6]}) == pytest.approx((0.2 + 0.2 + 0.6) / 3)


def test_js_divergence_matches_scipy_and_is_symmetric():
    from scipy.stats import entropy

    rng = np.random.default_rng(3)
    p, q = rng.random(256), rng.random(256)
    p[:40] = 0  # empty bins count as 0 log 0 = 0
    m = (p / p.sum() + q / q.sum()) / 2
    reference = 0.5 * entropy(p / p.sum(), m) + 0.5 * entropy(q / q.sum(), m)
    assert tm.js_divergence(p, q) == pytest.approx(reference, rel=1e-12)
    assert tm.js_divergence(q, p) == pytest.approx(reference, rel=1e-12)
    assert tm.js_divergence(p, p) == 0.0
    assert tm.js_divergence(np.eye(2)[0], np.eye(2)[1]) == pytest.approx(math.log(2))


def test_static_clip_scores_zero_on_all_three():
    still = pan_frames(1)[0]
    frames = [still.copy() for _ in range(6)]
    assert tm.cdc(frames) == 0.0
    assert tm.clip_warp_error(frames, frames) == 0.0
    assert tm.flicker(frames) == 0.0


def test_oscillating_hue_scores_higher_on_all_three():
    frames = hue_frames(6)
    still = [pan_frames(1)[0]] * 6  # the truth does not move: the flow is 0 and every pixel counts
    assert tm.cdc(frames) > 0.005
    assert tm.clip_warp_error(frames, still) > 0.002
    assert tm.flicker(frames) > 5.0  # CIELAB units: a strong swing of the mean a*, b*
    milder = hue_frames(6, degrees=10)
    assert tm.flicker(milder) < tm.flicker(frames)
    assert tm.clip_warp_error(milder, still) < tm.clip_warp_error(frames, still)


def test_flow_finds_the_known_pan_and_masks_what_leaves_the_frame():
    frames = pan_frames(2, step=4)
    flow, valid = tm.pair_flow(to_gray(frames[0]), to_gray(frames[1]))
    assert np.median(flow[valid], axis=0) == pytest.approx([-4.0, 0.0], abs=0.05)
    assert not valid[:, :4].any()  # these pixels move out of the next frame
    assert valid.mean() > 0.9


def test_warp_error_is_near_zero_on_a_pure_pan_and_grows_with_colour_jitter():
    pan = pan_frames(8, step=4)
    truth_level = tm.clip_warp_error(pan, pan)
    assert truth_level < 1e-5
    rng = np.random.default_rng(0)
    errors = []
    for amount in (0.02, 0.1):
        jittered = [np.clip(np.round(f * rng.uniform(1 - amount, 1 + amount, 3)), 0, 255).astype(np.uint8)
                    for f in pan]
        errors.append(tm.clip_warp_error(jittered, pan))
    assert truth_level * 50 < errors[0] < errors[1]


def test_warp_error_on_a_zoom_is_small():
    frames = zoom_frames(6)
    assert tm.clip_warp_error(frames, frames) < 2e-4


def test_a_scene_cut_masks_the_pair_and_spikes_the_histograms():
    clip = pan_frames(3) + pan_frames(3, name="coffee", top=100, left=100)
    flow, valid = tm.pair_flow(to_gray(clip[2]), to_gray(clip[3]))
    assert valid.mean() < 0.05  # nothing corresponds across the cut
    js = [tm.frame_js(tm.channel_histograms(a), tm.channel_histograms(b)) for a, b in zip(clip, clip[1:])]
    assert int(np.argmax(js)) == 2 and js[2] > 20 * max(js[:2] + js[3:])


def test_rgb_to_lab_is_scikit_image_rgb2lab():
    from skimage.color import rgb2lab

    rng = np.random.default_rng(1)
    image = np.concatenate([rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), pan_frames(1, size=(40, 50))[0]])
    assert np.abs(tm.rgb_to_lab(image) - rgb2lab(image)).max() < 1e-9
    a, b, chroma = tm.chroma_means(image)
    lab = rgb2lab(image)
    assert (a, b, chroma) == pytest.approx((lab[..., 1].mean(), lab[..., 2].mean(),
                                            np.hypot(lab[..., 1], lab[..., 2]).mean()), rel=1e-9)


def test_flicker_is_the_mean_half_sum_of_absolute_mean_changes():
    assert tm.flicker_from_means([0, 2, 1], [0, -4, 0]) == pytest.approx(((2 + 4) / 2 + (1 + 4) / 2) / 2)
    assert math.isnan(tm.flicker_from_means([1.0], [2.0]))


def test_directions_of_temporal_summary_keys():
    assert higher_is_better("cdc_mean") is False and higher_is_better("warp_error_p95") is False
    assert higher_is_better("flicker_ci95_high") is False
    assert higher_is_better("cdc_gt_mean") is None and higher_is_better("flicker_std") is None
