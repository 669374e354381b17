"""Grid selection and rendering; plots are figures with the expected content."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.visuals import GridSample, comparison_plot, distribution_plot, sample_grid, select_grid_ids


def table(n: int) -> pd.DataFrame:
    rows = [{"image_id": f"i{k}", "status": "ok", "psnr": float(k)} for k in range(n)]
    rows += [{"image_id": "bad", "status": "failed:corrupt", "psnr": np.nan},
             {"image_id": "gray", "status": "excluded:grayscale", "psnr": np.nan}]
    return pd.DataFrame(rows)


def test_selection_best_median_worst():
    chosen = select_grid_ids(table(10), 6)
    assert [t for _, t in chosen] == ["best"] * 2 + ["median"] * 2 + ["worst"] * 2
    assert [i for i, _ in chosen] == ["i9", "i8", "i5", "i4", "i1", "i0"]
    assert [t for _, t in select_grid_ids(table(10), 4)] == ["best", "best", "median", "worst"]


def test_selection_with_few_rows_has_no_duplicates():
    chosen = select_grid_ids(table(2), 6)
    assert sorted(i for i, _ in chosen) == ["i0", "i1"]
    assert select_grid_ids(table(0), 6) == [] and select_grid_ids(table(5), 0) == []


def test_grid_puts_output_in_the_middle_column():
    samples = []
    for k, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        out = np.zeros((40, 60, 3), np.uint8)
        out[:] = colour
        samples.append(GridSample(f"id{k}", np.full((40, 60), 128, np.uint8), out,
                                  np.full((40, 60, 3), 200, np.uint8), 23.4, 0.9, "best"))
    grid = sample_grid(samples, thumb_height=64)
    assert grid.mode == "RGB"
    arr = np.asarray(grid)
    thumb_w = 96  # 60 * 64 / 40
    mid_x = 4 + thumb_w + 4 + thumb_w // 2
    first_row_y = 18 + 18 + 32
    assert tuple(arr[first_row_y, mid_x]) == (255, 0, 0)
    assert tuple(arr[first_row_y + 64 + 4 + 18, mid_x]) == (0, 0, 255)
    assert tuple(arr[first_row_y, 4 + thumb_w // 2]) == (128, 128, 128)
    assert tuple(arr[first_row_y, 4 + 2 * (thumb_w + 4) + thumb_w // 2]) == (200, 200, 200)


def test_plots():
    fig = distribution_plot(pd.Series(np.random.default_rng(0).normal(20, 2, 50)), "psnr")
    ax = fig.axes[0]
    assert len(ax.lines) >= 2 and ax.get_xlabel() == "psnr"  # mean + median markers (+ KDE)
    runs = pd.DataFrame({"label": ["a", "b", "c"], "psnr_mean": [20.0, 22.0, 21.0],
                         "psnr_ci95_low": [19.0, 21.0, 20.0], "psnr_ci95_high": [21.0, 23.0, 22.0]})
    fig = comparison_plot(runs, "psnr_mean")
    bars = fig.axes[0].patches
    assert len(bars) == 3 and sorted(b.get_width() for b in bars) == [20.0, 21.0, 22.0]
