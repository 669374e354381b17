"""Decoding, normalisation to 8-bit RGB, gray conversion and grayscale detection."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from harness.data.images import chroma_variation, decode_rgb, from_array, is_grayscale
from harness.errors import ImageError
from harness.gray import to_gray
from tests.conftest import COCO_SAMPLE, small_photos


def save(tmp_path, img: Image.Image, name: str, **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


def test_gray_is_itu_601_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], dtype=np.uint8)
    expected = np.round(rgb @ np.array([0.299, 0.587, 0.114]))
    assert np.abs(to_gray(rgb).astype(int) - expected).max() <= 1
    assert to_gray(rgb).dtype == np.uint8 and to_gray(rgb).shape == (1, 4)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "RGB"])
def test_modes_become_rgb_uint8(tmp_path, mode):
    base = Image.fromarray(small_photos()["astronaut.png"])
    img = base.convert(mode)
    ext = "tiff" if mode == "CMYK" else "png"
    out = decode_rgb(save(tmp_path, img, f"x.{ext}"))
    assert out.dtype == np.uint8 and out.shape == (64, 96, 3)
    if mode == "RGB":
        np.testing.assert_array_equal(out, small_photos()["astronaut.png"])


def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    arr = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = decode_rgb(path)
    assert out.dtype == np.uint8 and out.shape == (32, 64, 3)
    assert out.max() == 255 and out.min() == 0
    assert abs(int(out[16, 32, 0]) - round(arr[16, 32] / 257)) <= 1


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :20] = (255, 0, 0)  # red left half, landscape
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif, quality=100)
    out = decode_rgb(path)
    assert out.shape == (40, 20, 3)  # portrait after orientation
    assert out[2, 10, 0] > 200 and out[-3, 10, 0] < 60  # red now on top


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"hello, not an image", "not_an_image"),
])
def test_bad_files_raise_image_error(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        decode_rgb(path)
    assert info.value.reason == reason and "bad.jpg" in info.value.detail


def test_truncated_and_missing(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(small_photos()["chelsea.jpg"]).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:400])
    with pytest.raises(ImageError) as info:
        decode_rgb(path)
    assert info.value.reason == "corrupt"
    with pytest.raises(ImageError) as info:
        decode_rgb(tmp_path / "nope.png")
    assert info.value.reason == "missing"


def test_from_array_shapes():
    assert from_array(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert from_array(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    assert from_array(np.ones((4, 5), bool)).max() == 255
    with pytest.raises(ImageError):
        from_array(np.zeros((4, 5), np.float32))


def test_grayscale_detection_on_synthetic_inputs():
    photo = small_photos()["coffee.png"]
    gray = np.repeat(to_gray(photo)[..., None], 3, axis=2)
    assert is_grayscale(gray)
    assert not is_grayscale(photo)
    # a uniform sepia tone on a gray photo is still monochrome
    toned = np.clip(gray.astype(int) + np.array([18, 6, -10]), 0, 255).astype(np.uint8)
    assert is_grayscale(toned)
    # JPEG chroma noise on a gray photo does not make it colour
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="JPEG", quality=75)
    assert is_grayscale(np.asarray(Image.open(buf).convert("RGB")))
    # a solid saturated colour is not "gray with a tint"
    assert not is_grayscale(np.full((8, 8, 3), (255, 0, 0), np.uint8))


def chroma_spread(deviation: int, share: float = 0.03) -> np.ndarray:
    """A mid-gray image in which `share` of the pixels have R - G = `deviation` (the rest R = G = B)."""
    img = np.full((50, 100, 3), 120, np.uint8)
    img.reshape(-1, 3)[: int(share * img.shape[0] * img.shape[1]), 0] += deviation
    return img


def tinted(tint: int) -> np.ndarray:
    """A gray gradient with R = G + `tint` everywhere: a uniform cast, no chroma spread."""
    ramp = np.tile(np.linspace(40, 180, 100).astype(np.uint8), (50, 1))
    img = np.repeat(ramp[..., None], 3, axis=2)
    img[..., 0] += tint
    return img


# The documented thresholds (README, images.py) are pinned here as numbers: moving one must fail a test.
@pytest.mark.parametrize("deviation, gray", [(7, True), (8, True), (9, False), (17, False)])
def test_chroma_spread_threshold_boundary(deviation, gray):
    """The 99th percentile of chroma deviation: up to 8 levels is gray, 9 is colour."""
    img = chroma_spread(int(deviation))
    assert chroma_variation(img) == (deviation, 0.0)
    assert is_grayscale(img) is gray


@pytest.mark.parametrize("tint, gray", [(16, True), (40, True), (41, False), (70, False)])
def test_uniform_tint_threshold_boundary(tint, gray):
    """A uniform cast up to 40 levels is toned monochrome; 41 is a colour."""
    img = tinted(int(tint))
    assert chroma_variation(img) == (0.0, tint)
    assert is_grayscale(img) is gray


def test_a_rare_deviation_under_one_percent_is_ignored():
    assert is_grayscale(chroma_spread(100, share=0.005))  # 0.5% of pixels: JPEG noise, a dust speck
    assert not is_grayscale(chroma_spread(100, share=0.02))


@pytest.mark.skipif(not COCO_SAMPLE.is_dir(), reason="../shared/data/coco-sample is absent (only in the dev workspace)")
def test_grayscale_detection_on_real_coco_photos():
    images = sorted((COCO_SAMPLE / "images").glob("*.jpg"))
    gray = {p.name for p in images if is_grayscale(decode_rgb(p))}
    # 086 is stored as a one-channel JPEG, 328 as RGB with identical channels, 359 is a
    # warm-toned monochrome street scene; all other 61 photos are in colour.
    assert gray == {"000000000086.jpg", "000000000328.jpg", "000000000359.jpg"}
    birds = decode_rgb(COCO_SAMPLE / "images" / "000000000143.jpg")  # the most muted colour photo
    assert chroma_variation(birds)[0] > 2 * 8.0


def test_the_device_form_of_the_grayscale_check_equals_numpys_to_the_last_bit():
    """The form a GPU run uses, run here on the CPU: every photo of the COCO sample (when present), the
    bundled photos, and random images of odd sizes (odd and even pixel counts, one-pixel images)."""
    import skimage.data

    from harness.data.images import chroma_variation_torch

    rng = np.random.default_rng(0)
    images = [np.ascontiguousarray(skimage.data.astronaut()), skimage.data.chelsea(), skimage.data.coffee()]
    images += [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(1, 1), (1, 2), (2, 3), (7, 7), (13, 101)]]
    images += [np.clip(128 + rng.normal(0, s, (64, 65, 3)), 0, 255).astype(np.uint8) for s in (0.5, 2, 5, 9)]
    images += [np.asarray(Image.open(p).convert("RGB")) for p in sorted(COCO_SAMPLE.rglob("*.jpg"))]
    results = [(chroma_variation(x), chroma_variation_torch(x, "cpu")) for x in images]
    assert [numpy for numpy, torch_form in results if numpy != torch_form] == []
    assert len({numpy for numpy, _ in results}) > 10  # the images differ: the comparison is not vacuous
