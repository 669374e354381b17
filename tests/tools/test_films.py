"""`harness colorize FILM`: the copy keeps frame count, frame rate, duration, timing and sound."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import tests.fake_models  # noqa: F401  (registers fake-tint)
from harness.cli import main
from harness.config.params import NoParams
from harness.gray import to_gray
from harness.models.baselines import GrayscaleBaseline
from harness.models.registry import build_model
from harness.tools.films import colorize_film
from tests.conftest import VIDEO_SAMPLE, decoded, hue_frames, pan_frames, write_clip


@pytest.fixture(autouse=True)
def av():
    """PyAV, imported by each test (not at the top: `pytest -m gpu` collects this module where PyAV is absent)."""
    return pytest.importorskip("av", reason="PyAV (av) is not installed")


def facts(path: Path) -> dict:
    """What the copy must keep, read back by decoding the file."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        times = [float(f.pts * f.time_base) for f in container.decode(video)]
    with av.open(str(path)) as container:
        sound = [(a.codec_context.name, a.sample_rate) for a in container.streams.audio]
        packets = [(p.stream.index, p.duration * p.time_base, bytes(p)) for p in container.demux(audio=0)
                   if p.size] if sound else []
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return {"frames": len(times), "rate": video.average_rate, "size": (video.width, video.height),
                "duration": container.duration / 1e6, "times": times, "audio": sound,
                "audio_seconds": float(sum(d for _, d, _ in packets)), "audio_bytes": b"".join(b for *_, b in packets)}


def test_a_colour_film_with_sound_is_copied_gray_in_frame_for_frame(tmp_path):
    src = write_clip(tmp_path / "in" / "film.mp4", pan_frames(24), fps=24, audio_seconds=1.0)
    report = colorize_film(src, tmp_path / "out" / "film.mp4", GrayscaleBaseline(NoParams()), batch_size=5,
                           progress=False)
    assert (report.frames, report.failed, report.audio_streams, report.note) == (24, 0, 1, "")
    before, after = facts(src), facts(report.output)
    assert after["frames"] == before["frames"] == 24
    assert after["rate"] == before["rate"] == 24 and after["size"] == (160, 120)
    assert after["duration"] == pytest.approx(before["duration"], abs=1e-3)
    assert after["times"] == before["times"]
    assert after["audio"] == before["audio"] == [("aac", 48000)]
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"])
    assert after["audio_bytes"] == before["audio_bytes"]  # copied, not encoded again
    frames = decoded(report.output)  # made gray first: the baseline's output is the luma, R = G = B
    assert max(int(np.ptp(f.astype(int), axis=2).max()) for f in frames) <= 6
    assert np.abs(frames[10][..., 0].astype(int) - to_gray(decoded(src)[10])).mean() < 2.0


def test_a_gray_film_gets_colour_and_keeps_a_variable_frame_rate(tmp_path):
    gray = [np.repeat(to_gray(f)[..., None], 3, axis=2) for f in hue_frames(7)]
    stamps = [0, 40, 80, 200, 220, 400, 433]
    src = write_clip(tmp_path / "old.mkv", gray, pts=stamps, time_base=Fraction(1, 1000))
    report = colorize_film(src, tmp_path / "out" / "old.mkv", build_model("fake-tint", {"strength": 0.5}),
                           batch_size=3, progress=False)
    assert facts(report.output)["times"] == pytest.approx([s / 1000 for s in stamps])
    frame = decoded(report.output)[3].astype(int)
    assert (frame[..., 0] - frame[..., 1]).mean() > 40  # the tint: red well above green


def test_webm_keeps_its_opus_sound(tmp_path):
    src = write_clip(tmp_path / "clip.webm", pan_frames(10), fps=25, audio_seconds=0.5)
    report = colorize_film(src, tmp_path / "out" / "clip.webm", GrayscaleBaseline(NoParams()), progress=False)
    after = facts(report.output)
    assert after["frames"] == 10 and [a[0] for a in after["audio"]] == ["opus"]


def test_a_container_that_cannot_carry_the_sound_falls_back_to_matroska(tmp_path, av):
    src = tmp_path / "pcm.mov"  # unsigned 8-bit PCM: QuickTime and Matroska carry it, MP4 does not
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = out.add_stream("pcm_u8", rate=48000, layout="mono")
        for i, rgb in enumerate(pan_frames(5)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        sound = av.AudioFrame.from_ndarray(np.full((1, 9600), 128, np.uint8), format="u8", layout="mono")
        sound.sample_rate, sound.pts = 48000, 0
        out.mux(audio.encode(sound))
        out.mux(audio.encode())
    report = colorize_film(src, tmp_path / "out" / "pcm.mp4", GrayscaleBaseline(NoParams()), progress=False)
    assert report.output.name == "pcm.mkv" and "pcm_u8" in report.note
    assert facts(report.output)["audio"][0][0] == "pcm_u8" and facts(report.output)["frames"] == 5


def test_cli_colorizes_films_beside_images_and_reports_unreadable_ones(tmp_path, capsys):
    film = write_clip(tmp_path / "in" / "film.mp4", pan_frames(6))
    (tmp_path / "in" / "broken.mkv").write_bytes(b"not a film")
    code = main(["colorize", str(tmp_path / "in"), "--model", "grayscale", "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert code == 0 and "1 file(s) written" in out.out and "broken.mkv" in out.err
    assert facts(tmp_path / "out" / "film.mp4")["frames"] == facts(film)["frames"] == 6


def test_cli_picks_deoldify_video_for_films(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    film = write_clip(tmp_path / "film.mp4", pan_frames(3))
    assert main(["colorize", str(film), "--out", str(tmp_path / "out")]) == 2
    assert "deoldify-video (ColorizeVideo_gen.pth)" in capsys.readouterr().err  # offline: its weights are missing


@pytest.mark.skipif(not (VIDEO_SAMPLE / "bedroom.mp4").is_file(),
                    reason="../shared/data/video-sample is absent (it exists only beside the dev checkout)")
def test_the_sample_clip_keeps_frame_count_rate_and_duration(tmp_path):
    src = VIDEO_SAMPLE / "bedroom.mp4"
    report = colorize_film(src, tmp_path / "bedroom.mp4", build_model("fake-tint", {"strength": 0.2}), batch_size=8,
                           progress=False)
    before, after = facts(src), facts(report.output)
    assert after["frames"] == before["frames"] == 200 and after["rate"] == before["rate"] == 30
    assert after["size"] == before["size"] == (960, 540)
    assert after["duration"] == pytest.approx(before["duration"], abs=1e-3) and after["times"] == before["times"]
