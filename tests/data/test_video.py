"""The video source: clips and frame folders become frame samples, selected deterministically;
bad clips become failed rows with their reason while the run goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.config.params import NoParams
from harness.config.schema import VideoData
from harness.data import build_dataset
from harness.data.base import select
from harness.errors import HarnessError
from harness.models.baselines import GrayscaleBaseline
from harness.sweep.evaluate import evaluate
from tests.conftest import decoded, hue_frames, pan_frames, write_clip, write_frame_folder, zoom_frames


def video_dataset(path: Path, **options):
    return build_dataset(VideoData(source="video", path=path, **options))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder of clips in every container, one frame folder, a 1-frame clip and a note."""
    root = tmp_path_factory.mktemp("clips")
    write_clip(root / "pan.mp4", pan_frames(12))
    write_clip(root / "zoom.mkv", zoom_frames(9))
    write_clip(root / "hue.webm", hue_frames(6))
    write_clip(root / "old" / "still.avi", [pan_frames(1)[0]] * 5)
    write_clip(root / "one.mov", pan_frames(1))
    write_frame_folder(root / "frames", pan_frames(4, name="coffee", top=50, left=50))
    (root / "notes.txt").write_text("not a clip")
    return root


def test_every_clip_and_frame_becomes_a_sample_in_clip_order(clips):
    ds = video_dataset(clips)
    counts = {"frames": 4, "hue.webm": 6, "old/still.avi": 5, "one.mov": 1, "pan.mp4": 12, "zoom.mkv": 9}
    groups = [s.group for s in ds.samples]
    assert list(dict.fromkeys(groups)) == sorted(counts)  # every clip once, sorted, its frames together
    assert {g: groups.count(g) for g in counts} == counts
    assert ds.info["clips"] == 6 and ds.info["size"] == len(ds) == sum(counts.values())
    pan = [s for s in ds.samples if s.group == "pan.mp4"]
    assert [s.id for s in pan[:2]] == ["pan.mp4#000000", "pan.mp4#000001"]
    assert [(s.meta["frame"], s.meta["index"]) for s in pan] == [(i, i) for i in range(12)]
    truth = decoded(clips / "pan.mp4")
    for sample in reversed(pan):  # any order: the reader seeks back
        assert np.array_equal(sample.load(), truth[sample.meta["frame"]])
    folder = [s for s in ds.samples if s.group == "frames"]
    assert np.array_equal(folder[2].load(), pan_frames(4, name="coffee", top=50, left=50)[2])


def test_max_frames_stride_and_limit_select_deterministically(clips):
    ds = video_dataset(clips, max_frames=3, stride=2)
    pan = [s for s in ds.samples if s.group == "pan.mp4"]
    assert [s.meta["frame"] for s in pan] == [0, 2, 4] and [s.meta["index"] for s in pan] == [0, 1, 2]
    assert [s.meta["frame"] for s in ds.samples if s.group == "old/still.avi"] == [0, 2, 4]
    assert np.array_equal(pan[1].load(), decoded(clips / "pan.mp4")[2])
    picked = video_dataset(clips, limit=2, seed=5)
    assert list(dict.fromkeys(s.group for s in picked.samples)) == select(
        ["frames", "hue.webm", "old/still.avi", "one.mov", "pan.mp4", "zoom.mkv"], 2, 5)
    assert picked.fingerprint == video_dataset(clips, limit=2, seed=5).fingerprint


def test_fingerprint_covers_the_selection_and_the_content(clips, tmp_path):
    base = video_dataset(clips).fingerprint
    assert len({base, video_dataset(clips, stride=2).fingerprint, video_dataset(clips, max_frames=4).fingerprint,
                video_dataset(clips, limit=3).fingerprint}) == 4
    assert video_dataset(clips, preview_frames=5).fingerprint == base  # a picture, not a number
    copy = tmp_path / "copy"
    write_clip(copy / "pan.mp4", pan_frames(12))
    before = video_dataset(copy).fingerprint
    write_clip(copy / "pan.mp4", pan_frames(12, step=2))
    assert video_dataset(copy).fingerprint != before


def test_davis_layout_and_a_single_file(tmp_path):
    root = tmp_path / "DAVIS"
    write_frame_folder(root / "JPEGImages" / "480p" / "bear", pan_frames(3), suffix=".jpg")
    write_frame_folder(root / "JPEGImages" / "480p" / "car", zoom_frames(2), suffix=".jpg")
    write_frame_folder(root / "Annotations" / "480p" / "bear", [np.zeros((120, 160, 3), np.uint8)] * 3)
    ds = video_dataset(root)
    assert [s.id for s in ds.samples] == ["bear#000000", "bear#000001", "bear#000002", "car#000000", "car#000001"]
    assert ds.samples[0].load().shape == (120, 160, 3)
    assert ds.samples[4].path == str(root / "JPEGImages" / "480p" / "car" / "00001.jpg")
    clip = write_clip(tmp_path / "film.mp4", pan_frames(3))
    single = video_dataset(clip)
    assert [s.id for s in single.samples] == ["film.mp4#000000", "film.mp4#000001", "film.mp4#000002"]
    assert single.name == "film"


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        video_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(HarnessError, match="No video clips"):
        video_dataset(tmp_path / "empty")


