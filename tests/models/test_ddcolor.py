"""DDColor without the upstream reference: parameters, layout, loading, shapes, batching, errors, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.cli import main
from harness.errors import HarnessError
from harness.models.registry import build_model, get_model_class, parse_params
from tests.models.conftest import gray

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(checkpoint, **params):
    return build_model("ddcolor", {"size": "tiny", "input_size": 64, "weights": str(checkpoint), **params}, "cpu")


# --- parameters -------------------------------------------------------------------------------

def test_defaults_and_the_official_file_each_setting_uses():
    cls = get_model_class("ddcolor")
    p = cls.Params()
    assert (p.size, p.weights_variant, p.input_size, p.precision, p.weights) == ("large", "modelscope", 512, "fp32", None)
    assert cls.Params(size="tiny").weights_variant == "paper_tiny"  # tiny defaults to its only checkpoint
    for size, variant in [("large", "paper"), ("large", "modelscope"), ("large", "artistic"), ("tiny", "paper_tiny")]:
        item = cls.variant.official_weights(cls.Params(size=size, weights_variant=variant))
        assert item.filename == f"ddcolor_{variant}.bin"
        assert item.urls == (f"https://huggingface.co/piddnad/ddcolor_{variant}/resolve/main/pytorch_model.bin",)


@pytest.mark.parametrize("size,variant", [("tiny", "modelscope"), ("tiny", "paper"), ("tiny", "artistic"),
                                          ("large", "paper_tiny")])
def test_impossible_size_and_checkpoint_is_an_error_naming_both(size, variant):
    settings = {"weights_variant": variant} if size == "large" else {"size": size, "weights_variant": variant}
    with pytest.raises(HarnessError) as info:
        parse_params("ddcolor", settings)
    msg = str(info.value)
    assert f"weights_variant '{variant}'" in msg and f"size '{size}'" in msg


@pytest.mark.parametrize("bad", [0, 16, 100, 250, 4096, "big"])
def test_input_size_must_be_a_multiple_of_32_in_range(bad):
    with pytest.raises(HarnessError, match="input_size"):
        parse_params("ddcolor", {"input_size": bad})


@pytest.mark.parametrize("good", [32, 256, 288, 512, 1024])
def test_input_size_accepted(good):
    assert parse_params("ddcolor", {"input_size": good}).input_size == good


def test_input_size_and_size_are_sweep_axes(write_spec):
    from harness.sweep.points import load_spec

    text = ("name: t\ndataset:\n  source: samples\nmodels:\n  - name: ddcolor\n    size: [tiny, large]\n"
            "    input_size: [256, 512]\n")
    points = load_spec(write_spec(text)).points
    assert sorted((p.resolved["size"], p.resolved["input_size"], p.resolved["weights_variant"]) for p in points) == [
        ("large", 256, "modelscope"), ("large", 512, "modelscope"),
        ("tiny", 256, "paper_tiny"), ("tiny", 512, "paper_tiny")]


def test_unknown_parameter_is_named():
    with pytest.raises(HarnessError, match="Did you mean 'input_size'"):
        parse_params("ddcolor", {"input_sise": 256})


# --- architecture and loading ------------------------------------------------------------------

def test_random_weights_are_an_official_style_raw_state_dict(tiny_checkpoint):
    from harness.assets.checkpoint import safe_load

    state = safe_load(tiny_checkpoint)
    assert type(state).__name__ == "OrderedDict" and all(isinstance(v, torch.Tensor) for v in state.values())
    assert len(state) == 440 and "refine_net.0.0.weight_orig" in state
    assert torch.allclose(state["mean"].flatten(), torch.tensor([0.485, 0.456, 0.406]))  # ImageNet's, kept
    # converged spectral norms: u.Wv is (within 1%) W's largest singular value, not the ~0 of random vectors
    w = state["decoder.layers.0.conv.0.weight_orig"].flatten(1)
    sigma = state["decoder.layers.0.conv.0.weight_u"] @ w @ state["decoder.layers.0.conv.0.weight_v"]
    assert torch.isclose(sigma, torch.linalg.matrix_norm(w, ord=2), rtol=1e-2)


def _variant_file(tmp_path, tiny_checkpoint, edit) -> str:
    from harness.assets.checkpoint import safe_load

    state = safe_load(tiny_checkpoint)
    edit(state)
    path = tmp_path / "edited.bin"
    torch.save(state, path)
    return str(path)


@pytest.mark.parametrize("edit,named", [
    (lambda s: s.pop("decoder.color_decoder.level_embed.weight"), "1 missing key(s) "
                                                                 "['decoder.color_decoder.level_embed.weight']"),
    (lambda s: s.__setitem__("decoder.extra.weight", torch.zeros(3)), "1 unexpected ['decoder.extra.weight']"),
    (lambda s: s.__setitem__("decoder.color_decoder.query_feat.weight", torch.zeros(99, 256)),
     "1 of the wrong shape ['decoder.color_decoder.query_feat.weight (99, 256) (expected (100, 256))']"),
], ids=["missing", "extra", "misshaped"])
def test_strict_loading_names_the_key(tmp_path, tiny_checkpoint, edit, named):
    with pytest.raises(HarnessError) as info:
        tiny(_variant_file(tmp_path, tiny_checkpoint, edit))
    assert named in str(info.value)


def test_basicsr_params_wrapper_loads(tmp_path, tiny_checkpoint):
    """Training checkpoints (and ModelScope's pytorch_model.pt) nest the state dict under 'params'."""
    from harness.assets.checkpoint import safe_load

    path = tmp_path / "net_g.pth"
    torch.save({"params": safe_load(tiny_checkpoint)}, path)
    a, b = tiny(path).colorize([gray(40, 50)]), tiny(tiny_checkpoint).colorize([gray(40, 50)])
    assert np.array_equal(a[0], b[0])


def test_a_tiny_checkpoint_given_to_large_says_so(tiny_checkpoint):
    from harness.assets.checkpoint import load_into
    from harness.models.ddcolor.checkpoint import likely_cause
    from harness.models.ddcolor.network import build

    with torch.device("meta"):  # shapes only: the mismatch is found before any tensor is copied
        large = build("large")
    with pytest.raises(HarnessError) as info:
        load_into(large, tiny_checkpoint, "ddcolor", lambda state: likely_cause(state, "large"))
    msg = str(info.value)
    assert "does not fit ddcolor" in msg and "DDColor-T" in msg and "size: tiny" in msg


@pytest.mark.parametrize("model, params", [("deoldify-artistic", {"render_factor": 4}), ("zhang-eccv16", {})])
def test_a_ddcolor_file_given_to_another_family_says_which_model_it_looks_like(tiny_checkpoint, model, params):
    with pytest.raises(HarnessError) as info:
        build_model(model, {**params, "weights": str(tiny_checkpoint)}, "cpu")
    msg = str(info.value)
    assert f"does not fit {model}" in msg
    assert "checkpoint (" in msg
    assert ": these look like DDColor-T (ConvNeXt-T) weights: use model ddcolor with size: tiny." in msg


@pytest.mark.parametrize("state,expected", [
    ({"encoder.arch.downsample_layers.0.0.weight": torch.zeros(192, 3, 4, 4),
      "decoder.color_decoder.query_feat.weight": torch.zeros(100, 256)}, "DDColor-L (ConvNeXt-L): use size: large"),
    ({"features.0.weight": torch.zeros(4, 3, 3, 3)}, "not a DDColor checkpoint"),
    ({"module.encoder.arch.downsample_layers.0.0.weight": torch.zeros(96, 3, 4, 4)}, "prefix (module.)"),
], ids=["large-to-tiny", "other-model", "prefixed"])
def test_likely_cause(state, expected):
    from harness.models.ddcolor.checkpoint import likely_cause

    assert expected in likely_cause(state, "tiny")


def test_missing_official_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    cls = get_model_class("ddcolor")
    with pytest.raises(HarnessError) as info:
        cls.preflight(cls.Params(size="tiny"))
    msg = str(info.value)
    assert "ddcolor_paper_tiny.bin" in msg and "piddnad/ddcolor_paper_tiny" in msg and str(tmp_path) in msg


# --- running ----------------------------------------------------------------------------------

def test_shapes_for_odd_and_mixed_sizes(tiny_checkpoint):
    grays = [gray(37, 61), gray(64, 64, 1), gray(90, 33, 2), gray(5, 8, 3)]
    outs = tiny(tiny_checkpoint).colorize(grays)
    assert [o.shape for o in outs] == [(37, 61, 3), (64, 64, 3), (90, 33, 3), (5, 8, 3)]
    assert all(o.dtype == np.uint8 and o.flags.c_contiguous for o in outs)
    colour = np.abs(outs[0].astype(int) - grays[0][..., None]).mean()
    assert colour > 5  # the random weights give real colour, not gray


def test_output_keeps_the_input_lightness(tiny_checkpoint):
    """The model predicts ab only; L comes from the input (up to gamut clipping and uint8 rounding)."""
    import cv2

    g = gray(80, 120, 4)
    out = tiny(tiny_checkpoint).colorize([g])[0]
    l_out = cv2.cvtColor(out.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 0]
    l_in = cv2.cvtColor(np.repeat(g[..., None], 3, 2).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 0]
    assert np.median(np.abs(l_out - l_in)) < 0.5


def test_the_batch_is_one_forward_pass(tiny_checkpoint, monkeypatch):
    from harness.models.ddcolor.network import DDColorNet

    model = tiny(tiny_checkpoint)
    assert model.describe_run() == {"forward_batch": "0", "batching": "the runner's batch in one forward pass"}
    seen = []
    real = DDColorNet.forward
    monkeypatch.setattr(DDColorNet, "forward", lambda self, x: seen.append(tuple(x.shape)) or real(self, x))
    model.colorize([gray(30 + i, 40, i) for i in range(5)])
    assert seen == [(5, 3, 64, 64)]
    assert model.describe_run()["forward_batch"] == "5"


def test_fp16_on_cpu_is_a_clear_error(tiny_checkpoint):
    with pytest.raises(HarnessError, match="fp16 needs a CUDA"):
        tiny(tiny_checkpoint, precision="fp16")


def test_bf16_runs_on_the_cpu_close_to_fp32(tiny_checkpoint):
    grays = [gray(48, 64, 5), gray(64, 48, 6)]
    fp32, bf16 = tiny(tiny_checkpoint).colorize(grays), tiny(tiny_checkpoint, precision="bf16").colorize(grays)
    diff = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(fp32, bf16)])
    signal = np.mean([np.abs(a.astype(int) - g[..., None]).mean() for a, g in zip(fp32, grays)])
    assert 0 < diff < signal / 4


