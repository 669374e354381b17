"""ColorFormer without the upstream reference: parameters, layout, strict loading, the resize-back step, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.models.registry import build_model, get_model_class, parse_params
from tests.models.conftest import COLORFORMER_LAYOUT_FILE, gray, layout_of, reference_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random weights in the official file's layout, BasicSR's {'params': state_dict}, written by the test."""
    return get_model_class("colorformer").write_random_weights(tmp_path_factory.mktemp("cf") / "net_g.pth", seed=2)


def small(path, **params):
    return build_model("colorformer", {"input_size": 64, "weights": str(path), **params}, "cpu")


def test_defaults_and_the_official_file():
    cls = get_model_class("colorformer")
    p = cls.Params()
    assert (p.input_size, p.precision, p.exact, p.weights) == (256, "fp32", False, None)
    item = cls.variant.official_weights(p)
    assert item.filename == "colorformer_net_g_200000.pth" and item.sha256 is None and item.size is None
    assert "unverified" in item.source and "drive.google.com" in item.source


@pytest.mark.parametrize("bad", [0, 16, 100, 250, 4096])
def test_input_size_must_be_a_multiple_of_32(bad):
    with pytest.raises(HarnessError, match="input_size"):
        parse_params("colorformer", {"input_size": bad})


def test_layout_is_upstreams():
    """Every name, shape and dtype of upstream's state dict (keys_colorformer.txt, kept in tests/models/data)."""
    from harness.models.colorformer.network import build

    with torch.device("meta"):
        ours = layout_of(build().state_dict())
    expected = json.loads(COLORFORMER_LAYOUT_FILE.read_text())["colorformer"]
    assert ours == expected
    assert len(ours) == 329


def test_layout_matches_the_reference_listing():
    from harness.models.colorformer.network import build
    from harness.tools.upstream import reference

    listing = reference.reference_dir() / "keys_colorformer.txt"
    if not listing.is_file():
        pytest.skip(f"{listing} not found: {reference.FETCH_HINT}")
    with torch.device("meta"):
        assert layout_of(build().state_dict()) == reference_layout(listing)


def test_checkpoint_is_basicsr_layout_and_loads_strictly(checkpoint):
    raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert list(raw) == ["params"] and len(raw["params"]) == 329
    out = small(checkpoint).colorize([gray(64, 64), gray(40, 90, seed=1)])
    assert [o.shape for o in out] == [(64, 64, 3), (40, 90, 3)] and all(o.dtype == np.uint8 for o in out)


def test_a_wrong_key_is_refused_naming_it(checkpoint, tmp_path):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["params"]
    state["seg_decoder.layers.3.proj_k.weight"] = state.pop("seg_decoder.layers.3.proj_q.weight")
    bad = tmp_path / "renamed.pth"
    torch.save({"params": state}, bad)
    with pytest.raises(HarnessError) as info:
        small(bad)
    msg = str(info.value)
    assert "seg_decoder.layers.3.proj_q.weight" in msg and "seg_decoder.layers.3.proj_k.weight" in msg


def test_the_backbone_alone_is_named(tmp_path):
    from harness.models.colorformer.network import build

    glh = tmp_path / "GLH.pth"
    torch.save(build().encoder.arch.state_dict(), glh)
    with pytest.raises(HarnessError, match="GLH backbone alone"):
        small(glh)


def test_a_pickled_object_is_refused(tmp_path):
    import pickle

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"params": {"x": object()}}))
    with pytest.raises(HarnessError):
        small(evil)


def test_centre_files_are_read_without_pickle(tmp_path):
    from harness.models.colorformer.checkpoint import read_centres

    np.save(tmp_path / "c.npy", np.full((4, 512, 2), -200.0))
    np.save(tmp_path / "s.npy", np.ones((512, 64), np.float32))
    colours, semantic = read_centres(tmp_path / "c.npy", tmp_path / "s.npy")
    assert colours.dtype == torch.int64 and int(colours.min()) == 0 and semantic.shape == (512, 64)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        read_centres(tmp_path / "o.npy", tmp_path / "s.npy")


def test_resize_back_joins_the_original_lightness():
    """The harness's step after upstream's: ab (2, S, S) resized bilinearly to the image's H x W and joined
    with the original gray image's own L; the output's Lab has that L and that ab (up to 8-bit rounding)."""
    from skimage.color import rgb2lab

    from harness.models.colorformer import engine
    from harness.models.imageops import upload

    g = gray(48, 80, seed=3)
    ab = torch.stack([torch.linspace(-6, 6, 32)[None].expand(32, -1), torch.full((32, 32), 3.0)])
    out = engine.finish(ab, upload(g, "cpu"))
    assert out.shape == (48, 80, 3)
    lab = rgb2lab(out.astype(np.float32) / 255)
    expected_ab = torch.nn.functional.interpolate(ab[None], size=(48, 80), mode="bilinear", align_corners=False)[0]
    light = engine.tables()[0][g]
    inside = (light > 25) & (light < 90)  # in gamut: the clip to [0, 1] leaves L and ab alone
    assert inside.mean() > 0.5
    assert np.abs(lab[..., 0] - light)[inside].max() < 1.0  # the original image's L, not the 32 x 32 one's
    assert np.abs(lab[..., 1:] - expected_ab.permute(1, 2, 0).numpy())[inside].max() < 2.5
    same = engine.finish(ab, upload(np.full((32, 32), 128, np.uint8), "cpu"))  # S x S: no resize at all
    assert np.abs(rgb2lab(same.astype(np.float32) / 255)[..., 1:] - ab.permute(1, 2, 0).numpy()).max() < 2.5


def test_default_and_exact_agree(checkpoint):
    """They differ only in the resize to S x S (torch's bilinear rounded, OpenCV's fixed point): a grey level of
    input here and there, which the network turns into a few levels of colour on a few pixels."""
    grays = [gray(50, 70), gray(90, 60, seed=4)]
    a = small(checkpoint).colorize(grays)
    b = small(checkpoint, exact=True).colorize(grays)
    diffs = [np.abs(x.astype(int) - y.astype(int)) for x, y in zip(a, b)]
    assert max(int(d.max()) for d in diffs) <= 3
    assert sum(int((d > 1).sum()) for d in diffs) <= sum(d.size for d in diffs) // 100


def test_non_square_network_input_is_an_error():
    from harness.models.colorformer.network import build

    with pytest.raises(ValueError, match="square"):
        build()(torch.zeros(1, 3, 64, 96))


def test_missing_official_file_says_to_place_it_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.delenv("HARNESS_OFFLINE", raising=False)
    with pytest.raises(HarnessError) as info:
        build_model("colorformer", {}, "cpu")
    text = f"{info.value} {info.value.hint}"
    assert "no direct download link" in text and "drive.google.com" in text and "Download it by hand" in text
    assert str(tmp_path / "weights" / "colorformer_net_g_200000.pth") in text
