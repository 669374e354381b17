"""Writing video: an H.264 encoder for RGB frames, and the side-by-side previews of a run.

Frames are encoded as they come (nothing is held but the encoder's own look-ahead).
H.264 (libx264, CRF 18) is used wherever the container takes it; WebM gets VP9. Even
frame sizes are encoded as 4:2:0, odd ones as 4:4:4 (4:2:0 needs even sides), so the
resolution is kept exactly. RGB is converted with the BT.601 matrix (limited range) and the
stream is tagged so, which is what decoders assume for untagged video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from harness.errors import ImageError

log = logging.getLogger(__name__)

#: Side-by-side previews: each panel at most this many pixels high.
PREVIEW_HEIGHT = 360


def video_codec(path: Path) -> str:
    """The encoder for a container: VP9 for WebM, H.264 otherwise (MPEG-4 Part 2 without libx264)."""
    import av

    wanted = ("libvpx-vp9",) if path.suffix.lower() == ".webm" else ("libx264", "mpeg4")
    for name in wanted:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - not in this FFmpeg build
            continue
    raise ImageError("unsupported_codec", f"no encoder among {', '.join(wanted)} in this FFmpeg for {path.name}")


def add_video_stream(container, path: Path, width: int, height: int, rate: Fraction, time_base: Fraction | None = None):
    """A video stream for RGB frames of this size (see the module docstring for the settings)."""
    codec = video_codec(path)
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = width, height
    even = width % 2 == 0 and height % 2 == 0
    stream.pix_fmt = "yuv420p" if even or codec == "mpeg4" else "yuv444p"
    if codec == "libx264":
        stream.options = {"crf": "18", "preset": "medium"}
    elif codec == "libvpx-vp9":
        stream.options = {"crf": "24", "b": "0"}
    else:
        stream.bit_rate = 8_000_000
    if time_base is not None:
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
    context = stream.codec_context
    context.colorspace, context.color_range = 5, 1  # BT.470BG (= BT.601), limited range: as converted below
    return stream


def rgb_frame(rgb: np.ndarray, stream):
    """An encoder-ready frame from H x W x 3 uint8 RGB (BT.601, limited range)."""
    import av

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format=stream.pix_fmt, dst_colorspace="itu601", dst_color_range="MPEG")


class VideoWriter:
    """Encode RGB frames to a file at a constant frame rate (`write`, then `close`)."""

    def __init__(self, path: Path, width: int, height: int, fps: float):
        import av

        self.path = Path(path)
        self._container = av.open(str(self.path), "w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = add_video_stream(self._container, self.path, width, height, rate)
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = rgb_frame(rgb, self._stream)
        frame.pts = self.frames
        frame.time_base = 1 / Fraction(self._stream.average_rate or 24)
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self._container.mux(self._stream.encode())
        self._container.close()


def _panel(image: np.ndarray, height: int) -> np.ndarray:
    from PIL import Image

    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    width = max(2, round(rgb.shape[1] * height / rgb.shape[0]) // 2 * 2)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def compose(gray: np.ndarray, output: np.ndarray, truth: np.ndarray, caption: str = "") -> np.ndarray:
    """One preview frame: gray input | output | ground truth, each `PREVIEW_HEIGHT` pixels high at most
    (even sizes), with a caption strip above."""
    from PIL import Image, ImageDraw

    height = min(PREVIEW_HEIGHT, truth.shape[0]) // 2 * 2 or 2
    panels = [_panel(x, height) for x in (gray, output, truth)]
    strip = 16
    canvas = Image.new("RGB", (sum(p.shape[1] for p in panels), height + strip), "white")
    x = 0
    for panel in panels:
        canvas.paste(Image.fromarray(panel), (x, strip))
        x += panel.shape[1]
    ImageDraw.Draw(canvas).text((4, 2), f"gray input | output | ground truth   {caption}", fill="black")
    return np.asarray(canvas)


def side_by_side_clip(samples: Sequence, path: Path, colorize: Callable[[list[np.ndarray]], list], *,
                      fps: float, batch_size: int = 8, title: str = "") -> Path | None:
    """Colorize a clip's frames again, `batch_size` at a time, and write gray | output | truth to `path`
    (frames that fail are left out). None when no frame made it."""
    from harness.gray import to_gray

    writer = None
    try:
        for start in range(0, len(samples), batch_size):
            loaded = []
            for sample in samples[start:start + batch_size]:
                try:
                    truth = sample.load()
                except ImageError:
                    continue
                loaded.append((sample, truth, to_gray(truth)))
            outs = colorize([gray for _, _, gray in loaded]) if loaded else []
            for (sample, truth, gray), out in zip(loaded, outs):
                if isinstance(out, Exception):
                    continue
                frame = compose(gray, out, truth, f"{title} frame {sample.meta.get('frame', '')}")
                if writer is None:
                    writer = VideoWriter(path, frame.shape[1], frame.shape[0], fps)
                if frame.shape[:2] != (writer._stream.height, writer._stream.width):
                    continue  # the clip changed size mid-stream: keep the first size
                writer.write(frame)
    finally:
        if writer is not None:
            writer.close()
    return path if writer is not None and writer.frames else None
