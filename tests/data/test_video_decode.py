"""The clip reader: any order, any number of threads, the right frame every time; probing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from harness.data.video_decode import ClipReader, probe
from harness.errors import ImageError
from tests.conftest import decoded, pan_frames, write_clip


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory):
    return _keyframe_clip(tmp_path_factory.mktemp("gop") / "gop.mp4")


def _keyframe_clip(path):
    """30 frames of a pan with a keyframe every 5: seeking back lands on a keyframe, not the start."""
    from fractions import Fraction

    import av

    frames = pan_frames(30, step=2)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "5", "keyint_min": "5", "sc_threshold": "0"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def test_threads_asking_out_of_order_get_the_right_frames(gop_clip):
    truth = decoded(gop_clip)
    reader = ClipReader(gop_clip, range(30))
    order = [1, 0, 3, 2, 4, 6, 5, 7, 9, 8] + list(range(10, 30))
    with ThreadPoolExecutor(4) as pool:
        got = dict(zip(order, pool.map(reader.frame, order)))
    assert all(np.array_equal(got[n], truth[n]) for n in range(30))


def test_going_back_seeks_to_a_keyframe_seen_on_the_way(gop_clip):
    truth = decoded(gop_clip)
    reader = ClipReader(gop_clip, range(30))
    for n in range(30):
        reader.frame(n)
    assert [k for k, _ in reader._keyframes] == [0, 5, 10, 15, 20, 25]
    assert np.array_equal(reader.frame(17), truth[17])
    assert reader._next == 18  # resumed from keyframe 15, not from frame 0
    assert np.array_equal(reader.frame(3), truth[3])
    assert [n for n in range(29, -1, -4) if not np.array_equal(reader.frame(n), truth[n])] == []


def test_a_frame_past_the_end_says_where_the_stream_ends(tmp_path):
    clip = write_clip(tmp_path / "short.mp4", pan_frames(4))
    reader = ClipReader(clip, range(6))
    assert reader.frame(3).shape == (120, 160, 3)
    with pytest.raises(ImageError) as info:
        reader.frame(5)
    assert info.value.reason == "truncated" and "ends after 4 frames" in info.value.detail
    assert np.array_equal(reader.frame(0), decoded(clip)[0])  # still readable before the end


def test_probe_counts_frames_and_stops_at_the_bound(gop_clip):
    info = probe(gop_clip)
    assert (info.frames, info.fps, info.width, info.height, info.codec, info.damage) == (30, 25.0, 160, 120, "h264",
                                                                                          None)
    assert probe(gop_clip, need=7).frames == 7


def test_readers_of_different_clips_do_not_share_state(tmp_path):
    a = write_clip(tmp_path / "a.mp4", pan_frames(5))
    b = write_clip(tmp_path / "b.mp4", pan_frames(5, name="coffee", top=100, left=100))
    readers = {p: ClipReader(p, range(5)) for p in (a, b)}
    truth = {p: decoded(p) for p in (a, b)}
    errors = []

    def read(path):
        for n in range(5):
            if not np.array_equal(readers[path].frame(n), truth[path][n]):
                errors.append((path.name, n))

    threads = [threading.Thread(target=read, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_reader_travels_to_another_process_without_its_decoder(gop_clip):
    import pickle

    import cloudpickle

    reader = ClipReader(gop_clip, range(30))
    reader.frame(3)  # an open decoder, a lock, a buffer: none of them is pickled
    copy = pickle.loads(pickle.dumps(reader))
    assert np.array_equal(copy.frame(7), decoded(gop_clip)[7])
    from harness.config.schema import VideoData
    from harness.data import build_dataset

    sample = build_dataset(VideoData(source="video", path=gop_clip)).samples[12]
    assert np.array_equal(cloudpickle.loads(cloudpickle.dumps(sample)).load(), decoded(gop_clip)[12])
