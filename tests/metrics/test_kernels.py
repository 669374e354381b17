"""The metrics' batched torch forms equal the scikit-image references on real photos (1e-6; CIEDE2000 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import harness.metrics.kernels as mt
from harness.metrics import build_metrics

PIXEL_METRICS = ["psnr", "ssim", "colorfulness", "colorfulness_hs", "delta_e"]  # the per-image metrics without a network


def variants(gt: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    noisy = np.clip(gt.astype(int) + rng.integers(-40, 41, gt.shape), 0, 255).astype(np.uint8)
    gray = np.repeat(np.asarray(gt.mean(2, keepdims=True), dtype=np.uint8), 3, axis=2)
    return [noisy, np.roll(gt, 1, axis=2), gray, gt[:, ::-1].copy()]


def reference_colorfulness(img: np.ndarray, absolute: bool = True) -> float:
    """By hand: the literature's |rg|, |yb| form (absolute) or Hasler & Süsstrunk's signed one."""
    r, g, b = (img[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    if absolute:
        rg, yb = np.abs(rg), np.abs(yb)
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                      reason="needs a CUDA GPU; none is visible")])


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_batched_metrics_match_scikit_image(name, device):
    gt = getattr(skimage.data, name)()
    outs = variants(gt)
    G = torch.from_numpy(np.stack([gt] * len(outs))).to(device)
    O = torch.from_numpy(np.stack(outs)).to(device)
    cols = {k: v for m in build_metrics(PIXEL_METRICS, device) for k, v in m.score_batch(G, O).items()}
    assert all(c.device.type == device for c in cols.values())  # scored where the model runs
    for i, out in enumerate(outs):
        assert cols["psnr"][i].item() == pytest.approx(peak_signal_noise_ratio(gt, out, data_range=255), abs=1e-6)
        ref = structural_similarity(gt, out, channel_axis=-1, data_range=255)
        assert abs(cols["ssim"][i].item() - ref) <= 1e-6
        assert abs(cols["colorfulness"][i].item() - reference_colorfulness(out)) <= 1e-6
        assert abs(cols["colorfulness_gt"][i].item() - reference_colorfulness(gt)) <= 1e-6
        assert abs(cols["colorfulness_hs"][i].item() - reference_colorfulness(out, absolute=False)) <= 1e-6
        assert abs(cols["colorfulness_hs_gt"][i].item() - reference_colorfulness(gt, absolute=False)) <= 1e-6
        de = deltaE_ciede2000(rgb2lab(gt), rgb2lab(out)).mean()
        assert abs(cols["delta_e"][i].item() - de) <= 1e-4


def test_identical_images_are_capped_not_infinite():
    img = torch.from_numpy(skimage.data.coffee()[None])
    assert mt.psnr(img, img).item() == mt.PSNR_CAP
    assert mt.ssim(img, img).item() == pytest.approx(1.0)
    assert mt.delta_e(img, img).item() == pytest.approx(0.0, abs=1e-12)


def test_ciede2000_on_sharma_reference_pairs():
    # Sharma, Wu & Dalal (2005) test data: pairs 1, 7, 17 and 25 with their published dE00
    lab1 = torch.tensor([[50.0, 2.6772, -79.7751], [50.0, 0.0, 0.0], [50.0, 2.5, 0.0], [60.2574, -34.0099, 36.2677]],
                        dtype=torch.float64)
    lab2 = torch.tensor([[50.0, 0.0, -82.7485], [50.0, -1.0, 2.0], [73.0, 25.0, -18.0], [60.4626, -34.1751, 39.4387]],
                        dtype=torch.float64)
    expected = torch.tensor([2.0425, 2.3669, 27.1492, 1.2644], dtype=torch.float64)
    assert torch.allclose(mt.ciede2000(lab1, lab2), expected, atol=1e-4)


def test_small_images_rejected_for_ssim():
    tiny = torch.zeros((1, 5, 5, 3), dtype=torch.uint8)
    with pytest.raises(ValueError, match="at least 7x7"):
        mt.ssim(tiny, tiny)
