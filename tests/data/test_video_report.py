"""What a video run reports: temporal pairs per frame, per clip from the rows alone, per run,
the grid from the best and worst clips, side-by-side videos, and the artifacts in MLflow."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tests.fake_models  # noqa: F401  (registers fake-tint)
from harness.config.params import NoParams
from harness.config.schema import VideoData
from harness.data import build_dataset
from harness.data.video_report import FRAME_COLUMNS, clip_table
from harness.gray import to_gray
from harness.metrics import temporal as tm
from harness.models.baselines import GrayscaleBaseline
from harness.models.registry import build_model
from harness.sweep import evaluate as runner
from tests.conftest import decoded, hue_frames, pan_frames, write_clip, write_frame_folder, zoom_frames

METRICS = ["psnr", "ssim"]


def evaluate(path: Path, model=None, **options):
    ds = build_dataset(VideoData(source="video", path=path, **{k: v for k, v in options.items()
                                                              if k in ("max_frames", "stride", "preview_frames")}))
    kwargs = {k: v for k, v in options.items() if k in ("batch_size", "workers", "grid_count")}
    return ds, runner.evaluate(ds, model or GrayscaleBaseline(NoParams()), METRICS, **{"batch_size": 3, **kwargs})


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    write_clip(root / "pan.mp4", pan_frames(10))
    write_clip(root / "zoom.mp4", zoom_frames(8))
    write_frame_folder(root / "hue", hue_frames(6))
    return root


def test_pairs_are_computed_per_frame_and_equal_the_whole_clip_definitions(folder):
    frames = hue_frames(6)  # PNG frames: the ground truth is exact
    _, result = evaluate(folder / "hue")
    rows = result.rows
    assert set(FRAME_COLUMNS) <= set(rows.columns) and {"clip", "frame"} <= set(rows.columns)
    assert rows["js_d1"].isna().tolist() == [True] + [False] * 5
    assert rows["js_d4"].notna().sum() == 2 and rows["warp_pixels"].iloc[0] == 0
    clip = result.tables["per_clip.csv"].iloc[0]
    assert clip["cdc_gt"] == pytest.approx(tm.cdc(frames), rel=1e-12)
    assert clip["flicker_gt"] == pytest.approx(tm.flicker(frames), rel=1e-12)
    assert clip["warp_error_gt"] == pytest.approx(tm.clip_warp_error(frames, frames), rel=1e-9)
    outputs = [np.repeat(to_gray(f)[..., None], 3, axis=2) for f in frames]  # the grayscale baseline's
    assert clip["cdc"] == pytest.approx(tm.cdc(outputs), rel=1e-12)
    assert clip["warp_error"] == pytest.approx(tm.clip_warp_error(outputs, frames), rel=1e-9)
    assert clip["flicker"] < 0.05  # gray output: its a*, b* barely move; the truth's swing
    assert clip["flicker_gt"] > 5


def test_a_static_clip_scores_zero_on_all_three(tmp_path):
    still = write_frame_folder(tmp_path / "still", [pan_frames(1)[0]] * 6)
    _, result = evaluate(still, build_model("fake-tint", {"strength": 0.4}))
    clip = result.tables["per_clip.csv"].iloc[0]
    assert [clip[c] for c in ("cdc", "warp_error", "flicker", "cdc_gt", "warp_error_gt", "flicker_gt")] == [0.0] * 6
    assert result.summary["cdc_mean"] == 0.0 and result.summary["flicker_gt_mean"] == 0.0


def test_per_clip_and_run_numbers_come_from_the_rows_alone(folder):
    _, result = evaluate(folder, build_model("fake-tint", {"strength": 0.3}), grid_count=0)
    table = result.tables["per_clip.csv"].set_index("clip")
    assert list(table.index) == ["hue", "pan.mp4", "zoom.mp4"]
    assert table.loc["pan.mp4", "frames"] == 10 and table.loc["pan.mp4", "warp_pairs"] == 9
    for clip in table.index:  # one clip's rows alone give that clip's row
        alone = clip_table(result.rows[result.rows["clip"] == clip]).set_index("clip").loc[clip]
        pd.testing.assert_series_equal(alone, table.loc[clip], check_names=False)
    pan = result.rows[result.rows["clip"] == "pan.mp4"]
    assert table.loc["pan.mp4", "psnr"] == pytest.approx(pan["psnr"].mean())
    summary = result.summary
    assert summary["n_clips"] == 3
    for name in ("cdc", "warp_error", "flicker", "cdc_gt", "warp_error_gt", "flicker_gt"):
        assert summary[f"{name}_mean"] == pytest.approx(table[name].mean(), rel=1e-12)
    assert summary["seconds_temporal"] > 0
    assert not set(FRAME_COLUMNS) & set(result.metric_columns)  # no distribution plot per detail column


def test_a_frame_that_fails_breaks_only_the_pairs_it_is_in(tmp_path):
    clip = write_frame_folder(tmp_path / "broken", pan_frames(8))
    (clip / "00003.png").write_bytes(b"not a png")
    _, result = evaluate(clip)
    rows = result.rows.set_index("frame")
    assert rows.loc[3, "status"] == "failed:not_an_image"
    assert math.isnan(rows.loc[4, "js_d1"]) and not math.isnan(rows.loc[4, "js_d2"])  # (2, 4) skips the gap
    assert math.isnan(rows.loc[4, "warp_error"]) and not math.isnan(rows.loc[5, "warp_error"])
    table = result.tables["per_clip.csv"].iloc[0]
    assert (table["frames_failed"], table["warp_pairs"]) == (1, 5)  # 7 pairs, less (2, 3) and (3, 4)
    assert table["failure"].startswith("frame 3: failed:not_an_image")
    lab_a, lab_b = rows["lab_a_gt"], rows["lab_b_gt"]
    steps = [0.5 * (abs(lab_a[t] - lab_a[t - 1]) + abs(lab_b[t] - lab_b[t - 1])) for t in (1, 2, 5, 6, 7)]
    assert table["flicker_gt"] == pytest.approx(np.mean(steps), rel=1e-12)


def test_scene_cut_spikes_the_truths_histogram_divergence(tmp_path):
    cut = write_frame_folder(tmp_path / "cut", pan_frames(4) + pan_frames(4, name="coffee", top=100, left=100))
    _, result = evaluate(cut)
    js = result.rows["js_d1_gt"]
    assert int(js.idxmax()) == 4 and js[4] > 20 * js.drop(4).max()
    assert result.rows["warp_pixels"][4] < 0.1 * result.rows["warp_pixels"][3]  # nothing corresponds across a cut


def test_any_number_of_decoding_threads_gives_the_same_rows(folder):
    model = build_model("fake-tint", {"strength": 0.3})
    tests.fake_models.FakeTint.calls.clear()
    _, one = evaluate(folder, model, workers=1, batch_size=2, grid_count=0)
    assert tests.fake_models.FakeTint.calls == [2] * 12  # 24 frames, in batches of the spec's batch_size
    _, many = evaluate(folder, model, workers=4, batch_size=5, grid_count=0)
    columns = [c for c in one.rows.columns if c not in ("seconds", "seconds_temporal")]
    pd.testing.assert_frame_equal(one.rows[columns], many.rows[columns])


def test_a_second_point_on_the_same_dataset_starts_its_pairs_afresh(folder):
    ds, first = evaluate(folder / "pan.mp4", grid_count=0)
    second = runner.evaluate(ds, GrayscaleBaseline(NoParams()), METRICS, batch_size=3)
    columns = [c for c in first.rows.columns if c not in ("seconds", "seconds_temporal")]
    pd.testing.assert_frame_equal(first.rows[columns], second.rows[columns])


def test_grid_and_videos_show_the_best_and_the_worst_clip(folder):
    _, result = evaluate(folder, build_model("fake-tint", {"strength": 0.3}), grid_count=6, preview_frames=5)
    table = result.tables["per_clip.csv"].set_index("clip")
    best, worst = table["psnr"].idxmax(), table["psnr"].idxmin()
    assert [(g.image_id.split("#")[0], g.tag) for g in result.grid] == [(best, "best clip")] * 3 + \
        [(worst, "worst clip")] * 3
    first, middle, last = (int(g.image_id.split("#")[1]) for g in result.grid[:3])
    assert first == 0 < middle < last == table.loc[best, "frames"] - 1  # spread over the clip
    names = sorted(result.files)
    assert names == sorted([f"videos/best_{best.split('.')[0]}.mp4", f"videos/worst_{worst.split('.')[0]}.mp4"])
    for name in names:
        frames = decoded(result.files[name])
        assert len(frames) == 5 and frames[0].shape[1] > 2.5 * frames[0].shape[0]  # three panels side by side
    assert "plots/chroma_over_time.png" in result.figures


def test_no_videos_when_asked_for_none(folder):
    _, result = evaluate(folder / "pan.mp4", preview_frames=0, grid_count=3)
    assert result.files == {} and len(result.grid) == 3 and result.grid[0].tag == "only clip"
