"""Metrics agree with scikit-image on real photos, colourfulness with hand-computed values,
summaries with numpy; the registry and the directions behave as the runner and compare expect."""

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
from tests.conftest import COCO_SAMPLE

PHOTOS = ["astronaut", "chelsea", "coffee"]
PIXEL_METRICS = ["colorfulness", "colorfulness_hs", "delta_e", "psnr", "ssim"]  # no network, no weights


def variants(gt: np.ndarray) -> dict[str, np.ndarray]:
    """Plausible colorizer outputs of `gt`: noise, blur, a hue shift, and the gray input itself."""
    rng = np.random.default_rng(1)
    noisy = np.clip(gt.astype(int) + rng.integers(-25, 26, gt.shape), 0, 255).astype(np.uint8)
    blurred = (gaussian(gt, sigma=2, channel_axis=-1) * 255).round().astype(np.uint8)
    hue_shift = np.ascontiguousarray(gt[..., [1, 2, 0]])
    luma = np.clip((gt @ [0.299, 0.587, 0.114]).round(), 0, 255).astype(np.uint8)
    gray = np.repeat(luma[..., None], 3, axis=2)
    one_pixel = gt.copy()
    one_pixel[10, 10, 0] ^= 0x80  # a single large error: low MSE, high but finite PSNR
    return {"noisy": noisy, "blurred": blurred, "hue_shift": hue_shift, "gray": gray, "one_pixel": one_pixel}


@pytest.fixture(scope="module", params=PHOTOS)
def photo(request) -> np.ndarray:
    return getattr(skimage.data, request.param)()


# ----- parity with scikit-image ---------------------------------------------------------------
@pytest.mark.parametrize("variant", ["noisy", "blurred", "hue_shift", "gray", "one_pixel"])
def test_parity_with_scikit_image(photo, variant):
    out = variants(photo)[variant]
    ref_psnr = peak_signal_noise_ratio(photo, out, data_range=255)
    ref_ssim = structural_similarity(photo, out, channel_axis=-1, data_range=255)
    ref_de = deltaE_ciede2000(rgb2lab(photo), rgb2lab(out)).mean()
    if variant != "one_pixel":  # one wrong pixel of ~300k is ~88 dB: still under the cap
        assert ref_psnr < 60
    assert ref_psnr < metrics.PSNR_CAP
    assert abs(metrics.psnr(photo, out) - ref_psnr) <= 1e-6
    assert abs(metrics.ssim(photo, out) - ref_ssim) <= 1e-6
    assert abs(metrics.delta_e(photo, out) - ref_de) <= 1e-6


def test_outputs_are_python_floats():
    gt = skimage.data.astronaut()[:64, :64]
    out = variants(gt)["noisy"]
    for name in PIXEL_METRICS:
        row = metrics.get_metric(name)().score(gt, out)
        assert row and all(type(v) is float for v in row.values())
    assert type(metrics.colorfulness(gt)) is float


# ----- PSNR cap -----------------------------------------------------------------------------
def test_identical_images_give_the_cap_without_warnings():
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no divide-by-zero warning either
            assert metrics.psnr(img, img.copy()) == metrics.PSNR_CAP == 100.0
            assert metrics.ssim(img, img) == pytest.approx(1.0)
            assert metrics.delta_e(img, img) == 0.0


def test_tiny_differences_are_capped_never_lowered():
    gt = skimage.data.astronaut()
    out = gt.copy()
    out[0, 0, 0] ^= 1  # one grey level on one pixel: ~107 dB in scikit-image
    ref = peak_signal_noise_ratio(gt, out, data_range=255)
    assert ref > metrics.PSNR_CAP
    assert metrics.psnr(gt, out) == metrics.PSNR_CAP
    small = gt[:4, :4].copy()
    small_out = small.copy()
    small_out[0, 0, 0] ^= 1  # fewer pixels: under the cap, so reported as is
    assert metrics.psnr(small, small_out) == pytest.approx(peak_signal_noise_ratio(small, small_out, data_range=255))
    assert metrics.psnr(small, small_out) < metrics.PSNR_CAP


