"""Every device path besides DeOldify's (tests/models/test_deoldify_gpu.py) against its CPU result on the
same inputs: Zhang ECCV16 and SIGGRAPH17, DDColor, ColorFormer, LPIPS, FID and KID, the torch scoring path, and a
whole `harness run` on CUDA whose per-image metrics match a CPU run's.

Each comparison first checks that the CPU reference varies from image to image (its colours, its
scores), so a network that gives every image the same output cannot pass vacuously. The bounds:
- pixels of a colorizer (fp32, TF32 off): at most 8 grey levels apart, on at most 1% of the pixels
  (float rounding of a different convolution algorithm, then 8-bit rounding; as DeOldify's);
- LPIPS: 1e-4 absolute; Inception features: 1e-3 relative (L2), FID 1e-3 relative; KID 1e-6
  relative (float64 kernels on the same features);
- the torch metrics: 1e-6 (CIEDE2000 1e-4) against scikit-image, as tests/metrics/test_kernels.py;
- a run's per-image scores: PSNR 0.1 dB, SSIM 2e-3, ΔE 0.1, colourfulness 0.5.

Skipped where no CUDA device is visible; run them with `python -m pytest -m gpu`. To check this
module's own code on a machine without a GPU, run it with HARNESS_GPU_TEST_DEVICE=cpu: "the device"
is then the CPU, both sides run there, and every test must pass (it proves the code paths, not the
GPU). Random weights of each architecture stand in for the official files (not downloadable here).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from harness.metrics import MetricChoice, build_metrics
from harness.models.registry import build_model, get_model_class
from tests.models.conftest import REPORT, gray

#: the device compared with the CPU: CUDA, or the CPU itself to self-check this module (see above)
DEVICE = os.environ.get("HARNESS_GPU_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(),
                                                  reason="needs a CUDA GPU; none is visible")]


@pytest.fixture(autouse=True)
def _exact(exact_fp32):
    """Every test here compares with TF32 off (tests/models/conftest.py)."""


def grays() -> list[np.ndarray]:
    """Three different gray photos of different sizes (one odd)."""
    return [gray(96, 128, seed=0), gray(120, 90, seed=3), gray(77, 101, seed=7)]


def colour_pairs(n: int = 6, size: int = 64) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ground truths (photo crops) and plausible outputs of them (noise, channel swaps, gray, flips)."""
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    rng = np.random.default_rng(0)
    gts = [np.ascontiguousarray(photos[i % 3][30 * i: 30 * i + size, 40 * i: 40 * i + size]) for i in range(n)]
    outs = []
    for i, gt in enumerate(gts):
        kind = i % 3
        if kind == 0:
            outs.append(np.clip(gt.astype(int) + rng.integers(-30, 31, gt.shape), 0, 255).astype(np.uint8))
        elif kind == 1:
            outs.append(np.ascontiguousarray(gt[..., [1, 2, 0]]))
        else:
            outs.append(np.repeat(gt.mean(2, keepdims=True), 3, 2).astype(np.uint8)[::-1].copy())
    return gts, outs


def assert_colours_vary(outputs: list[np.ndarray]) -> None:
    """The outputs carry colour that differs within each image and between images."""
    chroma = [np.stack([o[..., 0].astype(float) - o[..., 1], o[..., 2].astype(float) - o[..., 1]]) for o in outputs]
    assert all(c.std() > 0.5 for c in chroma), [c.std() for c in chroma]  # not flat
    means = np.array([c.reshape(2, -1).mean(1) for c in chroma])
    assert np.ptp(means, axis=0).max() > 0.5, means  # not the same colour cast on every image


def assert_pixels_close(name: str, ours: list[np.ndarray], cpu: list[np.ndarray]) -> None:
    assert [o.shape for o in ours] == [c.shape for c in cpu]
    worst = max(int(np.abs(o.astype(int) - c.astype(int)).max()) for o, c in zip(ours, cpu))
    differ = sum(int((o != c).any(axis=2).sum()) for o, c in zip(ours, cpu))
    pixels = sum(c.shape[0] * c.shape[1] for c in cpu)
    REPORT.append(f"{name} on {DEVICE} vs CPU (fp32, no TF32): max |diff| {worst}, {differ} of {pixels} pixels differ")
    assert worst <= 8 and differ <= pixels // 100


