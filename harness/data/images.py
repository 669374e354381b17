"""Image decoding and the conversions every source shares.

Ground truth is always 8-bit RGB: EXIF orientation applied, and L/LA/P/RGBA/CMYK/16-bit
inputs normalised. The gray input made from it is `harness.gray.to_gray`.

Reading is bounded: only a regular file is read (a FIFO, a device or a socket is refused before
a byte is read, without blocking), and an image whose header announces more pixels than the
budget (`max_pixels`: `HARNESS_MAX_PIXELS`, default 4096 x 4096) is refused before it is decoded:
a 534 KB PNG can decode to 10 GB.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from harness.errors import HarnessError, ImageError
from harness.paths import NotRegular, read_regular

#: The default pixel budget of one decoded image (4096 x 4096, 48 MiB as 8-bit RGB; the pipeline's
#: float copies make a few hundred MiB of it): far above any evaluation set's photos, far below memory.
DEFAULT_MAX_PIXELS = 4096 * 4096


def max_pixels() -> int:
    """The pixel budget of one decoded image or video frame: `HARNESS_MAX_PIXELS`, else the default."""
    raw = os.environ.get("HARNESS_MAX_PIXELS", "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw)) if "e" in raw.lower() else int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise HarnessError(f"HARNESS_MAX_PIXELS must be a positive number of pixels, got '{raw}'.",
                           hint=f"Unset it for the default ({DEFAULT_MAX_PIXELS:,}), or give e.g. 50000000.")
    return value


def check_pixels(width: int, height: int, what: str) -> None:
    """`ImageError('too_large')` when `width` x `height` is over the pixel budget (read from a header,
    before decoding)."""
    budget = max_pixels()
    if width * height > budget:
        raise ImageError("too_large", f"{what} is {width}x{height} = {width * height / 1e6:.1f} Mpx, over the "
                                      f"pixel budget of {budget / 1e6:.1f} Mpx; raise HARNESS_MAX_PIXELS to read it")

#: A ground truth is grayscale (nothing to score a colorizer against) when its chroma,
#: a = R - G and b = B - G in 8-bit levels, barely varies: the 99th percentile over pixels
#: of max(|a - median a|, |b - median b|) is at most GRAY_CHROMA_P99. Measuring around the
#: median makes toned monochrome (a uniform sepia or warm cast, |median| up to
#: GRAY_MAX_TINT) count as grayscale too. On ../shared/data/coco-sample the grayscale
#: photos score 0, 0 and 4 (a warm-toned street scene); the most muted colour photo (grey
#: birds with yellow tips) scores 18, and every other colour photo 29 or more.
GRAY_CHROMA_P99 = 8.0
GRAY_MAX_TINT = 40.0


def _to_uint8(img: Image.Image) -> np.ndarray:
    """Scale a high-bit-depth single-channel image to 8 bits."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = np.clip(arr, 0.0, 1.0) * 255.0 if arr.max(initial=0) <= 1.0 else np.clip(arr, 0, 255)
        return np.round(arr).astype(np.uint8)
    arr = arr.astype(np.float64)
    peak = 65535.0 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
    return np.round(np.clip(arr, 0, peak) * (255.0 / peak)).astype(np.uint8)


