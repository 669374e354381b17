"""The evaluation loop: statuses per image, batching, failure isolation, summaries, grids."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

import tests.fake_models  # noqa: F401
from harness.data import folder, samples
from harness.data.images import decode_rgb
from harness.gray import to_gray
from harness.models.registry import build_model
from harness.sweep.evaluate import evaluate

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


def test_one_failing_image_does_not_fail_its_batch_and_the_fallback_is_said(photo_dir):
    ds = folder.build(photo_dir)
    result = evaluate(ds, build_model("fake-fragile", {"min_width": 80}), ["psnr"], batch_size=8)
    assert result.warnings == ["the model failed on a batch of 4 images (RuntimeError: image too narrow: 71 px); "
                               "they were colorized one at a time"]
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
    assert tint.summary["colorfulness_gt_mean"] == gray.summary["colorfulness_gt_mean"]  # same ground truths
    assert 0 < tint.summary["colorfulness_mean"] < tint.summary["colorfulness_gt_mean"]
    assert tint.summary["cf_delta"] < gray.summary["cf_delta"]  # closer to natural saturation than gray is
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


@pytest.mark.parametrize("mode, status, detail", [
    ("bad_output", "failed:bad_output", "expected uint8"),
    ("wrong_count", "failed:colorize", "model returned"),
])
def test_a_model_returning_the_wrong_thing_fails_those_images(photo_dir, mode, status, detail):
    result = evaluate(folder.build(photo_dir), build_model("fake-broken", {"mode": mode}), ["psnr"], batch_size=3)
    rows = result.rows.set_index("image_id")
    photos = ["astronaut.png", "chelsea.jpg", "coffee.png", "sub/rocket.jpg"]
    assert list(rows.loc[photos, "status"]) == [status] * 4
    assert all(detail in e for e in rows.loc[photos, "error"])
    assert result.summary["n_scored"] == 0 and result.summary["n_failed"] == 8


def test_a_score_that_raises_fails_that_image_only(photo_dir, monkeypatch):
    from harness.metrics import registry

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    @registry.register_metric("picky", higher_is_better=True)
    def picky(gt, out):
        if gt.shape[1] < 80:
            raise ValueError(f"too narrow to judge: {gt.shape[1]} px")
        return 1.0

    result = evaluate(folder.build(photo_dir), build_model("grayscale"), ["psnr", "picky"])
    rows = result.rows.set_index("image_id")
    assert rows.loc["coffee.png", "status"] == "failed:score"  # 71 px wide
    assert "too narrow to judge: 71 px" in rows.loc["coffee.png", "error"]
    assert rows.loc["astronaut.png", "status"] == "ok" and rows.loc["astronaut.png", "picky"] == 1.0


def test_every_folder_entry_is_accounted_for(photo_dir):
    """A dangling symlink is a failed:missing row; an image under 7 px on a side is failed:too_small."""
    from PIL import Image

    (photo_dir / "gone.jpg").symlink_to(photo_dir / "deleted-long-ago.jpg")
    (photo_dir / "linked.png").symlink_to(photo_dir / "astronaut.png")
    Image.fromarray(np.full((5, 40, 3), (200, 30, 90), np.uint8)).save(photo_dir / "sliver.png")
    result = evaluate(folder.build(photo_dir), build_model("grayscale"), METRICS)
    rows = result.rows.set_index("image_id")
    assert rows.loc["gone.jpg", "status"] == "failed:missing"
    assert "deleted-long-ago.jpg, which does not exist" in rows.loc["gone.jpg", "error"]
    assert rows.loc["linked.png", "status"] == "ok"
    assert rows.loc["sliver.png", "status"] == "failed:too_small"
    assert rows.loc["sliver.png", "error"] == "image is 40x5 px; scoring needs at least 7 px on each side " \
                                              "(SSIM's 7x7 window)"
    assert (rows.loc["sliver.png", "width"], rows.loc["sliver.png", "height"]) == (40, 5)


def test_a_metric_without_a_device_form_scores_alone_on_the_cpu(photo_dir, monkeypatch):
    """With torch scoring, the metrics that have a batched form stay batched; only the other one
    is scored image by image (it used to send every metric back to the CPU)."""
    from harness.metrics import registry
    from harness.metrics.image import psnr

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    registry.register_metric("psnr_cpu_only", higher_is_better=True)(lambda gt, out: psnr(gt, out))
    calls = {"batch": 0, "image": 0}
    psnr_cls = registry.get_metric("psnr")
    real_batch, real_image = psnr_cls.score_batch, psnr_cls.score
    monkeypatch.setattr(psnr_cls, "score_batch", lambda self, g, o: calls.__setitem__("batch", calls["batch"] + 1)
                        or real_batch(self, g, o))
    monkeypatch.setattr(psnr_cls, "score", lambda self, g, o: calls.__setitem__("image", calls["image"] + 1)
                        or real_image(self, g, o))
    result = evaluate(folder.build(photo_dir), build_model("fake-tint", {"strength": 0.4}), ["psnr", "psnr_cpu_only"],
                      impl="torch", batch_size=8)
    ok = result.rows[result.rows.status == "ok"]
    assert calls["batch"] >= 1 and calls["image"] == 0  # psnr never went image by image
    assert (ok["psnr"] - ok["psnr_cpu_only"]).abs().max() <= 1e-6


def test_dataset_metrics_see_every_scored_pair_once(photo_dir, monkeypatch):
    from harness.metrics import registry

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    @registry.register_metric("pixel_count", higher_is_better=None, columns=("pixel_count", "pairs_seen"))
    class PixelCount(registry.Metric):
        kind = "dataset"
        batches: list[int] = []

        def states(self, pairs):
            PixelCount.batches.append(len(pairs))
            for gt, out in pairs:
                assert gt.shape == out.shape
            # per pair: its pixel count and a fingerprint of its content
            return np.array([[g.shape[0] * g.shape[1], float(g.astype(np.int64).sum())] for g, _ in pairs])

        def reduce(self, states):
            assert len(np.unique(states[:, 1])) == len(states)  # no pair seen twice
            return {"pixel_count": states[:, 0].sum(), "pairs_seen": len(states)}

    result = evaluate(folder.build(photo_dir), build_model("grayscale"), ["psnr", "pixel_count"], batch_size=2)
    ok = result.rows[result.rows.status == "ok"]
    assert result.summary["pairs_seen"] == len(ok) == 4
    assert result.summary["pixel_count"] == int((ok["width"] * ok["height"]).sum())
    assert "pixel_count" not in result.rows  # not a per-image column
    assert PixelCount.batches == [2, 1, 1]  # computed batch by batch in the stream (batches of 2, minus failures)


def test_a_dataset_metric_that_breaks_is_nan_with_its_reason(photo_dir, monkeypatch):
    from harness.metrics import registry

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    @registry.register_metric("brittle", higher_is_better=False)
    class Brittle(registry.Metric):
        kind = "dataset"

        def states(self, pairs):
            raise RuntimeError("feature extractor exploded")

        def reduce(self, states):
            return {"brittle": 0.0}

    result = evaluate(folder.build(photo_dir), build_model("grayscale"), ["psnr", "brittle"])
    assert np.isnan(result.summary["brittle"]) and result.summary["n_scored"] == 4
    assert result.notes == {"brittle": "RuntimeError: feature extractor exploded"}


def test_a_batch_that_colorizes_is_no_warning(photo_dir):
    assert evaluate(folder.build(photo_dir), build_model("grayscale"), ["psnr"], batch_size=8).warnings == []


def test_each_shard_reports_its_own_peak_device_memory(photo_dir, monkeypatch):
    """The peak is reset when a shard starts, so a point (or shard) never reports an earlier one's peak."""
    import torch

    peaks = iter([3 * 2**20, 1 * 2**20])
    resets = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: resets.append(device))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: next(peaks))
    import harness.pipeline.process as process
    from harness.data.images import is_grayscale

    monkeypatch.setattr(process, "is_grayscale", lambda rgb, device: is_grayscale(rgb))  # no GPU for the check
    model = build_model("grayscale")
    model.device = "cuda"  # a model that says it runs on CUDA (it touches no GPU)
    result = evaluate(folder.build(photo_dir), model, ["psnr"], batch_size=8, shard_size=5, impl="skimage")
    assert resets == ["cuda", "cuda"]  # one reset per shard (9 images, shards of 5)
    assert result.timings["peak_device_memory_mb"] == 3.0  # the largest of the shards' own peaks


def test_a_batched_metric_that_fails_is_scored_on_the_cpu_and_said(photo_dir, monkeypatch):
    from harness.metrics import registry

    def broken(self, gt, out):
        raise RuntimeError("no kernel for this shape")

    monkeypatch.setattr(registry.get_metric("psnr"), "score_batch", broken)
    model = build_model("fake-tint", {"strength": 0.4})
    dev = evaluate(folder.build(photo_dir), model, ["psnr", "ssim"], impl="torch", batch_size=8)
    ref = evaluate(folder.build(photo_dir), model, ["psnr", "ssim"], impl="skimage", batch_size=8)
    ok = dev.rows["status"] == "ok"
    assert (dev.rows.loc[ok, "psnr"] - ref.rows.loc[ok, "psnr"]).abs().max() == 0  # the CPU form scored them
    assert (dev.rows.loc[ok, "ssim"] - ref.rows.loc[ok, "ssim"]).abs().max() <= 1e-6  # ssim stayed batched
    assert dev.warnings == ["metric psnr failed on cpu for a batch (RuntimeError: no kernel for this shape); those "
                            "images were scored on the CPU (4 times)"]  # 4 photos of 4 sizes: 4 groups
