"""Evaluation protocols: every metric scores the images as the protocol resizes or crops them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import tests.fake_models  # noqa: F401
from harness.data import folder
from harness.metrics import protocols
from harness.models.registry import build_model
from harness.sweep.evaluate import evaluate


def test_resize256_psnr_equals_scikit_image_on_images_resized_the_same_way(photo_dir):
    ds = folder.build(photo_dir)
    model = build_model("fake-tint", {"strength": 0.3})
    native = evaluate(ds, model, ["psnr", "ssim"]).rows.set_index("image_id")
    paper = evaluate(ds, model, ["psnr", "ssim"], protocol="resize256").rows.set_index("image_id")
    from harness.data.images import decode_rgb
    from harness.gray import to_gray

    for image_id in native.index[native.status == "ok"]:
        gt = decode_rgb(native.loc[image_id, "path"])
        out = model.colorize([to_gray(gt)])[0]

        def resized(img):
            return np.asarray(Image.fromarray(img).resize((256, 256), Image.Resampling.BICUBIC))

        g, o = resized(gt), resized(out)
        assert paper.loc[image_id, "psnr"] == pytest.approx(peak_signal_noise_ratio(g, o, data_range=255), abs=1e-9)
        assert paper.loc[image_id, "ssim"] == pytest.approx(structural_similarity(g, o, channel_axis=-1,
                                                                                   data_range=255), abs=1e-9)
        assert paper.loc[image_id, "psnr"] != native.loc[image_id, "psnr"]  # a different resolution, other numbers
        assert (paper.loc[image_id, "width"], paper.loc[image_id, "height"]) == (gt.shape[1], gt.shape[0])


@pytest.mark.parametrize("shape, box", [((100, 60), (20, 0, 60, 60)), ((61, 90), (0, 14, 61, 61)), ((64, 64), (0, 0, 64, 64))])
def test_center_crop_takes_the_central_square_then_256(shape, box):
    img = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    top, left, height, width = box
    square = img[top:top + height, left:left + width]
    assert np.array_equal(protocols.center_square(img), square)
    expected = np.asarray(Image.fromarray(square).resize((256, 256), Image.Resampling.BICUBIC))
    assert np.array_equal(protocols.apply("center_crop256", img), expected)
    assert protocols.apply("native", img) is img
    with pytest.raises(ValueError, match="unknown protocol"):
        protocols.apply("resize512", img)