def test_a_variable_frame_rate_clip_gives_every_frame(tmp_path):
    frames = pan_frames(7)
    clip = write_clip(tmp_path / "vfr.mkv", frames, pts=[0, 40, 80, 200, 220, 400, 433])
    ds = video_dataset(clip)
    assert len(ds) == 7
    truth = decoded(clip)
    assert len(truth) == 7 and all(np.array_equal(s.load(), f) for s, f in zip(ds.samples, truth))
    assert max(float(np.abs(f.astype(int) - g).mean()) for f, g in zip(truth, frames)) < 5  # H.264's loss only


def _write_bad_clips(root: Path) -> None:
    import av

    write_clip(root / "good.mp4", pan_frames(6))
    (root / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 4000)
    (root / "zero_bytes.mkv").write_bytes(b"")
    write_clip(root / "fast.mp4", pan_frames(40, step=1), options={"movflags": "faststart"})
    data = (root / "fast.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: int(len(data) * 0.8)])
    (root / "fast.mp4").unlink()
    write_clip(root / "long.mkv", pan_frames(40, step=1))
    data = (root / "long.mkv").read_bytes()
    (root / "truncated.mkv").write_bytes(data[: int(len(data) * 0.8)])
    (root / "long.mkv").unlink()
    with av.open(str(root / "sound_only.mp4"), "w") as out:
        audio = out.add_stream("aac", rate=48000)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 48000, 0
        out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    raw = write_clip(root / "mp4v.mkv", pan_frames(3))
    data = raw.read_bytes()
    raw.unlink()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    (root / "unknown_codec.mkv").write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/AVC"))


def test_bad_clips_are_failed_rows_and_the_run_goes_on(tmp_path):
    _write_bad_clips(tmp_path)
    ds = video_dataset(tmp_path)
    result = evaluate(ds, GrayscaleBaseline(NoParams()), ["psnr"], batch_size=4, workers=2)
    rows = result.rows
    by_clip = {clip: group for clip, group in rows.groupby("clip")}
    assert (by_clip["good.mp4"]["status"] == "ok").all() and len(by_clip["good.mp4"]) == 6
    reasons = {clip: by_clip[clip]["status"].tolist() for clip in
               ("garbage.mp4", "zero_bytes.mkv", "sound_only.mp4", "unknown_codec.mkv")}
    assert reasons == {"garbage.mp4": ["failed:corrupt"], "zero_bytes.mkv": ["failed:empty"],
                       "sound_only.mp4": ["failed:no_video"], "unknown_codec.mkv": ["failed:unsupported_codec"]}
    assert "no video stream (audio)" in by_clip["sound_only.mp4"]["error"].iloc[0]
    assert "no decoder for the video codec" in by_clip["unknown_codec.mkv"]["error"].iloc[0]
    for clip in ("truncated.mp4", "truncated.mkv"):
        group = by_clip[clip]
        ok, failed = group[group["status"] == "ok"], group[group["status"] != "ok"]
        assert len(ok) >= 5, clip  # the frames before the damage count
        assert failed["status"].tolist() == ["failed:truncated"], clip
        assert failed["frame"].iloc[0] == len(ok), clip
        assert "truncated: the header announces" in failed["error"].iloc[0]
        assert failed["error"].iloc[0].endswith(f"no frame decodes from frame {len(ok)} on")
    clips = result.tables["per_clip.csv"].set_index("clip")
    scored = int(clips.loc["truncated.mp4", "frames_scored"])
    assert clips.loc["truncated.mp4", "failure"].startswith(f"frame {scored}: failed:truncated")
    assert result.summary["n_failed"] == 6


def test_a_one_frame_clip_has_no_temporal_scores(clips):
    ds = video_dataset(clips / "one.mov")
    result = evaluate(ds, GrayscaleBaseline(NoParams()), ["psnr"], batch_size=2)
    table = result.tables["per_clip.csv"]
    assert table["frames_scored"].tolist() == [1]
    assert table[["cdc", "warp_error", "flicker", "cdc_gt"]].isna().all(axis=None)
    assert result.summary["n_clips"] == 1 and np.isnan(result.summary["cdc_mean"])
