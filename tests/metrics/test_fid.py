"""FID and KID: the harness's streaming numbers equal pytorch-fid's and torchmetrics' on the same
random Inception weights (pytorch-fid's file format) and the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import tests.fake_models  # noqa: F401
from harness.data import folder
from harness.errors import HarnessError
from harness.metrics import MetricChoice
from harness.metrics.fid import frechet_distance, kid_subsets, trace_sqrt_product
from harness.models.registry import build_model
from harness.sweep.evaluate import evaluate
from tests.conftest import COCO_SAMPLE, small_photos

pytest.importorskip("pytorch_fid", reason="pytorch-fid is a dependency of the harness")


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory):
    """12 colour photos of different sizes: the shared COCO sample's first ones, else scikit-image crops."""
    root = tmp_path_factory.mktemp("photos")
    if COCO_SAMPLE.is_dir():
        for path in sorted((COCO_SAMPLE / "images").glob("*.jpg"))[:14]:
            Image.open(path).convert("RGB").save(root / f"{path.stem}.png")
    else:
        import skimage.data

        for i, name in enumerate(["astronaut", "chelsea", "coffee", "rocket"] * 3):
            img = getattr(skimage.data, name)()
            Image.fromarray(img[i * 7: img.shape[0] // 2 + i * 11, i * 5: img.shape[1] // 2 + i * 13]).save(
                root / f"{i:02d}.png")
    return root


def reference_fid(inception_file, gt_files, out_files):
    """pytorch-fid end to end: its network, its image loading, its activations and its distance."""
    from unittest import mock

    import pytorch_fid.inception as fid
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations

    state = torch.load(inception_file, weights_only=True)
    with mock.patch.object(fid, "load_state_dict_from_url", lambda *a, **k: state):
        model = fid.InceptionV3([3]).eval()
    acts = [get_activations([str(p) for p in files], model, batch_size=1, dims=2048, device="cpu", num_workers=0)
            for files in (gt_files, out_files)]
    stats = [(a.mean(axis=0), np.cov(a, rowvar=False)) for a in acts]
    return calculate_frechet_distance(*stats[0], *stats[1]), acts


def test_fid_equals_pytorch_fid_end_to_end(inception_file, photos_dir, tmp_path):
    ds = folder.build(photos_dir)
    model = build_model("fake-tint", {"strength": 0.35})
    metric = MetricChoice.parse("fid", {"weights": str(inception_file)})
    result = evaluate(ds, model, ["psnr", metric], batch_size=4)
    ok = result.rows[result.rows.status == "ok"]
    assert len(ok) >= 10
    from harness.data.images import decode_rgb
    from harness.gray import to_gray

    gt_files, out_files = [], []
    for i, path in enumerate(ok["path"]):
        gt = decode_rgb(path)
        out = model.colorize([to_gray(gt)])[0]
        gt_files.append(tmp_path / f"gt{i}.png")
        out_files.append(tmp_path / f"out{i}.png")
        Image.fromarray(gt).save(gt_files[-1])
        Image.fromarray(out).save(out_files[-1])
    expected, (real, fake) = reference_fid(inception_file, gt_files, out_files)
    assert np.std(real, axis=0).mean() > 1e-2 * np.abs(real).mean()  # features vary from photo to photo
    assert expected > 1.0 and np.isfinite(expected)  # far from 0: the comparison means something
    assert result.summary["fid"] == pytest.approx(expected, rel=1e-4)
    assert result.summary["n_fid"] == len(ok)
    assert "biased upward" in result.notes["fid"]


def test_kid_equals_torchmetrics_on_the_same_features():
    torchmetrics = pytest.importorskip("torchmetrics.image.kid", reason="torchmetrics is a test dependency")
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 32)) + 0.3
    fake = rng.normal(size=(50, 32)) * 1.2

    class Features(torch.nn.Module):  # the "images" torchmetrics is given are already features
        def forward(self, x):
            return x

    kid = torchmetrics.KernelInceptionDistance(feature=Features(), subsets=20, subset_size=40, normalize=False)
    kid.update(torch.from_numpy(real), real=True)
    kid.update(torch.from_numpy(fake), real=False)
    torch.manual_seed(11)
    mean, std = kid.compute()
    ours = kid_subsets(real, fake, subsets=20, subset_size=40, seed=11)
    assert abs(ours.mean() - mean.item()) <= 1e-6 and abs(ours.std() - std.item()) <= 1e-6
    assert mean.item() > 3 * std.item() > 0  # a real difference, measured consistently