def test_psnr_rejects_mismatched_shapes():
    gt = skimage.data.chelsea()
    with pytest.raises(ValueError):
        metrics.psnr(gt, gt[:, :-1])


# ----- colourfulness ------------------------------------------------------------------------
def solid(colour, shape=(6, 8)) -> np.ndarray:
    img = np.zeros((*shape, 3), np.uint8)
    img[:] = colour
    return img


def test_colorfulness_of_gray_is_zero():
    for level in (0, 77, 128, 255):
        assert metrics.colorfulness(solid((level, level, level))) == 0.0
    photo = skimage.data.coffee()
    gray = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert metrics.colorfulness(gray) == 0.0
    assert metrics.colorfulness(photo) > 30


def test_colorfulness_of_constant_colours_is_the_mean_term():
    # red: rg = 255, yb = 0.5 * 255 = 127.5, no spread
    assert metrics.colorfulness(solid((255, 0, 0))) == pytest.approx(0.3 * np.sqrt(255**2 + 127.5**2))
    # blue: rg = 0, yb = -255
    assert metrics.colorfulness(solid((0, 0, 255))) == pytest.approx(0.3 * 255)
    # (200, 100, 50): rg = 100, yb = 150 - 50 = 100
    assert metrics.colorfulness(solid((200, 100, 50))) == pytest.approx(0.3 * np.sqrt(2) * 100)


def test_colorfulness_of_two_colour_images_by_hand():
    # top half red, bottom half black: rg is 255 | 0 (mean 127.5, population std 127.5),
    # yb is 127.5 | 0 (mean 63.75, std 63.75)
    half = np.zeros((4, 6, 3), np.uint8)
    half[:2] = (255, 0, 0)
    spread = np.sqrt(127.5**2 + 63.75**2)
    assert metrics.colorfulness(half) == pytest.approx(spread + 0.3 * spread)
    # left half red, right half green: R - G is 255 | -255, so |rg| is 255 everywhere (no spread)
    # and yb is 127.5 everywhere: the literature's form sees one constant colour ...
    rg = np.zeros((4, 6, 3), np.uint8)
    rg[:, :3] = (255, 0, 0)
    rg[:, 3:] = (0, 255, 0)
    assert metrics.colorfulness(rg) == pytest.approx(0.3 * np.hypot(255, 127.5))
    # ... while the signed (published) form sees rg spread +-255 around a mean of 0
    assert metrics.colorfulness_hs(rg) == pytest.approx(255 + 0.3 * 127.5)
    # 3 red pixels and 1 black: rg = 255,255,255,0: mean 191.25, std sqrt(3)/4 * 255
    quarter = solid((255, 0, 0), (2, 2))
    quarter[1, 1] = 0
    s = np.sqrt(3) / 4
    expected = np.hypot(s * 255, s * 127.5) + 0.3 * np.hypot(191.25, 95.625)
    assert metrics.colorfulness(quarter) == pytest.approx(expected)


def ddcolor_cf(bgr: np.ndarray) -> float:
    """DDColor's basicsr/metrics/colorfulness.py `calculate_cf` (pyimagesearch's), on a BGR image, by hand."""
    b, g, r = (bgr[..., i].astype("float") for i in range(3))
    rg, yb = np.absolute(r - g), np.absolute(0.5 * (r + g) - b)
    std_root = np.sqrt(np.std(rg) ** 2 + np.std(yb) ** 2)
    mean_root = np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2)
    return std_root + 0.3 * mean_root


@pytest.mark.parametrize("name", PHOTOS)
def test_colorfulness_is_the_literatures_formula(name):
    photo = getattr(skimage.data, name)()
    assert metrics.colorfulness(photo) == pytest.approx(ddcolor_cf(photo[..., ::-1]), rel=1e-12)
    signed = photo.reshape(-1, 3).astype(float)
    rg, yb = signed[:, 0] - signed[:, 1], 0.5 * (signed[:, 0] + signed[:, 1]) - signed[:, 2]
    assert metrics.colorfulness_hs(photo) == pytest.approx(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(
        rg.mean(), yb.mean()), rel=1e-12)


