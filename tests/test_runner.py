"""The evaluation loop: statuses per image, batching, failure isolation, summaries, grids."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

import tests.fake_models  # noqa: F401
from harness.data import folder, samples
from harness.data.images import decode_rgb, to_gray
from harness.models.registry import build_model
from harness.runner import evaluate

METRICS = ["psnr", "ssim", "colorfulness", "delta_e"]


def test_statuses_for_good_gray_and_bad_files(photo_dir):
    ds = folder.build(photo_dir)
    result = evaluate(ds, build_model("grayscale"), METRICS, batch_size=3)
    status = dict(zip(result.rows["image_id"], result.rows["status"]))
    assert status == {
        "astronaut.png": "ok", "chelsea.jpg": "ok", "coffee.png": "ok", "sub/rocket.jpg": "ok",
        "gray_as_rgb.png": "excluded:grayscale", "empty.jpg": "failed:empty", "notes.txt": "failed:not_an_image",
        "truncated.jpg": "failed:corrupt", "garbage.png": "failed:not_an_image",
    }
    s = result.summary
    assert (s["n_images"], s["n_scored"], s["n_excluded"], s["n_failed"]) == (9, 4, 1, 4)
    assert list(result.rows["image_id"]) == [x.id for x in ds.samples]  # dataset order kept
    errors = result.rows.set_index("image_id")["error"]
    assert "zero bytes" in errors["empty.jpg"]


def test_scores_are_per_image_against_original_rgb(photo_dir):
    ds = folder.build(photo_dir)
    result = evaluate(ds, build_model("grayscale"), ["psnr"], batch_size=2)
    row = result.rows.set_index("image_id").loc["coffee.png"]
    gt = decode_rgb(photo_dir / "coffee.png")
    baseline = np.repeat(to_gray(gt)[..., None], 3, axis=2)
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(gt, baseline, data_range=255), abs=1e-9)
    ok = result.rows[result.rows.status == "ok"]
    assert result.summary["psnr_mean"] == pytest.approx(ok["psnr"].mean())  # mean of per-image values
    assert (result.rows["seconds"] > 0).all()


def test_batches_respect_batch_size(photo_dir):
    from tests.fake_models import FakeTint

    FakeTint.calls.clear()
    ds = folder.build(photo_dir)
    evaluate(ds, build_model("fake-tint", {"strength": 0.2}), ["psnr"], batch_size=4)
    assert max(FakeTint.calls) <= 4 and sum(FakeTint.calls) == 4  # the 4 colour photos; gray and bad files never reach the model


def test_one_failing_image_does_not_fail_its_batch(photo_dir):
    ds = folder.build(photo_dir)
    result = evaluate(ds, build_model("fake-fragile", {"min_width": 80}), ["psnr"], batch_size=8)
    status = dict(zip(result.rows["image_id"], result.rows["status"]))
    assert status["sub/rocket.jpg"] == "failed:colorize"  # 48 px wide
    assert status["coffee.png"] == "failed:colorize"  # 71 px wide
    assert status["astronaut.png"] == "ok" and status["chelsea.jpg"] == "ok"
    assert "too narrow" in result.rows.set_index("image_id").loc["coffee.png", "error"]


def test_colourful_model_beats_baseline_on_cf_delta():
    ds = samples.build(limit=4, seed=1)
    gray = evaluate(ds, build_model("grayscale"), METRICS)
    tint = evaluate(ds, build_model("fake-tint", {"strength": 0.3}), METRICS)
    assert gray.summary["colorfulness_mean"] == pytest.approx(0.0, abs=1e-9)
    assert gray.summary["cf_delta"] == pytest.approx(gray.summary["colorfulness_gt_mean"])
    assert tint.summary["colorfulness_mean"] > 0
    for key in ("psnr_mean", "psnr_p05", "psnr_ci95_low", "psnr_ci95_high", "ssim_p50", "delta_e_max"):
        assert key in gray.summary


def test_grid_picks_best_median_worst(photo_dir):
    ds = folder.build(photo_dir)
    result = evaluate(ds, build_model("grayscale"), METRICS, grid_count=3)
    assert [g.tag for g in result.grid] == ["best", "median", "worst"]
    ok = result.rows[result.rows.status == "ok"].set_index("image_id")
    assert result.grid[0].image_id == ok["psnr"].idxmax()
    assert result.grid[-1].image_id == ok["psnr"].idxmin()
    first = result.grid[0]
    assert first.output.shape == first.truth.shape and first.gray.shape == first.truth.shape[:2]
    assert first.psnr == pytest.approx(ok.loc[first.image_id, "psnr"])


def test_torch_scoring_matches_reference_scoring(photo_dir):
    ds = folder.build(photo_dir)
    ref = evaluate(ds, build_model("fake-tint", {"strength": 0.4}), METRICS, batch_size=3, impl="skimage")
    dev = evaluate(ds, build_model("fake-tint", {"strength": 0.4}), METRICS, batch_size=3, impl="torch")
    a = ref.rows.set_index("image_id")
    b = dev.rows.set_index("image_id")
    assert list(a["status"]) == list(b["status"])
    ok = a.index[a["status"] == "ok"]
    for column in ("psnr", "ssim", "colorfulness", "colorfulness_gt"):
        assert (a.loc[ok, column] - b.loc[ok, column]).abs().max() <= 1e-6, column
    assert (a.loc[ok, "delta_e"] - b.loc[ok, "delta_e"]).abs().max() <= 1e-4


def test_pipeline_order_and_counts_do_not_depend_on_workers(photo_dir):
    ds = folder.build(photo_dir)
    one = evaluate(ds, build_model("grayscale"), ["psnr"], batch_size=2, workers=1, prefetch=1)
    many = evaluate(ds, build_model("grayscale"), ["psnr"], batch_size=2, workers=4, prefetch=3)
    assert one.rows[["image_id", "status"]].equals(many.rows[["image_id", "status"]])
    assert one.rows["psnr"].equals(many.rows["psnr"])