def numpy_kid(real, fake, subsets, subset_size, seed):
    """KID's subsets as numpy computes them (float64 kernels), drawn with the same seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    m, gamma, scores = min(subset_size, len(real), len(fake)), 1.0 / real.shape[1], []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=gen)[:m].numpy()]
        y = fake[torch.randperm(len(fake), generator=gen)[:m].numpy()]
        k_xx, k_yy, k_xy = ((a @ b.T * gamma + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        scores.append(within - 2 * k_xy.sum() / m ** 2)
    return np.asarray(scores)


KID_DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; none is visible")])]


@pytest.mark.parametrize("device", KID_DEVICES)
def test_kid_kernels_run_on_the_features_device_and_equal_numpy(device):
    rng = np.random.default_rng(3)
    real = np.abs(rng.normal(size=(90, 64))) + 0.2  # pool3 features are non-negative (after ReLU, average pool)
    fake = np.abs(rng.normal(size=(80, 64))) * 1.3
    expected = numpy_kid(real, fake, subsets=15, subset_size=50, seed=7)
    on_arrays = kid_subsets(real, fake, subsets=15, subset_size=50, seed=7, device=device)
    on_tensors = kid_subsets(torch.from_numpy(real).to(device), torch.from_numpy(fake).to(device), subsets=15,
                             subset_size=50, seed=7)  # the tensors' own device
    assert np.all(np.abs(expected) > 1e-3)  # far from 0, so the relative bound means something
    for ours in (on_arrays, on_tensors):
        assert isinstance(ours, np.ndarray) and ours.shape == (15,)
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=0)
    assert np.ptp(expected) > 0  # the subsets differ: the draw is compared, not one subset 15 times


def test_kid_reduces_on_the_cpu_where_the_metric_device_has_no_gpu(monkeypatch):
    from harness.metrics import fid

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fid._reduce_device("cuda") == "cpu" and fid._reduce_device("cpu") == "cpu"


def test_kid_and_fid_share_one_feature_extraction(inception_file, photos_dir, monkeypatch):
    import harness.metrics.fid as fid_module

    calls = []
    real = fid_module.inception_features
    monkeypatch.setattr(fid_module, "inception_features", lambda net, imgs, dev: calls.append(len(imgs))
                        or real(net, imgs, dev))
    options = {"weights": str(inception_file)}
    metrics = [MetricChoice.parse("fid", options), MetricChoice.parse("kid", {**options, "subsets": 5})]
    result = evaluate(folder.build(photos_dir), build_model("grayscale"), metrics, batch_size=6)
    n = int(result.summary["n_scored"])
    assert sum(calls) == 2 * n  # each image once as ground truth, once as output: not once per metric
    assert np.isfinite(result.summary["kid_mean"]) and result.summary["kid_std"] >= 0 and result.summary["fid"] > 0


@pytest.mark.parametrize("n, d", [(40, 64), (90, 64)], ids=["fewer-images-than-dims", "more-images-than-dims"])
def test_the_exact_trace_equals_scipys_sqrtm(n, d):
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n + 5, d)) * 0.7 + 0.2
    covmean = linalg.sqrtm(np.cov(a, rowvar=False) @ np.cov(b, rowvar=False))
    assert trace_sqrt_product(a, b) == pytest.approx(np.trace(covmean).real, rel=1e-8)
    from pytorch_fid.fid_score import calculate_frechet_distance

    expected = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    # 1e-6, not 1e-8: with fewer images than dimensions the product of covariances is singular and
    # scipy's iterative sqrtm (pytorch-fid's path) is itself only good to ~1e-8 relative (measured 1.2e-8
    # with scipy 1.17); the issue asks for 1e-4.
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_of_fewer_than_two_images_is_nan_with_its_reason(inception_file, tmp_path):
    (tmp_path / "one").mkdir()
    Image.fromarray(small_photos()["astronaut.png"]).save(tmp_path / "one" / "a.png")
    result = evaluate(folder.build(tmp_path / "one"), build_model("grayscale"),
                      ["psnr", MetricChoice.parse("fid", {"weights": str(inception_file)})])
    assert result.summary["n_scored"] == 1 and np.isnan(result.summary["fid"])
    assert result.notes["fid"] == "ValueError: FID needs at least 2 scored images; this run has 1"


@pytest.mark.parametrize("kind, expected", [
    ("text", "not a PyTorch checkpoint"),
    ("shapes", "does not fit pytorch-fid's FID Inception"),
    ("code", "refused"),  # a global torch blocks itself (os.system)
    ("code-unblocked", "names shutil.rmtree besides tensors; refused"),  # one torch does not block
    ("other-network", "These look like torchvision's AlexNet"),
])
def test_bad_inception_files_are_refused_with_the_cause(tmp_path, inception_file, kind, expected):
    """Refused at the metric's preflight (before any work: the sweep leaves FID and KID out) with the cause."""
    import os
    import shutil

    path = tmp_path / f"{kind}.pth"
    marker, victim = tmp_path / "ran", tmp_path / "victim"
    victim.mkdir()
    if kind == "text":
        path.write_text("not weights\n")
    elif kind == "shapes":
        state = torch.load(inception_file, weights_only=True)
        state["fc.weight"] = torch.zeros(10, 2048)
        torch.save(state, path)
    elif kind == "other-network":
        torch.save({"features.10.weight": torch.zeros(1), "classifier.6.weight": torch.zeros(1)}, path)
    else:
        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",)) if kind == "code" else (shutil.rmtree, (str(victim),))

        torch.save({"fc.weight": Evil()}, path)
    for name in ("fid", "kid"):
        choice = MetricChoice.parse(name, {"weights": str(path)})
        with pytest.raises(HarnessError, match=expected) as info:
            choice.metric.preflight(choice.params)
        assert str(path) in str(info.value)
    assert not marker.exists() and victim.is_dir()
