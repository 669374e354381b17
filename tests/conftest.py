"""Shared fixtures: small image folders, spec writers and throwaway MLflow stores.

Every fixture builds its data itself, so the core suite needs no download and no
../shared data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HARNESS_OFFLINE", "1")  # tests never reach the internet
os.environ.setdefault("MPLBACKEND", "Agg")

COCO_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco-sample"


def small_photos() -> dict[str, np.ndarray]:
    """Small real colour photos (crops of scikit-image samples), varied sizes."""
    import skimage.data

    return {
        "astronaut.png": skimage.data.astronaut()[40:104, 160:256],
        "chelsea.jpg": skimage.data.chelsea()[60:140, 120:220],
        "coffee.png": skimage.data.coffee()[100:157, 200:271],
        "rocket.jpg": skimage.data.rocket()[200:264, 300:348],
    }


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder of 4 colour photos, 1 grayscale photo stored as RGB, and 4 bad files."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name, arr in small_photos().items():
        Image.fromarray(arr).save(root / ("sub" if name.startswith("rocket") else "") / name, quality=95)
    gray = np.asarray(Image.fromarray(small_photos()["astronaut.png"]).convert("L"))
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(root / "gray_as_rgb.png")
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    good = (root / "chelsea.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (root / ".hidden.png").write_bytes(b"")
    return root


class RemovesADirectory:
    """Pickles as a call of `shutil.rmtree(target)`: a global torch's weights-only unpickler does not block
    by itself (unlike os.system), for tests that a weights file naming it is refused and nothing runs."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        import shutil

        return shutil.rmtree, (self.target,)


@pytest.fixture(scope="session")
def inception_file(tmp_path_factory) -> Path:
    """pytorch-fid's Inception with random, calibrated weights in its official file format (~8 s to make)."""
    from tests.metrics.networks import random_fid_inception

    return random_fid_inception(tmp_path_factory.mktemp("fid") / "pt_inception-random.pth", seed=3)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec (a YAML string) to a file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


# ----- a local HTTP server for download tests (never the internet) -------------------------
import socket  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402


class _LocalHandler(BaseHTTPRequestHandler):
    """Serves `server.files[path]`; see `http_server`."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.seen.append((self.path, dict(self.headers)))
        if len(srv.seen) > srv.max_requests:  # a client stuck in a loop fails the test, not the machine
            self.send_error(503, "request budget exhausted")
            return
        spec = srv.files.get(self.path)
        if spec is None:
            self.send_error(404, "Not Found")
            return
        body, start = spec["body"], 0
        rng = self.headers.get("Range", "")
        if spec["ranges"] and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(spec["status"])
        self.send_header("Content-Type", spec["content_type"])
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        drop = spec["drop_after"]
        if drop is not None:
            spec["drop_after"] = None  # only the first response is cut short
            self.wfile.write(body[start:start + drop])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])


@pytest.fixture
def http_server():
    """A ThreadingHTTPServer on 127.0.0.1 (random port) serving registered byte strings.

    `srv.add(path, body, status=200, content_type=..., ranges=True, drop_after=None)` registers
    a file: `ranges=False` ignores Range headers (answers 200), `drop_after=N` closes the first
    response after N bytes. Unregistered paths are 404. `srv.url(path)` builds a URL and
    `srv.seen` lists (path, headers) per request; at most `srv.max_requests` are answered.
    """
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _LocalHandler)
    srv.daemon_threads = True
    srv.files, srv.seen, srv.max_requests = {}, [], 50

    def add(path, body, *, status=200, content_type="application/octet-stream", ranges=True, drop_after=None):
        srv.files[path] = dict(body=body, status=status, content_type=content_type, ranges=ranges,
                               drop_after=drop_after)

    srv.add = add
    srv.url = lambda path: f"http://127.0.0.1:{srv.server_address[1]}{path}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


# ----- video clips made by the tests (PyAV) -------------------------------------------------
VIDEO_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video-sample"


def photo(name: str = "astronaut") -> np.ndarray:
    """A real colour photo bundled with scikit-image."""
    import skimage.data

    return np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])


def pan_frames(count: int, *, step: int = 4, size: tuple[int, int] = (120, 160), name: str = "astronaut",
               top: int = 100, left: int = 60) -> list[np.ndarray]:
    """`count` crops of a photo, the window moving right `step` px a frame: the content moves by
    (-step, 0) px a frame, the true optical flow."""
    image = photo(name)
    h, w = size
    return [np.ascontiguousarray(image[top:top + h, left + step * k:left + step * k + w]) for k in range(count)]


def zoom_frames(count: int, *, size: tuple[int, int] = (120, 160), name: str = "chelsea") -> list[np.ndarray]:
    """`count` frames zooming into the centre of a photo (2% a frame), resized to `size`."""
    from PIL import Image

    image = Image.fromarray(photo(name))
    frames = []
    for k in range(count):
        scale = 1.0 / (1.0 + 0.02 * k)
        cw, ch = image.width * scale, image.height * scale
        box = ((image.width - cw) / 2, (image.height - ch) / 2, (image.width + cw) / 2, (image.height + ch) / 2)
        frames.append(np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=box)))
    return frames


def hue_frames(count: int, *, degrees: float = 30.0, size: tuple[int, int] = (120, 160)) -> list[np.ndarray]:
    """A still photo whose hue swings ±`degrees` from frame to frame (even frames +, odd frames -)."""
    from skimage.color import hsv2rgb, rgb2hsv

    still = pan_frames(1, size=size)[0]
    hsv = rgb2hsv(still)
    frames = []
    for k in range(count):
        shifted = hsv.copy()
        shifted[..., 0] = (shifted[..., 0] + (degrees if k % 2 == 0 else -degrees) / 360.0) % 1.0
        frames.append(np.round(hsv2rgb(shifted) * 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames, *, fps: int = 25, pts: list[int] | None = None, time_base=None,
               audio_seconds: float | None = None, options: dict | None = None) -> Path:
    """Encode RGB frames into a clip (H.264; VP9 for .webm; MPEG-4 Part 2 for .avi), with explicit
    timestamps in `time_base` when `pts` is given (a variable frame rate), and a 440 Hz AAC tone of
    `audio_seconds` when asked (Opus in WebM)."""
    from fractions import Fraction

    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    codec = {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(suffix, "libx264")
    container = av.open(str(path), "w", options=options or {})
    video = container.add_stream(codec, rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    if pts is not None:
        video.codec_context.time_base = video.time_base = time_base = Fraction(time_base or Fraction(1, 1000))
    audio = None
    if audio_seconds:
        audio = container.add_stream("libopus" if suffix == ".webm" else "aac", rate=48000)
        audio.layout = "mono"
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts[i], time_base
        else:
            frame.pts, frame.time_base = i, Fraction(1, fps)
        container.mux(video.encode(frame))
    container.mux(video.encode())
    if audio is not None:
        total = int(48000 * audio_seconds)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total) / 48000)).astype(np.float32)
        for start in range(0, total, 960):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 960], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, start, Fraction(1, 48000)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    container.close()
    return path


def write_frame_folder(folder: Path, frames, suffix: str = ".png") -> Path:
    """A DAVIS-style folder of numbered frames (00000.png, 00001.png, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / f"{i:05d}{suffix}", quality=95)
    return folder


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of a clip, decoded (for checks)."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