def normalise(img: Image.Image) -> np.ndarray:
    """Any PIL image -> H x W x 3 uint8 RGB, orientation applied."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        gray = _to_uint8(img)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def from_array(arr: np.ndarray) -> np.ndarray:
    """Normalise an in-memory array (H x W, H x W x 3 or H x W x 4; uint8 or bool) to RGB uint8."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ImageError("unsupported", f"array dtype {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return np.ascontiguousarray(arr[..., :3])
    raise ImageError("unsupported", f"array shape {arr.shape}")


def decode_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8; raise `ImageError` with a short reason if it can't."""
    path = Path(path)
    try:
        data = read_regular(path)
    except NotRegular as exc:
        raise ImageError("not_a_file", f"{path} is a {exc.kind}; only regular files are read") from None
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageError("missing", f"{path} links to {path.readlink()}, which does not exist") from None
        raise ImageError("missing", str(path)) from None
    except OSError as exc:
        raise ImageError("unreadable", f"{path}: {exc.strerror or exc}") from None
    if not data:
        raise ImageError("empty", f"{path} is zero bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            check_pixels(img.size[0], img.size[1], str(path))  # from the header, before decoding
            img.load()
            return normalise(img)
    except UnidentifiedImageError:
        raise ImageError("not_an_image", f"{path} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError("corrupt", f"{path}: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise ImageError("too_large", f"{path}: {exc}") from None


def chroma_variation(rgb: np.ndarray) -> tuple[float, float]:
    """(p99 chroma deviation from the median chroma, largest |median chroma|), in 8-bit levels."""
    pix = rgb.reshape(-1, 3).astype(np.int16)
    a = pix[:, 0] - pix[:, 1]
    b = pix[:, 2] - pix[:, 1]
    med_a, med_b = np.median(a), np.median(b)
    dev = np.maximum(np.abs(a - med_a), np.abs(b - med_b))
    return float(np.percentile(dev, 99)), float(max(abs(med_a), abs(med_b)))


def _order_statistic_interpolated(hist, n: int, fraction: float, scale: float, offset: float) -> float:
    """numpy's default ('linear') percentile from a histogram of integer-coded values: bin i holds the
    value (i + offset) / scale. The two order statistics around fraction * (n - 1) are exact (cumulative
    counts), the interpolation is numpy's, so the result equals `np.percentile` to the last bit."""
    import torch

    position = fraction * (n - 1)
    lo = int(position)
    t = position - lo
    counts = hist.cumsum(0)
    ranks = torch.tensor([lo + 1.0, min(lo + 2, n) * 1.0], device=counts.device, dtype=counts.dtype)
    i_lo, i_hi = (int(i) for i in torch.searchsorted(counts, ranks).tolist())
    a, b = (i_lo + offset) / scale, (i_hi + offset) / scale
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def chroma_variation_torch(rgb: np.ndarray, device: str) -> tuple[float, float]:
    """`chroma_variation` as torch operations on `device` (a GPU: the host then only decodes), equal to
    it to the last bit (tests/data/test_images.py runs it on the CPU against the numpy form). Chroma
    levels are integers in [-255, 255] and deviations from a median multiples of 0.5, so the medians
    and the 99th percentile come from histograms, O(pixels) with no sort. On the CPU the numpy form
    is used: torch's intra-op threads contend with the model's there (measured 10x slower in the
    decoding threads on 2 cores), numpy's partition does not."""
    import torch

    pix = torch.from_numpy(np.array(rgb, dtype=np.uint8).reshape(-1, 3)).to(device).to(torch.float32)
    a, b = pix[:, 0] - pix[:, 1], pix[:, 2] - pix[:, 1]
    n = a.numel()
    med_a = _order_statistic_interpolated(torch.histc(a, 511, -255.5, 255.5), n, 0.5, 1.0, -255.0)
    med_b = _order_statistic_interpolated(torch.histc(b, 511, -255.5, 255.5), n, 0.5, 1.0, -255.0)
    twice = torch.maximum((a - med_a).abs(), (b - med_b).abs()) * 2  # integers in [0, 1020]
    p99 = _order_statistic_interpolated(torch.histc(twice, 1021, -0.5, 1020.5), n, 0.99, 2.0, 0.0)
    return p99, float(max(abs(med_a), abs(med_b)))


def is_grayscale(rgb: np.ndarray, device: str = "cpu") -> bool:
    """True when the channels are (near-)identical up to a uniform tint; checked on `device` (the
    model's) where that is a GPU."""
    variation, tint = chroma_variation(rgb) if device == "cpu" else chroma_variation_torch(rgb, device)
    return variation <= GRAY_CHROMA_P99 and tint <= GRAY_MAX_TINT
