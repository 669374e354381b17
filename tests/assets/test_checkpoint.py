"""Loading untrusted weights files: which known model a file looks like (any family, any metric network),
and `strict_globals`, which refuses every global beyond torch's safe set for formats that are plain state
dicts (Zhang et al.'s, DDColor's, the metric networks'), where DeOldify's fastai files need stand-ins."""

from __future__ import annotations

import json

import pytest
import torch

from harness.assets.checkpoint import identify, not_this_family, safe_load
from harness.errors import HarnessError
from harness.models.registry import build_model
from tests.conftest import RemovesADirectory
from tests.models.conftest import DDCOLOR_LAYOUT_FILE, LAYOUT_FILE, ZHANG_LAYOUT_FILE


def keys(path, arch) -> dict:
    """A state dict with an upstream layout's keys (identify reads names only)."""
    return dict.fromkeys(json.loads(path.read_text())[arch])


@pytest.mark.parametrize("path, arch, expected", [
    (LAYOUT_FILE, "deep", "DeOldify Artistic weights (resnet34, deep decoder): use model deoldify-artistic"),
    (LAYOUT_FILE, "wide", "DeOldify Stable/Video weights (resnet101, wide decoder): use model deoldify-stable or "
                          "deoldify-video"),
    (ZHANG_LAYOUT_FILE, "eccv16", "zhang-eccv16 weights: use model zhang-eccv16"),
    (ZHANG_LAYOUT_FILE, "siggraph17", "zhang-siggraph17 weights: use model zhang-siggraph17"),
    (DDCOLOR_LAYOUT_FILE, "tiny", "DDColor-T (ConvNeXt-T) weights: use model ddcolor with size: tiny"),
    (DDCOLOR_LAYOUT_FILE, "large", "DDColor-L (ConvNeXt-L) weights: use model ddcolor (size: large)"),
])
def test_every_known_models_layout_is_identified(path, arch, expected):
    assert identify(keys(path, arch)) == expected


def test_metric_networks_are_identified_and_anything_else_is_not():
    import torchvision

    with torch.device("meta"):
        alex, vgg = torchvision.models.alexnet().state_dict(), torchvision.models.vgg16().state_dict()
    assert identify(alex) == "torchvision's AlexNet (the lpips metric's backbone with net: alex)"
    assert identify(vgg) == "torchvision's VGG16 (the lpips metric's backbone with net: vgg)"
    assert identify({"Mixed_7c.branch_pool.conv.weight": None}).startswith("Inception-v3 weights")
    assert identify({"conv.weight": None, "fc.bias": None}) is None
    assert not_this_family({"conv.weight": None}, "This is not a DDColor checkpoint") == \
        "This is not a DDColor checkpoint."


@pytest.fixture(scope="module")
def siggraph17_file(tmp_path_factory):
    """SIGGRAPH17's layout with torch's default init (shapes and keys only), in the official legacy format."""
    from harness.models.zhang.networks import SIGGRAPH17

    path = tmp_path_factory.mktemp("sig17") / "siggraph17.pth"
    torch.save(SIGGRAPH17().state_dict(), path, _use_new_zipfile_serialization=False)
    return path


def test_a_siggraph17_file_given_to_ddcolor_says_which_model_it_looks_like(siggraph17_file):
    with pytest.raises(HarnessError) as info:
        build_model("ddcolor", {"size": "tiny", "input_size": 64, "weights": str(siggraph17_file)}, "cpu")
    msg = str(info.value)
    assert "does not fit ddcolor" in msg
    assert "This is not a DDColor checkpoint (no ConvNeXt encoder and colour decoder keys): these look like " \
           "zhang-siggraph17 weights: use model zhang-siggraph17." in msg


def test_a_siggraph17_file_given_to_deoldify_says_so(siggraph17_file):
    with pytest.raises(HarnessError, match="these look like zhang-siggraph17 weights: use model zhang-siggraph17"):
        build_model("deoldify-artistic", {"weights": str(siggraph17_file), "render_factor": 4}, "cpu")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_strict_globals_refuse_what_the_lenient_load_would_neutralise(tmp_path, legacy):
    victim = tmp_path / "victim"
    victim.mkdir()
    path = tmp_path / "odd.pth"
    torch.save({"w": torch.ones(2), "extra": RemovesADirectory(victim)}, path,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(HarnessError, match="names shutil.rmtree besides tensors; refused"):
        safe_load(path, strict_globals=True)
    assert victim.is_dir()
    lenient = safe_load(path)  # DeOldify's fastai format needs this: the global becomes an inert stand-in
    assert torch.equal(lenient["w"], torch.ones(2)) and victim.is_dir()


def test_a_plain_state_dict_loads_under_strict_globals(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save({"w": torch.ones(3)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(safe_load(path, strict_globals=True)["w"], torch.ones(3))


@pytest.mark.parametrize("model, params, key, legacy", [
    ("zhang-eccv16", {}, "model1.0.weight", True),  # the official files' legacy format
    ("ddcolor", {"size": "tiny", "input_size": 64}, "encoder.arch.downsample_layers.0.0.weight", False),
])
def test_peer_models_refuse_a_file_that_would_unpickle_code(tmp_path, model, params, key, legacy):
    victim = tmp_path / "victim"
    victim.mkdir()
    path = tmp_path / "evil.pth"
    torch.save({key: RemovesADirectory(victim)}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(HarnessError, match="names shutil.rmtree besides tensors; refused"):
        build_model(model, {**params, "weights": str(path)}, "cpu")
    assert victim.is_dir()
