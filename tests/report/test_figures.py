"""Grid selection picks best/median/worst scored images; the grid puts each picture in its
column; plots are figures with the expected bars and lines, renderable without pyplot."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from harness.pipeline.render import select_grid_ids
from harness.pipeline.types import GridSample
from harness.report.figures import HEADER, PAD, close_figure, comparison_plot, distribution_plot, sample_grid


def table(n: int) -> pd.DataFrame:
    """n scored rows i0..i{n-1} with psnr = k, plus failed and excluded rows that must never be picked."""
    rows = [{"image_id": f"i{k}", "status": "ok", "psnr": float(k), "delta_e": float(k)} for k in range(n)]
    rows += [{"image_id": "bad", "status": "failed:corrupt", "psnr": np.nan, "delta_e": np.nan},
             {"image_id": "score", "status": "failed:score", "psnr": 999.0, "delta_e": -1.0},
             {"image_id": "gray", "status": "excluded:grayscale", "psnr": 1000.0, "delta_e": -2.0}]
    return pd.DataFrame(rows)


# ----- grid selection -----------------------------------------------------------------------
def test_selection_best_median_worst():
    chosen = select_grid_ids(table(10), 6)
    assert chosen == [("i9", "best"), ("i8", "best"), ("i5", "median"), ("i4", "median"),
                      ("i1", "worst"), ("i0", "worst")]
    assert select_grid_ids(table(11), 3) == [("i10", "best"), ("i5", "median"), ("i0", "worst")]


@pytest.mark.parametrize("count, tags", [
    (1, ["best"]), (2, ["best", "worst"]), (3, ["best", "median", "worst"]),
    (4, ["best", "best", "median", "worst"]), (5, ["best", "best", "median", "worst", "worst"]),
    (7, ["best"] * 3 + ["median"] * 2 + ["worst"] * 2),
])
def test_remainder_goes_to_best_then_worst(count, tags):
    assert [t for _, t in select_grid_ids(table(20), count)] == tags


def test_selection_with_fewer_rows_than_count_uses_each_once():
    assert select_grid_ids(table(2), 6) == [("i1", "best"), ("i0", "worst")]
    assert select_grid_ids(table(4), 6) == [("i3", "best"), ("i2", "best"), ("i1", "median"), ("i0", "worst")]
    assert select_grid_ids(table(0), 6) == [] and select_grid_ids(table(5), 0) == []


@pytest.mark.parametrize("n", range(0, 13))
def test_selection_invariants(n):
    rows = table(n)
    for count in range(0, 10):
        chosen = select_grid_ids(rows, count)
        ids = [i for i, _ in chosen]
        assert len(ids) == min(n, count) and len(set(ids)) == len(ids)
        assert set(ids) <= {f"i{k}" for k in range(n)}
        tags = [t for _, t in chosen]
        assert tags == sorted(tags, key=["best", "median", "worst"].index)
        psnr = [int(i[1:]) for i in ids]
        assert psnr == sorted(psnr, reverse=True)  # best..worst


def test_selection_ties_are_broken_by_id_and_direction_is_respected():
    rows = pd.DataFrame({"image_id": ["c", "a", "d", "b"], "status": "ok", "psnr": 20.0,
                         "delta_e": [3.0, 1.0, 4.0, 2.0]})
    assert [i for i, _ in select_grid_ids(rows, 4)] == ["a", "b", "c", "d"]
    assert select_grid_ids(rows.iloc[::-1], 4) == select_grid_ids(rows, 4)
    assert select_grid_ids(rows, 2, by="delta_e") == [("a", "best"), ("d", "worst")]  # lower is better


def test_selection_skips_unscored_rows():
    rows = table(3)
    rows.loc[rows["image_id"] == "i2", "psnr"] = np.nan  # ok but no value
    assert [i for i, _ in select_grid_ids(rows, 6)] == ["i1", "i0"]
    assert select_grid_ids(rows, 6, by="ssim") == []  # no such column


# ----- sample grid --------------------------------------------------------------------------
COLOURS = [(255, 0, 0), (0, 0, 255), (0, 200, 0)]


def samples(shapes=((40, 60),) * 3) -> list[GridSample]:
    out = []
    for k, (h, w) in enumerate(shapes):
        output = np.zeros((h, w, 3), np.uint8)
        output[:] = COLOURS[k]
        truth = np.full((h, w, 3), 200 - k, np.uint8)
        out.append(GridSample(f"id{k}", np.full((h, w), 100 + k, np.uint8), output, truth,
                              23.4 - k, 0.9, ["best", "median", "worst"][k]))
    return out


def row_top(i: int, thumb: int) -> int:
    """y of the first image pixel of row i (below the title strip and the row's header)."""
    return HEADER + i * (HEADER + thumb + PAD) + HEADER


def test_grid_puts_each_picture_in_its_column():
    thumb = 64
    grid = sample_grid(samples(), thumb_height=thumb)
    assert grid.mode == "RGB"
    thumb_w = 96  # 60 * 64 / 40
    assert grid.height == HEADER + 3 * (HEADER + thumb + PAD)
    assert grid.width >= PAD + 3 * (thumb_w + PAD)
    arr = np.asarray(grid)
    centres = [PAD + c * (thumb_w + PAD) + thumb_w // 2 for c in range(3)]
    for i in range(3):
        y = row_top(i, thumb) + thumb // 2
        assert tuple(arr[y, centres[0]]) == (100 + i,) * 3  # gray input, replicated to RGB
        assert tuple(arr[y, centres[1]]) == COLOURS[i]  # the output in the middle
        assert tuple(arr[y, centres[2]]) == (200 - i,) * 3  # ground truth on the right
        # the whole middle thumbnail is the output colour, edges included
        block = arr[row_top(i, thumb):row_top(i, thumb) + thumb, PAD + thumb_w + PAD:PAD + 2 * (thumb_w + PAD) - PAD]
        assert (block == COLOURS[i]).all()


def test_grid_has_titles_and_row_headers():
    thumb = 32
    arr = np.asarray(sample_grid(samples(), thumb_height=thumb)).astype(int)
    dark = arr.sum(axis=2) < 300
    assert dark[:HEADER].any()  # column titles
    for i in range(3):
        header = dark[row_top(i, thumb) - HEADER:row_top(i, thumb)]
        assert header.any()  # "<tag> · <id> · PSNR .. · SSIM .."
    # the label is drawn from the scores: a different PSNR changes the header pixels
    changed = samples()
    changed[0].psnr = 31.0
    other = np.asarray(sample_grid(changed, thumb_height=thumb)).astype(int)
    assert not np.array_equal(arr[HEADER:row_top(0, thumb)], other[HEADER:row_top(0, thumb)])
    assert np.array_equal(arr[row_top(0, thumb):], other[row_top(0, thumb):])


def test_grid_keeps_aspect_and_centres_narrower_pictures():
    thumb = 64
    grid = sample_grid(samples(((40, 60), (80, 40))), thumb_height=thumb)  # second one is portrait
    arr = np.asarray(grid)
    wide, narrow = 96, 32
    mid_left = PAD + wide + PAD
    y = row_top(1, thumb) + thumb // 2
    centre = mid_left + wide // 2
    assert tuple(arr[y, centre]) == COLOURS[1]
    assert tuple(arr[y, centre - narrow // 2 + 1]) == COLOURS[1]
    assert tuple(arr[y, centre - narrow // 2 - 2]) == (255, 255, 255)  # white around it
    assert tuple(arr[y, mid_left + 2]) == (255, 255, 255)


def test_grid_accepts_rgb_gray_and_no_samples():
    s = samples()[:1]
    s[0].gray = np.repeat(s[0].gray[..., None], 3, axis=2)
    arr = np.asarray(sample_grid(s, thumb_height=40))
    assert tuple(arr[row_top(0, 40) + 20, PAD + 30]) == (100, 100, 100)
    empty = sample_grid([], thumb_height=40)
    assert empty.height == HEADER and empty.mode == "RGB"


def test_grid_is_wide_enough_for_long_labels():
    s = samples(((8, 8),))
    s[0].image_id = "a-very-long-image-identifier-" * 3
    grid = sample_grid(s, thumb_height=8)
    arr = np.asarray(grid).astype(int)
    header = arr[HEADER:row_top(0, 8)]
    dark_cols = np.nonzero((header.sum(axis=2) < 300).any(axis=0))[0]
    assert grid.width > 3 * (8 + PAD) + PAD and dark_cols.max() < grid.width - 2  # not cut off


# ----- plots --------------------------------------------------------------------------------
def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def test_distribution_plot_marks_mean_and_median():
    values = pd.Series(np.random.default_rng(0).lognormal(3, 0.3, 60))
    fig = distribution_plot(pd.concat([values, pd.Series([np.nan])]), "psnr", title="m: psnr")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "psnr" and ax.get_title() == "m: psnr"
    assert len(ax.patches) > 3  # histogram bars
    vertical = {ln.get_label().split()[0]: ln.get_xdata()[0] for ln in ax.lines if ln.get_label().startswith("m")}
    assert vertical["mean"] == pytest.approx(values.mean()) and vertical["median"] == pytest.approx(values.median())
    assert len(ax.lines) == 3  # KDE + mean + median
    assert [t.get_text().split()[0] for t in ax.get_legend().get_texts()] == ["mean", "median"]
    assert png_bytes(fig).startswith(b"\x89PNG")
    close_figure(fig)
    assert fig.axes == []


def test_distribution_plot_small_and_empty_inputs():
    fig = distribution_plot([20.0, 22.0], "ssim")
    assert len(fig.axes[0].lines) == 2 and "n=2" in fig.axes[0].get_title()  # no KDE on 2 points
    close_figure(fig)
    fig = distribution_plot([5.0, 5.0, 5.0], "delta_e")  # no spread: no KDE, no crash
    assert len(fig.axes[0].lines) == 2
    close_figure(fig)
    fig = distribution_plot([np.nan], "psnr")
    assert len(fig.axes[0].lines) == 0 and "n=0" in fig.axes[0].get_title()
    assert png_bytes(fig).startswith(b"\x89PNG")
    close_figure(fig)


def bars_top_to_bottom(fig: Figure) -> list[tuple[str, float]]:
    ax = fig.axes[0]
    labels = {round(t): lab.get_text() for t, lab in zip(ax.get_yticks(), ax.get_yticklabels())}
    bars = sorted(ax.patches, key=lambda b: -b.get_y())
    return [(labels[round(b.get_y() + b.get_height() / 2)], b.get_width()) for b in bars]


def bar_container(fig: Figure) -> BarContainer:
    (bars,) = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    return bars


def test_comparison_plot_sorted_best_on_top_with_ci():
    runs = pd.DataFrame({"label": ["a", "b", "c", "d"], "psnr_mean": [20.0, 22.0, 21.0, np.nan],
                         "psnr_ci95_low": [19.0, 21.0, 20.5, np.nan], "psnr_ci95_high": [21.0, 23.5, 22.0, np.nan]})
    fig = comparison_plot(runs, "psnr_mean")
    assert bars_top_to_bottom(fig) == [("b", 22.0), ("c", 21.0), ("a", 20.0)]  # d has no value
    errorbar = bar_container(fig).errorbar
    assert errorbar is not None
    spans = sorted((seg[0][0], seg[1][0]) for seg in errorbar.lines[2][0].get_segments())
    assert spans == [(19.0, 21.0), (20.5, 22.0), (21.0, 23.5)]
    assert "95% CI" in fig.axes[0].get_xlabel()
    assert png_bytes(fig).startswith(b"\x89PNG")
    close_figure(fig)


def test_comparison_plot_lower_is_better_and_no_ci():
    runs = pd.DataFrame({"label": ["a", "b", "c"], "delta_e_mean": [9.0, 6.0, 7.0], "delta_e_p95": [20, 15, 18]})
    fig = comparison_plot(runs, "delta_e_mean")  # no CI columns
    assert bars_top_to_bottom(fig) == [("b", 6.0), ("c", 7.0), ("a", 9.0)]
    assert bar_container(fig).errorbar is None
    close_figure(fig)
    fig = comparison_plot(runs, "delta_e_p95")
    assert [w for _, w in bars_top_to_bottom(fig)] == [15, 18, 20]
    close_figure(fig)


def test_comparison_plot_keeps_points_with_the_same_label():
    runs = pd.DataFrame({"label": ["m", "m"], "psnr_mean": [20.0, 21.0]})
    fig = comparison_plot(runs, "psnr_mean")
    assert len(fig.axes[0].patches) == 2
    assert len({b.get_y() for b in fig.axes[0].patches}) == 2
    close_figure(fig)


@pytest.mark.slow  # starts a subprocess
def test_import_leaves_pyplot_alone():
    code = "import sys, harness.report.figures; print('matplotlib.pyplot' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
