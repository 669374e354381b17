"""Zhang et al. (ECCV16, SIGGRAPH17) without the upstream reference: layout, strict loading, shapes,
batching, out-of-memory handling, precision, and `harness colorize`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from harness.cli import main
from harness.errors import HarnessError
from harness.models import reference, zhang_nets
from harness.models.registry import build_model, get_model_class
from tests.models.conftest import ZHANG_LAYOUT_FILE, layout_of, reference_layout, write_layout


def gray(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A gray photo crop of h x w; `seed` picks which crop, so different seeds give different images."""
    import skimage.data

    photo = np.asarray(Image.fromarray(skimage.data.coffee()).convert("L"))
    top, left = (seed * 37) % (photo.shape[0] - 200), (seed * 53) % (photo.shape[1] - 200)
    return np.asarray(Image.fromarray(photo[top:top + 200, left:left + 200]).resize((w, h)))


@pytest.fixture(scope="module")
def eccv16_checkpoint(tmp_path_factory):
    """Random, calibrated ECCV16 weights in the official format (what `harness bench` uses)."""
    return get_model_class("zhang-eccv16").write_random_weights(tmp_path_factory.mktemp("zhang") / "eccv16.pth")


@pytest.fixture(scope="module")
def siggraph17_checkpoint(tmp_path_factory):
    """SIGGRAPH17 with torch's default init (uncalibrated: enough for shapes and key checks)."""
    path = tmp_path_factory.mktemp("zhang") / "siggraph17.pth"
    torch.save(zhang_nets.SIGGRAPH17().state_dict(), path)
    return path


ZHANG_ABOUT = ("Parameter and buffer names, shapes and dtypes of upstream's networks (richzhang/colorization: "
               "colorizers.eccv16 and colorizers.siggraph17), in state-dict order, as the reference folder lists "
               "them (keys_eccv16.txt, keys_siggraph17.txt); held to those listings by tests/models/test_zhang.py::"
               "test_layout_file_is_the_references (HARNESS_WRITE_LAYOUT=1 rewrites it from them).")


@pytest.mark.parametrize("arch", ["eccv16", "siggraph17"])
def test_layout_is_upstreams(arch):
    """Names, shapes, dtypes and order of the state dict equal upstream's (the committed listing, so this runs
    everywhere; the listing itself is checked against the reference folder below)."""
    expected = json.loads(ZHANG_LAYOUT_FILE.read_text())[arch]
    with torch.device("meta"):
        actual = layout_of(zhang_nets.NETWORKS[arch]().state_dict())
    assert sorted(set(expected) - set(actual)) == [] and sorted(set(actual) - set(expected)) == []
    assert actual == expected and list(actual) == list(expected)


@pytest.mark.parametrize("arch", ["eccv16", "siggraph17"])
def test_layout_file_is_the_references(arch):
    keys = reference.reference_dir() / f"keys_{arch}.txt"
    if not keys.is_file():
        pytest.skip(f"{keys} not found (the upstream reference folder)")
    listed = reference_layout(keys)
    if os.environ.get("HARNESS_WRITE_LAYOUT") == "1":
        write_layout(arch, listed, ZHANG_LAYOUT_FILE, ZHANG_ABOUT)
    committed = json.loads(ZHANG_LAYOUT_FILE.read_text())[arch]
    assert committed == listed and list(committed) == list(listed)


def test_random_weights_file_is_a_plain_legacy_state_dict(eccv16_checkpoint):
    assert eccv16_checkpoint.read_bytes()[:1] == b"\x80"  # torch's pre-1.6 format, as the official files
    state = torch.load(eccv16_checkpoint, weights_only=True)
    assert len(state) == 82 and all(isinstance(v, torch.Tensor) for v in state.values())


def test_shapes_for_odd_sizes_in_one_forward_pass(eccv16_checkpoint, monkeypatch):
    model = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint)}, "cpu")
    seen = []
    real = zhang_nets.ECCV16.forward
    monkeypatch.setattr(zhang_nets.ECCV16, "forward", lambda self, x: seen.append(tuple(x.shape)) or real(self, x))
    grays = [gray(256, 256, 0), gray(256, 256, 1), gray(37, 61, 2), gray(1, 7, 3)]
    outs = model.colorize(grays)
    assert seen == [(4, 1, 256, 256)]  # the batch given is one forward pass
    assert [o.shape for o in outs] == [(256, 256, 3), (256, 256, 3), (37, 61, 3), (1, 7, 3)]
    assert all(o.dtype == np.uint8 for o in outs)
    assert model.describe_run() == {"forward_batch": "4", "batching": "the runner's batch in one forward pass"}
    # calibrated random weights colour the images, differently per image (the parity tests rely on it)
    assert min(np.abs(o.astype(int) - g[..., None]).mean() for o, g in zip(outs[:3], grays[:3])) > 3
    assert np.abs(outs[0].astype(int) - outs[1]).mean() > 3
    assert model.colorize([]) == []


def test_siggraph17_shapes(siggraph17_checkpoint):
    model = build_model("zhang-siggraph17", {"weights": str(siggraph17_checkpoint)}, "cpu")
    outs = model.colorize([gray(45, 71), gray(300, 20, 1)])
    assert [o.shape for o in outs] == [(45, 71, 3), (300, 20, 3)] and outs[0].dtype == np.uint8
    assert "no hints" in model.describe()["architecture"]