@pytest.mark.skipif(not COCO_SAMPLE.is_dir(), reason="../shared/data/coco-sample is absent (only in the dev workspace)")
def test_the_two_colorfulness_forms_differ_on_real_photos():
    """Why the form matters: on the 64 COCO sample photos the absolute form reads ~3.6 lower on
    average, and up to ~15 on one photo, so a CF compared with a paper's must be the paper's form."""
    from harness.data.images import decode_rgb

    photos = [decode_rgb(p) for p in sorted((COCO_SAMPLE / "images").glob("*.jpg"))]
    absolute = np.array([metrics.colorfulness(p) for p in photos])
    signed = np.array([metrics.colorfulness_hs(p) for p in photos])
    assert len(photos) == 64
    assert absolute.mean() == pytest.approx(36.88, abs=0.01) and signed.mean() == pytest.approx(40.53, abs=0.01)
    assert np.abs(absolute - signed).max() == pytest.approx(14.90, abs=0.01)


def test_colorfulness_ignores_layout_and_accepts_pixel_lists():
    photo = skimage.data.chelsea()
    flat = photo.reshape(-1, 1, 3)  # how region scores pass masked pixels
    assert metrics.colorfulness(flat) == pytest.approx(metrics.colorfulness(photo), rel=1e-12)
    shuffled = np.random.default_rng(0).permutation(photo.reshape(-1, 3)).reshape(photo.shape)
    assert metrics.colorfulness(shuffled) == pytest.approx(metrics.colorfulness(photo), rel=1e-9)


def test_registered_colorfulness_scores_output_and_ground_truth_with_no_direction():
    metric = metrics.get_metric("colorfulness")
    red, gray = solid((255, 0, 0)), solid((90, 90, 90))
    assert metric.higher_is_better is None  # more colour is not better: matching the truth is (cf_delta)
    assert metric.columns == ("colorfulness", "colorfulness_gt")
    assert metric().score(gray, red) == {"colorfulness": metrics.colorfulness(red), "colorfulness_gt": 0.0}
    assert metric().score(red, gray) == {"colorfulness": 0.0, "colorfulness_gt": metrics.colorfulness(red)}
    assert metric.derived["cf_delta"].higher_is_better is False


# ----- delta E ------------------------------------------------------------------------------
def test_delta_e_by_hand_and_zero_for_identical():
    black, white = solid((0, 0, 0)), solid((255, 255, 255))
    assert metrics.delta_e(black, black) == 0.0
    # L* 0 vs 100, no chroma: mean L* is 50, so S_L = 1 and CIEDE2000 is the L* difference
    assert metrics.delta_e(black, white) == pytest.approx(100.0, abs=1e-3)
    half = black.copy()
    half[:3] = 255
    assert metrics.delta_e(black, half) == pytest.approx(50.0, abs=1e-3)  # mean over pixels


# ----- a row of the per-image table (the pipeline's scorer) ----------------------------------
def pair_scorer(names):
    from harness.pipeline.scoring import PairScorer

    return PairScorer(metrics.build_metrics(names), "skimage", "cpu")


def test_a_row_holds_each_metrics_columns_and_values():
    gt = skimage.data.astronaut()[:64, :64]
    out = np.ascontiguousarray(gt[..., ::-1])
    (row,) = pair_scorer(["psnr", "colorfulness"]).score([(gt, out)])
    assert list(row) == ["psnr", "colorfulness", "colorfulness_gt"]
    assert row["psnr"] == metrics.psnr(gt, out)
    assert row["colorfulness"] == metrics.colorfulness(out)
    assert row["colorfulness_gt"] == metrics.colorfulness(gt)
    (row,) = pair_scorer(["ssim", "delta_e"]).score([(gt, out)])
    assert row == {"ssim": metrics.ssim(gt, out), "delta_e": metrics.delta_e(gt, out)}
    (full,) = pair_scorer(PIXEL_METRICS).score([(gt, gt)])
    assert full["psnr"] == metrics.PSNR_CAP and full["delta_e"] == 0.0
    assert full["colorfulness"] == full["colorfulness_gt"]


