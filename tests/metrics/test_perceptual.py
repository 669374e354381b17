"""LPIPS: the harness's batched metric equals the `lpips` package used the package's own way, on the
same random backbone weights (torchvision's file format), for AlexNet and VGG16."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.metrics import MetricChoice, build_metrics
from tests.conftest import RemovesADirectory
from tests.metrics.networks import random_torchvision

lpips = pytest.importorskip("lpips", reason="lpips is a dependency of the harness")


@pytest.fixture(scope="module", params=["alex", "vgg"])
def backbone(request, tmp_path_factory):
    arch = {"alex": "alexnet", "vgg": "vgg16"}[request.param]
    return request.param, random_torchvision(arch, tmp_path_factory.mktemp("tv") / f"{arch}-random.pth", seed=5)


def pairs(n: int = 4, size: int = 64):
    """Ground truths (photo crops) and plausible outputs (noise, a hue shift, gray)."""
    import skimage.data

    photo = skimage.data.astronaut()
    rng = np.random.default_rng(0)
    gts = [np.ascontiguousarray(photo[40 * i: 40 * i + size, 60 * i: 60 * i + size]) for i in range(n)]
    outs = [np.clip(gts[0].astype(int) + rng.integers(-30, 31, gts[0].shape), 0, 255).astype(np.uint8),
            np.ascontiguousarray(gts[1][..., [1, 2, 0]]), np.repeat(gts[2].mean(2, keepdims=True), 3, 2).astype(
                np.uint8), gts[3][::-1].copy()]
    return gts, outs


def reference(net: str, path, gts, outs) -> np.ndarray:
    """The lpips package as its README uses it, with torchvision's network built from the same file."""
    import torchvision

    arch = {"alex": "alexnet", "vgg": "vgg16"}[net]
    real = getattr(torchvision.models, arch)

    def loaded(*args, **kwargs):  # what lpips asks torchvision for, holding the test's weights
        model = real(weights=None)
        model.load_state_dict(torch.load(path, weights_only=True))
        return model

    from unittest import mock

    with mock.patch.object(torchvision.models, arch, loaded), mock.patch.object(lpips.pretrained_networks.tv, arch,
                                                                                  loaded):
        model = lpips.LPIPS(net=net, verbose=False)
    with torch.no_grad():
        return np.array([model(lpips.im2tensor(g), lpips.im2tensor(o)).item() for g, o in zip(gts, outs)])


def test_lpips_equals_the_package_on_the_same_backbone(backbone):
    net, path = backbone
    gts, outs = pairs()
    expected = reference(net, path, gts, outs)
    assert np.ptp(expected) > 0.1 * expected.mean() > 0  # values differ from pair to pair: the check means something
    metric = build_metrics([MetricChoice.parse("lpips", {"net": net, "weights": str(path)})])[0]
    batched = metric.score_batch(torch.from_numpy(np.stack(gts)), torch.from_numpy(np.stack(outs)))["lpips"]
    assert np.abs(batched.numpy() - expected).max() <= 1e-6
    one_by_one = np.array([metric.score(g, o)["lpips"] for g, o in zip(gts, outs)])
    assert np.abs(one_by_one - expected).max() <= 1e-6
    assert metric.score(gts[0], gts[0])["lpips"] == pytest.approx(0.0, abs=1e-7)  # identical images: 0


def test_bad_backbone_files_are_refused(tmp_path, backbone):
    net, path = backbone
    state = torch.load(path, weights_only=True)
    state["features.0.weight"] = state["features.0.weight"][:, :1]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    gt, out = (p[0] for p in pairs())
    with pytest.raises(HarnessError, match=r"1 of the wrong shape \['slice1.0.weight'\]"):
        build_metrics([MetricChoice.parse("lpips", {"net": net, "weights": str(bad)})])[0].score(gt, out)
    other = "vgg" if net == "alex" else "alex"
    with pytest.raises(HarnessError, match="does not fit the LPIPS backbone"):
        build_metrics([MetricChoice.parse("lpips", {"net": other, "weights": str(path)})])[0].score(gt, out)


def features_only_alexnet(path, edit=None):
    """torchvision's AlexNet file without the classifier LPIPS drops (10 MB instead of 233 MB)."""
    import torchvision

    state = {f"features.{k}": v for k, v in torchvision.models.alexnet().features.state_dict().items()}
    if edit:
        edit(state)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("kind, expected", [
    ("text", "is not a PyTorch checkpoint"),
    ("shapes", r"does not fit the LPIPS backbone: 0 missing key\(s\) \[\], 0 unexpected \[\], 1 of the wrong shape "
               r"\['slice1.0.weight'\]"),
    ("code", "names shutil.rmtree besides tensors; refused"),
    ("other-network", "These look like zhang-eccv16 weights"),
])
def test_preflight_refuses_an_unusable_backbone_file_with_the_cause(tmp_path, kind, expected):
    """Refused before any work (the sweep then leaves LPIPS out), not image by image while scoring."""
    path, victim = tmp_path / f"{kind}.pth", tmp_path / "victim"
    victim.mkdir()
    if kind == "text":
        path.write_text("not weights\n")
    elif kind == "shapes":
        features_only_alexnet(path, lambda s: s.__setitem__("features.0.weight", s["features.0.weight"][:, :1]))
    elif kind == "code":
        features_only_alexnet(path, lambda s: s.__setitem__("features.0.weight", RemovesADirectory(victim)))
    else:
        torch.save({"model8.6.weight": torch.zeros(1), "model_out.weight": torch.zeros(2, 313, 1, 1)}, path)
    choice = MetricChoice.parse("lpips", {"weights": str(path)})
    with pytest.raises(HarnessError, match=expected) as info:
        choice.metric.preflight(choice.params)
    assert str(path) in str(info.value) and victim.is_dir()


def test_a_good_backbone_file_is_checked_once_per_version(tmp_path, monkeypatch):
    from harness.metrics.perceptual import LPIPS

    path = features_only_alexnet(tmp_path / "alex.pth")
    seen = []
    real = LPIPS.check_weights.__func__
    monkeypatch.setattr(LPIPS, "check_weights", classmethod(lambda cls, p, o: seen.append(p) or real(cls, p, o)))
    choice = MetricChoice.parse("lpips", {"weights": str(path)})
    assert choice.metric.preflight(choice.params) == path
    assert choice.metric.preflight(choice.params) == path and len(seen) == 1  # a sweep's points: one check
    features_only_alexnet(path, lambda s: s.__setitem__("features.0.bias", s["features.0.bias"] + 1))
    import os

    os.utime(path, ns=(1, 1))  # a new version of the file (other content, other mtime): checked again
    assert choice.metric.preflight(choice.params) == path and len(seen) == 2