@pytest.mark.parametrize("model", ["zhang-eccv16", "zhang-siggraph17"])
def test_zhang_on_the_device_matches_the_cpu(model, tmp_path):
    weights = get_model_class(model).write_random_weights(tmp_path / f"{model}.pth")
    cpu = build_model(model, {"weights": str(weights)}, "cpu").colorize(grays())
    assert_colours_vary(cpu)
    ours = build_model(model, {"weights": str(weights)}, DEVICE).colorize(grays())
    assert_pixels_close(model, ours, cpu)


def test_ddcolor_on_the_device_matches_the_cpu(tiny_checkpoint):
    params = {"size": "tiny", "input_size": 64, "weights": str(tiny_checkpoint)}
    cpu = build_model("ddcolor", params, "cpu").colorize(grays())
    assert_colours_vary(cpu)
    ours = build_model("ddcolor", params, DEVICE).colorize(grays())
    assert_pixels_close("ddcolor tiny 64", ours, cpu)


def test_colorformer_on_the_device_matches_the_cpu(tmp_path):
    weights = get_model_class("colorformer").write_random_weights(tmp_path / "colorformer.pth", seed=1)
    for exact in (False, True):
        params = {"input_size": 64, "weights": str(weights), "exact": exact}
        cpu = build_model("colorformer", params, "cpu").colorize(grays())
        assert_colours_vary(cpu)
        ours = build_model("colorformer", params, DEVICE).colorize(grays())
        assert_pixels_close(f"colorformer 64 exact={exact}", ours, cpu)


def test_lpips_on_the_device_matches_the_cpu(tmp_path):
    from tests.metrics.networks import random_torchvision

    path = random_torchvision("alexnet", tmp_path / "alexnet-random.pth", seed=5)
    gts, outs = colour_pairs()
    choice = MetricChoice.parse("lpips", {"weights": str(path)})

    def distances(device):
        (metric,) = build_metrics([choice], device)
        g, o = (torch.from_numpy(np.stack(x)).to(device) for x in (gts, outs))
        return metric.score_batch(g, o)["lpips"].double().cpu().numpy()

    cpu, ours = distances("cpu"), distances(DEVICE)
    assert np.ptp(cpu) > 0.01 and np.all(cpu > 0)  # the distances differ from pair to pair
    REPORT.append(f"LPIPS (alex) on {DEVICE} vs CPU: max |diff| {np.abs(ours - cpu).max():.2e}")
    np.testing.assert_allclose(ours, cpu, rtol=0, atol=1e-4)


def test_fid_and_kid_on_the_device_match_the_cpu(inception_file):
    from harness.metrics.fid import FID, KID

    gts, outs = colour_pairs(8)
    pairs = list(zip(gts, outs))
    options = {"weights": str(inception_file)}
    cpu_fid, our_fid = (FID(FID.Params(**options), d) for d in ("cpu", DEVICE))
    cpu_rows, our_rows = cpu_fid.states(pairs).astype(np.float64), our_fid.states(pairs).astype(np.float64)
    assert np.ptp(cpu_rows, axis=0).max() > 1e-3 and np.linalg.matrix_rank(cpu_rows) > 1  # features vary by image
    rel = np.linalg.norm(our_rows - cpu_rows) / np.linalg.norm(cpu_rows)
    fid_cpu, fid_ours = cpu_fid.reduce(cpu_rows)["fid"], our_fid.reduce(our_rows)["fid"]
    kid = KID.Params(**options, subsets=10, subset_size=6)
    kid_cpu, kid_ours = KID(kid, "cpu").reduce(cpu_rows)["kid_mean"], KID(kid, DEVICE).reduce(cpu_rows)["kid_mean"]
    REPORT.append(f"Inception on {DEVICE} vs CPU: features relative L2 {rel:.2e}; FID {fid_ours:.4f} vs {fid_cpu:.4f}; "
                  f"KID (same features) {kid_ours:.6g} vs {kid_cpu:.6g}")
    assert rel <= 1e-3 and fid_cpu > 0 and abs(fid_ours - fid_cpu) <= 1e-3 * fid_cpu
    assert abs(kid_cpu) > 0 and abs(kid_ours - kid_cpu) <= 1e-6 * abs(kid_cpu)