def test_a_pair_that_cannot_be_scored_fails_alone_and_unknown_names_fail_first():
    gt = skimage.data.astronaut()[:32, :32]
    with pytest.raises(HarnessError, match="Unknown metric 'psnrr'"):
        metrics.build_metrics(["psnr", "psnrr"])
    rows = pair_scorer(["psnr"]).score([(gt, gt[:, :16]), (gt, gt)])
    assert isinstance(rows[0], ValueError) and rows[1] == {"psnr": metrics.PSNR_CAP}


# ----- summarize ----------------------------------------------------------------------------
def test_summarize_matches_numpy():
    values = np.random.default_rng(0).normal(25, 3, size=200)
    s = metrics.summarize(values)
    assert tuple(s) == metrics.STATS
    assert s["mean"] == pytest.approx(values.mean()) and s["std"] == pytest.approx(values.std(ddof=1))
    for key, q in (("p05", 5), ("p25", 25), ("p50", 50), ("p75", 75), ("p95", 95)):
        assert s[key] == pytest.approx(np.percentile(values, q))
    assert s["min"] == values.min() and s["max"] == values.max()
    assert all(type(v) is float for v in s.values())
    assert metrics.summarize(pd.Series(values)) == s
    assert metrics.summarize(list(values)) == s


def test_summarize_percentiles_interpolate_linearly():
    s = metrics.summarize([1, 2, 3, 4])
    assert (s["p05"], s["p25"], s["p50"], s["p75"], s["p95"]) == pytest.approx((1.15, 1.75, 2.5, 3.25, 3.85))


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(3)
    widths = []
    for n in (10, 100, 1000):
        values = rng.normal(25, 3, size=n)
        s = metrics.summarize(values)
        assert s["ci95_low"] < s["mean"] < s["ci95_high"]
        widths.append(s["ci95_high"] - s["ci95_low"])
    assert widths[0] > widths[1] > widths[2]
    # for n = 1000 the bootstrap CI is close to the normal-theory one, 2 * 1.96 * sd / sqrt(n)
    assert widths[2] == pytest.approx(2 * 1.96 * 3 / np.sqrt(1000), rel=0.15)


def test_bootstrap_is_seeded():
    values = np.random.default_rng(5).exponential(2.0, size=50)
    a, b = metrics.summarize(values, seed=7), metrics.summarize(values, seed=7)
    assert a == b
    other = metrics.summarize(values, seed=8)
    assert other["ci95_low"] != a["ci95_low"] and other["mean"] == a["mean"]


def test_bootstrap_in_chunks_gives_the_same_kind_of_interval(monkeypatch):
    values = np.random.default_rng(6).normal(10, 2, size=400)
    whole = metrics.summarize(values, n_boot=2000)
    from harness.metrics import summary

    monkeypatch.setattr(summary, "_BOOT_CHUNK", 1000)  # 2 resamples per chunk
    chunked = metrics.summarize(values, n_boot=2000)
    assert chunked["ci95_low"] < chunked["mean"] < chunked["ci95_high"]
    assert chunked["ci95_low"] == pytest.approx(whole["ci95_low"], abs=0.05)
    assert chunked["ci95_high"] == pytest.approx(whole["ci95_high"], abs=0.05)