def test_an_input_size_sweep_loads_the_weights_once(tiny_checkpoint):
    a, b = tiny(tiny_checkpoint, input_size=64), tiny(tiny_checkpoint, input_size=96)
    assert a._engine.net is b._engine.net and (a._engine.size, b._engine.size) == (64, 96)
    assert a.describe() == {"weights_path": str(tiny_checkpoint), "input_size": "64", "weights_variant": "explicit file",
                            "architecture": "DDColor-T (convnext-t, MultiScaleColorDecoder, 100 queries, 9 layers)"}


def test_colorize_command(tiny_checkpoint, tmp_path):
    from PIL import Image

    from tests.conftest import small_photos

    src = tmp_path / "in"
    src.mkdir()
    photos = dict(list(small_photos().items())[:2])
    for name, rgb in photos.items():
        Image.fromarray(rgb).save(src / name)
    out = tmp_path / "out"
    assert main(["colorize", str(src), "--model", "ddcolor", "--set", "size=tiny", "--set", "input_size=256",
                 "--weights", str(tiny_checkpoint), "--device", "cpu", "--out", str(out)]) == 0
    for name, rgb in photos.items():
        written = np.asarray(Image.open((out / name).with_suffix(".png")))
        assert written.shape == rgb.shape and written.dtype == np.uint8