PIXEL_METRICS = ["psnr", "ssim", "colorfulness", "delta_e"]
BOUNDS = {"psnr": 1e-6, "ssim": 1e-6, "colorfulness": 1e-6, "colorfulness_gt": 1e-6, "delta_e": 1e-4}


def test_the_torch_scoring_path_on_the_device_matches_scikit_image_on_the_cpu():
    from harness.pipeline.scoring import PairScorer

    gts, outs = colour_pairs(6)
    pairs = list(zip(gts, outs)) + [(gts[0][:50, :60].copy(), outs[0][:50, :60].copy())]  # two sizes: two groups
    reference = PairScorer(build_metrics(PIXEL_METRICS, "cpu"), "skimage", "cpu").score(pairs)
    scorer = PairScorer(build_metrics(PIXEL_METRICS, DEVICE), "torch", DEVICE)
    assert [m.name for m in scorer.on_device] == PIXEL_METRICS  # every one on the device, none on the CPU
    ours = scorer.score(pairs)
    assert not scorer.take_warnings()  # no batch fell back to the CPU
    for key, bound in BOUNDS.items():
        ref = np.array([row[key] for row in reference])
        assert np.ptp(ref) > 1e-3, key  # the scores differ from pair to pair
        np.testing.assert_allclose([row[key] for row in ours], ref, rtol=0, atol=bound, err_msg=key)


RUN_SPEC = """\
name: gpu-vs-cpu-{side}
dataset: {{source: samples}}
models:
  - name: zhang-eccv16
    weights: {weights}
metrics: [psnr, ssim, colorfulness, delta_e]
grids: {{count: 0}}
batch_size: 4
device: {device}
"""
RUN_BOUNDS = {"psnr": 0.1, "ssim": 2e-3, "delta_e": 0.1, "colorfulness": 0.5}


def per_image(uri: str, name: str, device: str, dest) -> pd.DataFrame:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    (run,) = [r for r in client.search_runs([client.get_experiment_by_name(name).experiment_id])
              if r.data.params.get("model")]
    assert run.data.params["device"].split(":")[0] == device.split(":")[0]
    dest.mkdir()
    table = pd.read_csv(client.download_artifacts(run.info.run_id, "per_image.csv", str(dest)))
    return table.set_index("image_id").sort_index()


def test_a_run_on_the_device_scores_each_image_as_a_cpu_run(write_spec, tmp_path, eccv16_checkpoint, capsys):
    from harness.cli import main

    tables = {}
    for side, device in {"reference": "cpu", "device": DEVICE}.items():
        spec = write_spec(RUN_SPEC.format(side=side, weights=eccv16_checkpoint, device=device), f"{side}.yaml")
        uri = f"sqlite:///{tmp_path / side}.db"
        assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0, capsys.readouterr().err
        tables[side] = per_image(uri, f"gpu-vs-cpu-{side}", device, tmp_path / side)
    cpu, ours = tables["reference"], tables["device"]
    assert list(ours.index) == list(cpu.index) and (cpu["status"] == "ok").sum() >= 4
    assert (ours["status"] == cpu["status"]).all()
    ok = cpu["status"] == "ok"
    worst = {}
    for key, bound in RUN_BOUNDS.items():
        assert cpu.loc[ok, key].std() > 10 * bound, key  # the images' scores differ far more than the bound
        worst[key] = float((ours.loc[ok, key] - cpu.loc[ok, key]).abs().max())
        assert worst[key] <= bound, (key, worst[key])
    REPORT.append(f"harness run on {DEVICE} vs CPU, ECCV16, per image: max |diff| "
                  + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