def test_summarize_edge_cases():
    values = np.random.default_rng(0).normal(25, 3, size=30)
    assert metrics.summarize(np.append(values, [np.nan, np.nan])) == metrics.summarize(values)
    for empty in ([], [np.nan], pd.Series([], dtype=float)):
        s = metrics.summarize(empty)
        assert tuple(s) == metrics.STATS and all(np.isnan(v) for v in s.values())
    one = metrics.summarize([5.0])
    assert one["std"] == 0.0
    assert {one[k] for k in metrics.STATS if k != "std"} == {5.0}
    with pytest.raises(ValueError):
        metrics.summarize(values, n_boot=0)


# ----- summarize_run ------------------------------------------------------------------------
def per_image_table() -> pd.DataFrame:
    # failed/excluded rows carry absurd values so that using them would show
    return pd.DataFrame({
        "image_id": ["a", "b", "c", "d", "e", "f"],
        "status": ["ok", "ok", "failed:corrupt", "excluded:grayscale", "ok", "failed:score"],
        "psnr": [20.0, 30.0, 999.0, 999.0, 25.0, np.nan],
        "colorfulness": [10.0, 20.0, 999.0, np.nan, 30.0, np.nan],
        "colorfulness_gt": [40.0, 40.0, 999.0, np.nan, 40.0, np.nan],
        "psnr_objects": [18.0, 22.0, np.nan, np.nan, np.nan, np.nan],
        "seconds": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "width": [64, 64, 64, 64, 64, 64],
    })


def test_summarize_run_counts_statistics_and_cf_delta():
    s = metrics.summarize_run(per_image_table(), ["psnr", "colorfulness"])
    assert (s["n_images"], s["n_scored"], s["n_failed"], s["n_excluded"]) == (6, 3, 2, 1)
    assert s["psnr_mean"] == 25.0 and s["psnr_p50"] == 25.0 and s["psnr_max"] == 30.0
    assert s["psnr_std"] == pytest.approx(5.0)
    assert s["colorfulness_mean"] == 20.0 and s["colorfulness_gt_mean"] == 40.0
    assert s["cf_delta"] == pytest.approx(20.0)
    assert s["psnr_objects_mean"] == 20.0  # region columns are metric columns too; NaN dropped
    assert not any(k.startswith(("seconds_", "width_", "image_id_", "status_")) for k in s)
    for column in ("psnr", "colorfulness", "colorfulness_gt", "psnr_objects"):
        assert all(f"{column}_{stat}" in s for stat in metrics.STATS)
    assert s == metrics.summarize_run(per_image_table(), ["psnr", "colorfulness"])  # seeded


def test_cf_delta_is_absolute_and_only_with_colorfulness():
    rows = per_image_table()
    rows["colorfulness"], rows["colorfulness_gt"] = rows["colorfulness_gt"], rows["colorfulness"]
    assert metrics.summarize_run(rows, ["psnr", "colorfulness"])["cf_delta"] == pytest.approx(20.0)
    assert "cf_delta" not in metrics.summarize_run(per_image_table().drop(
        columns=["colorfulness", "colorfulness_gt"]), ["psnr"])


def test_summarize_run_with_nothing_scored_keeps_the_keys():
    rows = pd.DataFrame({"image_id": ["a", "b"], "status": ["failed:corrupt", "excluded:grayscale"]})
    s = metrics.summarize_run(rows, ["psnr", "colorfulness"])
    assert (s["n_images"], s["n_scored"], s["n_failed"], s["n_excluded"]) == (2, 0, 1, 1)
    for key in ("psnr_mean", "psnr_ci95_high", "colorfulness_mean", "colorfulness_gt_p95", "cf_delta"):
        assert np.isnan(s[key])


def test_run_psnr_is_the_mean_of_per_image_values_not_pooled():
    gt = np.zeros((10, 10, 3), np.uint8)
    a, b = gt.copy(), gt.copy()
    a[0, 0, 0] = 10
    b[:] = 10
    per_image = [metrics.psnr(gt, a), metrics.psnr(gt, b)]
    rows = pd.DataFrame({"status": ["ok", "ok"], "psnr": per_image})
    pooled = 10 * np.log10(255**2 / np.mean([np.mean((gt - a) ** 2.0), np.mean((gt - b) ** 2.0)]))
    mean = metrics.summarize_run(rows, ["psnr"])["psnr_mean"]
    assert mean == pytest.approx(np.mean(per_image))
    assert abs(mean - pooled) > 5


