"""`harness colorize FILM`: a colorized copy of a film, frame for frame, with its sound.

One pass over the file: video packets are decoded, a batch of `batch_size` frames goes to the
model (as its ITU-R 601 luma: a colour film is made gray first, a gray film is what the
model expects), and each output frame is encoded with the source frame's own timestamp, so
the copy has the same resolution, frame count, frame rate and timing (variable frame rates
included); audio packets are copied as they are (no re-encoding), interleaved as they come.
Subtitle and data streams are not copied. The output takes the input's file name and
container; when that container cannot hold an audio codec of the source (PCM in MP4, say)
the copy is written as Matroska (`.mkv`) instead, and the report says so. A frame the model
fails on is written gray (the film keeps its length) and counted. Only the batch in flight is
in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from harness.data.images import check_pixels
from harness.data.video_decode import open_clip, to_rgb
from harness.data.video_encode import add_video_stream, rgb_frame
from harness.errors import HarnessError, ImageError
from harness.gray import to_gray
from harness.paths import refuse_overwriting, replace_into, temp_beside
from harness.pipeline.process import colorize_safely


@dataclass
class FilmReport:
    source: Path
    output: Path
    frames: int = 0
    failed: int = 0  # frames the model failed on, written gray
    audio_streams: int = 0
    note: str = ""


def _output_path(dest: Path, audio, taken: set[Path]) -> tuple[Path, str]:
    """`dest`, or `dest` as .mkv when its container cannot carry the source's audio codecs (`clip.mp4.mkv`
    when `clip.mkv` is another output's name)."""
    import av

    scratch = temp_beside(dest)  # asked on a file of our own: opening `dest` for writing would follow a link
    try:
        probe = av.open(str(scratch), "w")  # nothing is written before a stream is added and a packet muxed
        try:
            supported = probe.supported_codecs
        finally:
            probe.close()
    finally:
        scratch.unlink(missing_ok=True)
    refused = sorted({a.codec_context.name for a in audio if a.codec_context.name not in supported})
    if not refused:
        return dest, ""
    fallback = dest.with_suffix(".mkv")
    if fallback in taken:
        fallback = dest.with_name(dest.name + ".mkv")
    return fallback, f"{dest.suffix} cannot carry the audio codec(s) {', '.join(refused)}: written as {fallback.name}"


def colorize_film(src: Path, dest: Path, model, *, batch_size: int = 8, progress: bool = True,
                  taken: set[Path] | None = None) -> FilmReport:
    """Write the colorized copy of the film `src` to `dest` (see the module docstring). The copy is
    written to a temporary file beside `dest` and renamed into place when whole: a film that stops
    decoding mid-way is a `HarnessError` saying where, and leaves nothing behind."""
    import av

    src, dest = Path(src), Path(dest)
    refuse_overwriting(src, dest)
    try:
        source, video = open_clip(src)
    except ImageError as exc:
        raise HarnessError(f"Cannot colorize '{src}': {exc.reason}: {exc.detail}.",
                           hint="Give a readable film (mp4, mkv, avi, mov, webm) with a video stream.") from None
    try:
        check_pixels(video.codec_context.width, video.codec_context.height, f"{src}'s frames")
    except ImageError as exc:
        source.close()
        raise HarnessError(f"Cannot colorize '{src}': {exc.detail}.", hint="Raise HARNESS_MAX_PIXELS, or give a "
                                                                         "film of a smaller resolution.") from None
    audio = list(source.streams.audio)
    dest.parent.mkdir(parents=True, exist_ok=True)
    path, note = _output_path(dest, audio, taken or set())
    refuse_overwriting(src, path)
    report = FilmReport(src, path, audio_streams=len(audio), note=note)
    tmp = temp_beside(path)
    try:
        _copy(source, video, audio, av.open(str(tmp), "w"), model, batch_size, progress, report)
        replace_into(tmp, path)
    except av.error.FFmpegError as exc:
        raise HarnessError(f"Cannot colorize '{src}': decoding stopped after frame {report.frames}: {exc}.",
                           hint="The film is damaged there; repair or re-encode it (the rest of the batch "
                                "went on, no partial copy was kept).") from None
    finally:
        tmp.unlink(missing_ok=True)
        source.close()
    return report


def _copy(source, video, audio, output, model, batch_size: int, progress: bool, report: FilmReport) -> None:
    """Decode, colorize and encode every frame of `video`, copying the `audio` packets, into `output`."""
    from tqdm.auto import tqdm

    rate = video.average_rate or video.guessed_rate or Fraction(24)
    context = video.codec_context
    bar = tqdm(total=video.frames or None, desc=report.source.name, unit="frame", disable=not progress)
    try:
        stream = add_video_stream(output, report.output, context.width, context.height, rate, time_base=video.time_base)
        copies = {a.index: output.add_stream_from_template(a) for a in audio}
        pending: list = []
        for packet in source.demux(video, *audio):
            if packet.stream.index in copies:
                if packet.dts is not None:
                    packet.stream = copies[packet.stream.index]
                    output.mux(packet)
                continue
            pending.extend(packet.decode())
            if len(pending) >= batch_size:
                _encode(pending, model, output, stream, report, bar)
                pending = []
        if pending:
            _encode(pending, model, output, stream, report, bar)
        output.mux(stream.encode())
    finally:
        bar.close()
        output.close()


def _encode(frames: list, model, output, stream, report: FilmReport, bar) -> None:
    """Colorize a batch of decoded frames and encode each with its source timestamp."""
    rgbs = [to_rgb(f) for f in frames]
    grays = [to_gray(rgb) for rgb in rgbs]
    for source_frame, gray, out in zip(frames, grays, colorize_safely(model, grays)):
        if isinstance(out, ImageError):
            report.failed += 1
            out = np.repeat(gray[..., None], 3, axis=2)
        frame = rgb_frame(out, stream)
        frame.pts = source_frame.pts if source_frame.pts is not None else report.frames
        frame.time_base = source_frame.time_base or stream.time_base
        if source_frame.duration:
            frame.duration = source_frame.duration
        output.mux(stream.encode(frame))
        report.frames += 1
        bar.update(1)
