"""COCO's reporting: object-versus-background scores and the per-supercategory breakdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness import metrics
from harness.data.coco_report import by_category, category_metrics, category_plot, region_scores


def test_region_scores_are_the_metrics_on_masked_pixels():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = gt.copy()
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:20] = True
    out[~mask] = np.clip(gt[~mask].astype(int) + 20, 0, 255)  # only the background is wrong
    s = region_scores(gt, out, mask)
    assert s["psnr_objects"] == metrics.PSNR_CAP and s["delta_e_objects"] == 0.0
    bg_gt, bg_out = gt[~mask][:, None], out[~mask][:, None]
    assert s["psnr_background"] == pytest.approx(metrics.psnr(bg_gt, bg_out))
    assert s["delta_e_background"] == pytest.approx(metrics.delta_e(bg_gt, bg_out))
    assert s["colorfulness_gt_objects"] == pytest.approx(metrics.colorfulness(gt[mask][:, None]))
    assert s["object_fraction"] == pytest.approx(mask.mean())


def test_empty_regions_are_nan():
    img = np.zeros((4, 4, 3), np.uint8)
    s = region_scores(img, img, np.zeros((4, 4), bool))
    assert np.isnan(s["psnr_objects"]) and np.isnan(s["colorfulness_objects"])
    assert s["psnr_background"] == metrics.PSNR_CAP


def test_breakdown_per_supercategory():
    rows = pd.DataFrame({
        "image_id": ["1", "2", "3", "4"], "status": ["ok", "ok", "ok", "failed:missing"],
        "supercategories": ["animal;person", "animal", "", "vehicle"],
        "psnr": [20.0, 30.0, 25.0, np.nan], "ssim": [0.5, 0.7, 0.6, np.nan],
    })
    table = by_category(rows).set_index("supercategory")
    assert sorted(table.index) == ["animal", "person"]  # failed rows and images without objects drop out
    assert table.loc["animal", "n_images"] == 2 and table.loc["animal", "psnr_mean"] == 25.0
    assert table.loc["person", "psnr_mean"] == 20.0
    assert table.loc["animal", "psnr_ci95_low"] <= 25.0 <= table.loc["animal", "psnr_ci95_high"]
    m = category_metrics(table.reset_index())
    assert m["psnr_mean__animal"] == 25.0 and "psnr_mean__person" in m
    fig = category_plot(rows, "psnr")
    assert len(fig.axes[0].patches) == 2