# ----- registry and directions --------------------------------------------------------------
def test_builtin_registry():
    assert metrics.metric_names() == ["colorfulness", "colorfulness_hs", "delta_e", "fid", "kid", "lpips", "psnr",
                                      "ssim"]
    directions = {n: metrics.get_metric(n).higher_is_better for n in metrics.metric_names()}
    assert directions == {"colorfulness": None, "colorfulness_hs": None, "delta_e": False, "fid": False,
                          "kid": False, "lpips": False, "psnr": True, "ssim": True}
    kinds = {n: metrics.get_metric(n).kind for n in metrics.metric_names()}
    assert [n for n, k in kinds.items() if k == "dataset"] == ["fid", "kid"]
    info = metrics.get_metric("psnr")
    assert info.name == "psnr" and info.fn is metrics.psnr and "dB" in info.description
    assert info.kind == "image" and info.columns == ("psnr",)
    assert all(metrics.get_metric(n).has_device_form() for n in PIXEL_METRICS + ["lpips"])


def test_unknown_metric_suggests_the_closest_name():
    with pytest.raises(HarnessError, match="Did you mean 'ssim'") as caught:
        metrics.get_metric("ssmi")
    assert "Known metrics: colorfulness, colorfulness_hs, delta_e, fid, kid, lpips, psnr, ssim." in str(caught.value)
    with pytest.raises(HarnessError) as caught:
        metrics.get_metric("zzz")
    assert "Did you mean" not in str(caught.value)


def test_a_new_metric_is_one_decorated_function(monkeypatch):
    from harness.metrics import registry

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    @metrics.register_metric("mean_abs_error", higher_is_better=False)
    def mae(gt, out):
        """Mean absolute difference over pixels and channels."""
        return float(np.abs(gt.astype(float) - out.astype(float)).mean())

    assert "mean_abs_error" in metrics.metric_names()
    info = metrics.get_metric("mean_abs_error")
    assert info.description == "Mean absolute difference over pixels and channels."
    gt = solid((10, 10, 10))
    assert pair_scorer(["mean_abs_error"]).score([(gt, solid((13, 13, 13)))]) == [{"mean_abs_error": 3.0}]
    assert metrics.higher_is_better("mean_abs_error_p95") is False
    assert not info.has_device_form()  # no batched form given: scored on the CPU on its own
    with pytest.raises(ValueError, match="already registered"):
        metrics.register_metric("psnr", higher_is_better=True)
    for bad in ("PSNR", "my metric", "a__b", "_x", ""):
        with pytest.raises(ValueError, match="metric name"):
            metrics.register_metric(bad, higher_is_better=True)


@pytest.mark.parametrize("key, expected", [
    ("psnr_mean", True), ("psnr_p05", True), ("psnr_ci95_low", True), ("ssim_p50", True),
    ("delta_e_mean", False), ("delta_e_p95", False), ("delta_e_max", False),
    ("colorfulness_mean", None), ("colorfulness_gt_mean", None), ("cf_delta", False),
    ("psnr_std", None), ("delta_e_std", None), ("colorfulness_gt_std", None),
    ("n_failed", False), ("n_excluded", False), ("n_scored", True), ("n_images", None),
    ("psnr_objects_mean", True), ("delta_e_background_p50", False), ("psnr_mean__animal", True),
    ("delta_e_mean__food", False), ("seconds_total", None), ("psnrx_mean", None), ("whatever", None),
    ("fid", False), ("n_fid", None), ("kid_mean", False), ("kid_std", None), ("lpips_mean", False),
    ("lpips_ci95_high", False), ("colorfulness_hs_mean", None), ("cf_delta_hs", False),
])
def test_higher_is_better(key, expected):
    assert metrics.higher_is_better(key) is expected
