"""Reading video clips frame by frame: probing a clip, and a sequential, thread-safe frame reader.

Clips are decoded with PyAV (FFmpeg inside its wheel). A clip is never held in memory: the
runner's decoding threads ask a clip's `ClipReader` for one frame each, and the reader keeps
one decoder open and moves it forward. Frames it decodes on the way to a later frame that
will also be asked for wait in a small buffer (the threads may ask slightly out of order);
a frame asked for after the decoder has passed it (a new sweep point starting over, the
sample grid) is reached by seeking to the last keyframe before it seen on the way, or by
decoding again from the start. Frame numbers count decoded frames from 0 in presentation
order, whatever the timestamps (variable frame rates included).

Damage is reported, not fatal: `probe` says where a clip stops being readable (a clip that
cannot be opened, has no video stream or an unsupported codec, or has no frames, is
unusable as a whole), and a frame the reader cannot deliver raises `ImageError` with the
frame number where decoding stopped.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ImageError
from harness.paths import non_regular

#: File suffixes read as video clips.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm")
#: Frames decoded ahead of the one asked for, kept for the threads that will ask for them.
BUFFER_FRAMES = 8


@dataclass
class ClipInfo:
    """What probing a clip found: readable frames (up to the bound asked for), rate, and damage."""

    frames: int = 0
    fps: float | None = None
    width: int = 0
    height: int = 0
    codec: str = ""
    #: (frame number, reason, detail) where the clip stops being readable, if it does.
    damage: tuple[int, str, str] | None = None


def open_clip(path: Path):
    """(container, video stream) of a clip, or `ImageError` saying why it cannot be read."""
    import av

    if not path.exists():
        raise ImageError("missing", f"{path} does not exist")
    kind = non_regular(path)
    if kind is not None:  # FFmpeg would block on a FIFO with no writer
        raise ImageError("not_a_file", f"{path} is a {kind}; only regular files are read")
    if path.stat().st_size == 0:
        raise ImageError("empty", f"{path} is zero bytes")
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise ImageError("empty", f"{path} ends before its first frame") from None
    except av.error.FFmpegError as exc:
        raise ImageError("corrupt", f"{path}: not a readable video container ({exc})") from None
    except OSError as exc:
        raise ImageError("unreadable", f"{path}: {exc}") from None
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        container.close()
        raise ImageError("no_video", f"{path} has no video stream ({kinds})")
    stream = container.streams.video[0]
    context = stream.codec_context
    name = context.name if context is not None else "unknown"
    try:
        av.codec.Codec(name, "r")
    except Exception:  # noqa: BLE001 - FFmpeg has no decoder for it
        container.close()
        raise ImageError("unsupported_codec", f"{path}: no decoder for the video codec '{name}' in this "
                                              f"FFmpeg (PyAV {av.__version__})") from None
    stream.thread_type = "AUTO"
    return container, stream


def probe(path: Path, need: int | None = None) -> ClipInfo:
    """Count a clip's frames by reading its packets (no decoding), up to `need` frames.

    `ImageError` when the clip is unusable as a whole; `damage` set when the packets stop
    early (a read error, or fewer frames than the header announces: a truncated file).
    """
    import av

    container, stream = open_clip(path)
    try:
        context = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        info = ClipInfo(fps=float(rate) if rate else None, width=context.width, height=context.height,
                        codec=context.name)
        end = 0.0  # where the packets read so far end, in seconds
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                info.frames += 1
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is not None and packet.time_base is not None:
                    end = max(end, float((stamp + (packet.duration or 0)) * packet.time_base))
                if need is not None and info.frames >= need:
                    return info
        except av.error.FFmpegError as exc:
            info.damage = (info.frames, "corrupt", f"{path}: reading stopped at frame {info.frames}: {exc}")
            info.frames, info.damage = _decodable(path, info.frames, info.damage)
            return info
        info.damage = _truncation(path, container, stream, info, end)
        if info.damage is not None:  # a damaged clip is decoded once, to find its last good frame
            info.frames, info.damage = _decodable(path, info.frames, info.damage)
        if info.frames == 0 and info.damage is None:
            raise ImageError("empty", f"{path} has a video stream without frames")
        return info
    finally:
        container.close()


def _truncation(path: Path, container, stream, info: ClipInfo, end: float) -> tuple[int, str, str] | None:
    """Damage when the packets stop before what the header announces: a frame count (MP4), or a
    duration (Matroska/WebM; the video stream's, or the file's when video is its only stream)."""
    if stream.frames and info.frames < stream.frames:
        return info.frames, "truncated", (f"{path}: truncated: the header announces {stream.frames} frames, the "
                                          f"file holds {info.frames}")
    if stream.frames:
        return None
    if stream.duration and stream.time_base:
        announced = float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    elif container.duration and len(container.streams) == 1:
        announced = ((container.start_time or 0) + container.duration) / 1e6
    else:
        return None
    slack = max(0.1, 2.0 / info.fps) if info.fps else 0.1
    if end + slack < announced:
        return info.frames, "truncated", (f"{path}: truncated: the header announces {announced:.2f} s of video, "
                                          f"the file holds {info.frames} frames ending at {end:.2f} s")
    return None


def _decodable(path: Path, packets: int, damage: tuple[int, str, str]) -> tuple[int, tuple[int, str, str]]:
    """(frames that decode, damage at the first that does not) of a clip whose packets stop early:
    the last packets of a cut file are often incomplete, and a decoder holds frames back."""
    import av

    container, stream = open_clip(path)
    count = 0
    try:
        for _ in decode_frames(container, stream):
            count += 1
    except av.error.FFmpegError as exc:
        if count < packets:
            return count, (count, "corrupt", f"{path}: decoding stopped at frame {count}: {exc}")
    finally:
        container.close()
    count = min(count, packets)
    return count, (count, damage[1], f"{damage[2]}; no frame decodes from frame {count} on")


def to_rgb(frame) -> np.ndarray:
    """A decoded PyAV frame as H x W x 3 uint8 RGB (converted with the frame's own colour matrix)."""
    return frame.to_ndarray(format="rgb24")


def decode_frames(container, stream) -> Iterator:
    """Every frame of `stream`, packet by packet (the last packets flush the decoder)."""
    for packet in container.demux(stream):
        yield from packet.decode()


class ClipReader:
    """Frames of one clip file, for any number of threads; see the module docstring."""

    def __init__(self, path: Path, wanted: Iterable[int]):
        self.path = Path(path)
        self._wanted = frozenset(wanted)
        self._last = max(self._wanted, default=-1)
        self._lock = threading.Lock()
        self._container = None
        self._stream = None
        self._frames: Iterator | None = None
        self._next = 0  # number of the frame the decoder gives next
        self._buffer: OrderedDict[int, np.ndarray] = OrderedDict()
        self._keyframes: list[tuple[int, int]] = []  # (frame number, pts), ascending
        self._stop: tuple[int, str, str] | None = None  # where decoding stopped, and why

    def frame(self, number: int) -> np.ndarray:
        """Frame `number` as H x W x 3 uint8 RGB, or `ImageError` (damage, or past the end)."""
        with self._lock:
            if number in self._buffer:
                image = self._buffer.pop(number)
            else:
                image = self._decode(number)
            if number >= self._last:
                self._close()
            return image

    def close(self) -> None:
        with self._lock:
            self._close()
            self._buffer.clear()

    def __getstate__(self) -> dict:
        """Only what identifies the clip travels (to another process): the copy opens its own decoder."""
        return {"path": self.path, "wanted": self._wanted}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["wanted"])

    # ----- inside the lock ---------------------------------------------------------------
    def _decode(self, number: int) -> np.ndarray:
        if self._stop is not None and number >= self._stop[0]:
            raise ImageError(self._stop[1], self._stop[2])
        if self._frames is None or number < self._next:
            self._rewind(number)
        return self._advance_to(number)

    def _close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._stream = self._frames = None

    def _start(self) -> None:
        self._close()
        self._container, self._stream = open_clip(self.path)
        self._frames = decode_frames(self._container, self._stream)
        self._next = 0

    def _rewind(self, number: int) -> None:
        """Put the decoder at or before frame `number`: the last keyframe seen before it, else the start."""
        self._buffer.clear()
        at = bisect.bisect_right(self._keyframes, (number, float("inf"))) - 1
        if at <= 0 or self._keyframes[at][0] == 0:
            self._start()
            return
        frame_no, pts = self._keyframes[at]
        if self._container is None:
            self._container, self._stream = open_clip(self.path)
        try:
            self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
            frames = decode_frames(self._container, self._stream)
            first = next(frames)
        except Exception:  # noqa: BLE001 - a seek that fails or lands elsewhere: decode from the start
            self._start()
            return
        if first.pts != pts:
            self._start()
            return

        def resumed(head=first, rest=frames):
            yield head
            yield from rest

        self._frames, self._next = resumed(), frame_no

    def _advance_to(self, number: int) -> np.ndarray:
        import av

        while True:
            current = self._next
            try:
                frame = next(self._frames)
            except StopIteration:
                self._stop = (current, "truncated", f"{self.path}: the stream ends after {current} frames")
                self._close()
                raise ImageError(*self._stop[1:]) from None
            except av.error.FFmpegError as exc:
                self._stop = (current, "corrupt", f"{self.path}: decoding stopped at frame {current}: {exc}")
                self._close()
                raise ImageError(*self._stop[1:]) from None
            self._next = current + 1
            if frame.key_frame and frame.pts is not None and (not self._keyframes or self._keyframes[-1][0] < current):
                self._keyframes.append((current, frame.pts))
            if current == number:
                return to_rgb(frame)
            if current > number:  # cannot happen: the decoder sits at or before `number`
                raise RuntimeError(f"{self.path}: decoder passed frame {number}")
            if current in self._wanted:
                self._buffer[current] = to_rgb(frame)
                while len(self._buffer) > BUFFER_FRAMES:
                    self._buffer.popitem(last=False)