def test_strict_load_names_missing_extra_and_misshaped_keys(eccv16_checkpoint, tmp_path):
    state = torch.load(eccv16_checkpoint, weights_only=True)
    del state["model4.2.bias"]
    state["model9.0.weight"] = torch.zeros(3)
    state["model_out.weight"] = torch.zeros(2, 312, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(HarnessError) as info:
        build_model("zhang-eccv16", {"weights": str(path)}, "cpu")
    msg = str(info.value)
    assert "model4.2.bias" in msg and "model9.0.weight" in msg and "model_out.weight (2, 312, 1, 1)" in msg
    assert "1 missing key" in msg and "1 unexpected" in msg and "1 of the wrong shape" in msg


def test_the_other_models_file_is_named(eccv16_checkpoint, siggraph17_checkpoint):
    with pytest.raises(HarnessError, match="These look like zhang-siggraph17 weights: use model zhang-siggraph17"):
        build_model("zhang-eccv16", {"weights": str(siggraph17_checkpoint)}, "cpu")
    with pytest.raises(HarnessError, match="These look like zhang-eccv16 weights"):
        build_model("zhang-siggraph17", {"weights": str(eccv16_checkpoint)}, "cpu")


def test_a_foreign_checkpoint_is_not_taken_for_a_zhang_one(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"layers.0.weight": torch.zeros(1)}, path)
    with pytest.raises(HarnessError, match="not a Zhang et al. colorizer checkpoint"):
        build_model("zhang-eccv16", {"weights": str(path)}, "cpu")


def test_parameters_are_upstreams_only():
    cls = get_model_class("zhang-siggraph17")
    assert set(cls.Params.model_fields) == {"weights", "precision"} and cls.Params().precision == "fp32"
    with pytest.raises(HarnessError, match="Unknown parameter 'render_factor'"):
        build_model("zhang-eccv16", {"render_factor": 10})


def test_fp16_on_cpu_is_a_clear_error(eccv16_checkpoint):
    with pytest.raises(HarnessError, match="fp16 needs a CUDA"):
        build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint), "precision": "fp16"}, "cpu")


def test_missing_official_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    cls = get_model_class("zhang-eccv16")
    with pytest.raises(HarnessError) as info:
        cls.preflight(cls.Params())
    msg = str(info.value)
    assert "colorization_release_v2-9b330a0b.pth" in msg and "colorizers.s3" in msg
    assert "harness weights fetch zhang-eccv16" in msg


def test_out_of_memory_halves_the_batch_and_keeps_the_order(eccv16_checkpoint, monkeypatch):
    model = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint)}, "cpu")
    eng = model._engine
    # a cheap stand-in for the network (this engine only; the cached one is untouched): ab from L, per pixel
    eng.net = lambda lightness: torch.cat([lightness - 50, 30 - lightness * 0.6], dim=1)
    grays = [gray(20 + 3 * i, 30, i) for i in range(5)]  # distinct images (and sizes): a misordered chunk shows
    whole = eng.colorize(grays)  # one pass of 5, no out-of-memory
    sizes = []
    real = zhang_nets.Engine.forward

    def fake_forward(self, x):
        sizes.append(len(x))
        if len(x) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, x)

    monkeypatch.setattr(zhang_nets.Engine, "forward", fake_forward)
    outs = eng.colorize(grays)
    assert sizes == [5, 3, 2, 2, 1] and eng.batch_cap == 2 and eng.halved
    assert [o.shape[:2] for o in outs] == [g.shape for g in grays]
    assert all(np.array_equal(out, ref) for out, ref in zip(outs, whole))  # each output is its own input's
    assert model.describe_run()["forward_batch"] == "5"  # the largest pass that ran
    assert "lowered to 2 after out-of-memory" in model.describe_run()["batching"]
    assert len(eng.colorize(grays[:3])) == 3 and sizes[-2:] == [2, 1]  # the lowered cap holds for later batches


def test_oom_at_batch_one_is_an_error_not_gray(eccv16_checkpoint, monkeypatch):
    model = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint)}, "cpu")

    def always_oom(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(zhang_nets.Engine, "forward", always_oom)
    with pytest.raises(HarnessError, match="Out of GPU memory at batch size 1"):
        model.colorize([gray(20, 30)])


def test_describe_and_network_reuse(eccv16_checkpoint):
    first = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint)}, "cpu")
    again = build_model("zhang-eccv16", {"weights": str(eccv16_checkpoint), "precision": "bf16"}, "cpu")
    assert again._engine.net is first._engine.net  # a precision sweep loads the file once
    info = first.describe()
    assert info["weights_path"] == str(eccv16_checkpoint) and "313 ab bins" in info["architecture"]
    assert info["network_input"].startswith("256x256")
    assert set(first.stage_seconds()) == {"preprocess", "model", "postprocess"}


def test_harness_colorize_fp32_and_bf16(eccv16_checkpoint, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    grays = {"a.png": gray(40, 56, 1), "b.png": gray(33, 64, 2)}
    for name, g in grays.items():
        Image.fromarray(g).save(src / name)
    outs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        args = ["colorize", str(src), "--model", "zhang-eccv16", "--weights", str(eccv16_checkpoint),
                "--device", "cpu", "--out", str(out)]
        assert main(args + ["--set", f"precision={precision}"]) == 0, capsys.readouterr().err
        assert "2 image(s) written" in capsys.readouterr().out
        outs[precision] = {n: np.asarray(Image.open(out / n)) for n in grays}
    for name, g in grays.items():
        fp32, bf16 = outs["fp32"][name].astype(int), outs["bf16"][name].astype(int)
        assert fp32.shape == bf16.shape == (*g.shape, 3)
        signal = np.abs(fp32 - g[..., None]).mean()  # the colour the model adds
        assert signal > 3 and np.abs(bf16 - fp32).mean() < signal  # bf16: the same network, rounded
