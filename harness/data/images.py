"""Image decoding and the conversions every source shares.

Ground truth is always 8-bit RGB: EXIF orientation applied, and L/LA/P/RGBA/CMYK/16-bit
inputs normalised. The gray input made from it is `harness.gray.to_gray`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from harness.errors import ImageError

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
        data = path.read_bytes()
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


def is_grayscale(rgb: np.ndarray) -> bool:
    """True when the channels are (near-)identical up to a uniform tint."""
    variation, tint = chroma_variation(rgb)
    return variation <= GRAY_CHROMA_P99 and tint <= GRAY_MAX_TINT
