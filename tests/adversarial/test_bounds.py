"""Bounded reads (#18 D1, D17d, D7): a pixel budget checked from the header before decoding, FIFOs and
other non-regular files refused without blocking, a film that stops decoding skipped alone."""

from __future__ import annotations

import os
import resource
import threading

import numpy as np
import pytest
from PIL import Image

from harness.config.schema import VideoData
from harness.data import folder, video
from harness.data.images import DEFAULT_MAX_PIXELS, decode_rgb, max_pixels
from harness.errors import HarnessError, ImageError
from harness.sweep.evaluate import evaluate
from harness.tools.colorize import colorize_paths
from tests.conftest import pan_frames, write_clip
from tests.fake_models import FakeTint, TintParams


def save(path, seed: int = 0, size: int = 48):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def in_thread(fn, timeout: float = 20.0):
    """fn() in a daemon thread; fails (instead of hanging the suite) when it blocks."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked"
    return box["value"]


@pytest.fixture
def model():
    return FakeTint(TintParams(strength=0.3))


# ----- D1: the pixel budget ------------------------------------------------------------------------

def test_a_huge_image_is_refused_from_its_header_before_decoding(tmp_path):
    big = tmp_path / "big.png"
    Image.new("1", (6000, 6000)).save(big)  # a few KB on disk, 108 MB as RGB (10 GB through the pipeline)
    assert big.stat().st_size < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError) as info:
        decode_rgb(big)
    assert info.value.reason == "too_large" and "6000x6000" in info.value.detail
    assert "HARNESS_MAX_PIXELS" in info.value.detail
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: never decoded


def test_the_budget_is_configurable_and_checked(monkeypatch, tmp_path):
    assert max_pixels() == DEFAULT_MAX_PIXELS
    monkeypatch.setenv("HARNESS_MAX_PIXELS", "2000")
    with pytest.raises(ImageError, match="too_large"):
        decode_rgb(save(tmp_path / "a.png"))  # 48 x 48 = 2304 px
    monkeypatch.setenv("HARNESS_MAX_PIXELS", "5e6")
    assert max_pixels() == 5_000_000
    monkeypatch.setenv("HARNESS_MAX_PIXELS", "lots")
    with pytest.raises(HarnessError, match="HARNESS_MAX_PIXELS must be a positive number"):
        max_pixels()


def test_in_a_run_an_image_over_budget_is_a_failed_row_the_rest_scored(monkeypatch, tmp_path, model):
    root = tmp_path / "photos"
    save(root / "small.png", 1, 40)
    save(root / "large.png", 2, 64)
    monkeypatch.setenv("HARNESS_MAX_PIXELS", str(50 * 50))
    result = evaluate(folder.build(root), model, ["psnr"], progress=False)
    status = dict(zip(result.rows["image_id"], result.rows["status"]))
    assert status == {"small.png": "ok", "large.png": "failed:too_large"}
    assert "64x64" in result.rows.set_index("image_id").loc["large.png", "error"]


def test_colorize_skips_an_image_over_budget_and_does_the_rest(monkeypatch, tmp_path, model):
    save(tmp_path / "in" / "small.png", 1, 40)
    save(tmp_path / "in" / "large.png", 2, 64)
    monkeypatch.setenv("HARNESS_MAX_PIXELS", str(50 * 50))
    report = colorize_paths([tmp_path / "in"], tmp_path / "out", model, progress=False)
    assert [p.name for p in report.written] == ["small.png"]
    assert [(p.name, why.split()[0]) for p, why in report.skipped] == [("large.png", "too_large")]


# ----- D17d: FIFOs ------------------------------------------------------------------------------------

@pytest.fixture
def fifo_dir(tmp_path):
    root = tmp_path / "in"
    save(root / "ok.png", 1)
    os.mkfifo(root / "pipe.png")
    os.mkfifo(root / "pipe.mp4")
    return root


def test_colorize_given_a_fifo_refuses_it_without_blocking(fifo_dir, tmp_path, model):
    report = in_thread(lambda: colorize_paths([fifo_dir / "pipe.png", fifo_dir / "ok.png"], tmp_path / "out", model,
                                              progress=False))
    assert [p.name for p in report.written] == ["ok.png"]
    assert report.skipped[0][0].name == "pipe.png" and "FIFO" in report.skipped[0][1]


def test_colorize_lists_the_fifos_it_finds_in_a_folder(fifo_dir, tmp_path, model):
    report = in_thread(lambda: colorize_paths([fifo_dir], tmp_path / "out", model, progress=False))
    assert [p.name for p in report.written] == ["ok.png"]
    assert sorted(p.name for p, why in report.skipped if "FIFO" in why) == ["pipe.mp4", "pipe.png"]


def test_a_fifo_in_a_folder_dataset_is_a_failed_row_not_left_out(fifo_dir, model):
    result = in_thread(lambda: evaluate(folder.build(fifo_dir), model, ["psnr"], progress=False))
    status = dict(zip(result.rows["image_id"], result.rows["status"]))
    assert status["pipe.png"] == "failed:not_a_file" and status["ok.png"] == "ok"
    assert "FIFO" in result.rows.set_index("image_id").loc["pipe.png", "error"]


def test_a_fifo_clip_in_a_video_dataset_is_a_failed_row(tmp_path):
    root = tmp_path / "clips"
    write_clip(root / "clip.mp4", pan_frames(3))
    os.mkfifo(root / "pipe.mp4")
    ds = in_thread(lambda: video.build(VideoData(source="video", path=root)))
    [sample] = [s for s in ds.samples if s.group == "pipe.mp4"]
    with pytest.raises(ImageError, match="not_a_file"):
        sample.load()


# ----- D7: a film that stops decoding in a batch ------------------------------------------------------------

def test_a_film_that_stops_decoding_is_skipped_and_listed_the_rest_done(tmp_path, model):
    src = tmp_path / "in"
    clip = write_clip(src / "clip.mp4", pan_frames(30))
    data = clip.read_bytes()
    noise = np.random.default_rng(0).integers(0, 256, len(data) // 4, dtype=np.uint8).tobytes()
    (src / "cut.mp4").write_bytes(data[: len(data) // 2] + noise + data[3 * len(data) // 4:])  # fails mid-decode
    save(src / "photo.png", 1)
    report = colorize_paths([src], tmp_path / "out", model, progress=False)
    assert sorted(p.name for p in report.written) == ["clip.mp4", "photo.png"]
    [(bad, why)] = report.skipped
    assert bad.name == "cut.mp4" and "decoding stopped after frame" in why
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.mp4", "photo.png"]  # no partial copy
