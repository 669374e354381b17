"""DeOldify engine without the upstream package: loading, safety, shapes, errors, OOM handling."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.models.deoldify import engine
from harness.models.deoldify.checkpoint import load_into, safe_load, save_fastai
from harness.models.deoldify.unet import ARTISTIC, STABLE, build
from harness.models.registry import build_model, get_model_class
from tests.models.conftest import gray


def test_checkpoint_roundtrip_strict_in_both_torch_formats(artistic_checkpoint, tmp_path):
    fresh = build(ARTISTIC)
    load_into(fresh, artistic_checkpoint, "deoldify-artistic")
    legacy = save_fastai(fresh, tmp_path / "legacy.pth", legacy=True)  # 2019-era non-zip format
    again = build(ARTISTIC)
    load_into(again, legacy, "deoldify-artistic")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(fresh(x), again(x))


def test_stable_strict_roundtrip_in_memory():
    a, b = build(STABLE), build(STABLE)
    b.load_state_dict(a.state_dict(), strict=True)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_stable_and_artistic_layouts_differ_as_upstream():
    deep, wide = build(ARTISTIC).state_dict(), build(STABLE).state_dict()
    assert "layers.4.conv1.0.weight_orig" in deep and "layers.4.conv.0.weight_orig" in wide
    assert deep["layers.0.0.weight"].shape == (64, 3, 7, 7)
    assert sum(v.numel() for v in wide.values()) == 218_480_110  # upstream's DynamicUnetWide, resnet101
    assert sum(v.numel() for v in deep.values()) == 63_767_578  # upstream's DynamicUnetDeep, resnet34


def test_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "opt": Evil()}, path)
    with pytest.raises(HarnessError, match="refused"):
        safe_load(path)
    assert not marker.exists()


def test_unknown_globals_become_inert(tmp_path):
    """A global from an importable module is mapped to a stand-in, never called."""
    path = tmp_path / "odd.pth"
    # unpickled normally, this file would call tests.models.test_deoldify._touch(marker)
    torch.save({"model": {"w": torch.zeros(2)}, "opt": _Touch(str(tmp_path / "ran"))}, path)
    obj = safe_load(path)
    assert torch.equal(obj["model"]["w"], torch.zeros(2))
    assert not (tmp_path / "ran").exists()


class _Touch:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


def _touch(marker: str):
    open(marker, "w").close()


def test_wrong_model_keys_explained(artistic_checkpoint):
    with pytest.raises(HarnessError) as info:
        load_into(build(STABLE), artistic_checkpoint, "deoldify-stable")
    msg = str(info.value)
    assert "missing key" in msg and "unexpected" in msg and "Artistic weights" in msg


@pytest.mark.parametrize("content,expected", [
    (b"<!DOCTYPE html><html><body>Dropbox</body></html>", "HTML page"),
    (b"PK\x03\x04" + b"\x00" * 100, "truncated or corrupt"),
])
def test_bad_weight_files(tmp_path, content, expected):
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(HarnessError, match=expected):
        safe_load(path)


def test_truncated_real_checkpoint(artistic_checkpoint, tmp_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(artistic_checkpoint.read_bytes()[:1_000_000])
    with pytest.raises(HarnessError, match="truncated or corrupt"):
        safe_load(cut)


def test_shapes_for_odd_and_mixed_sizes(artistic_checkpoint):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 2}, "cpu")
    grays = [gray(37, 61), gray(64, 64), gray(90, 33)]
    outs = model.colorize(grays)
    assert [o.shape for o in outs] == [(37, 61, 3), (64, 64, 3), (90, 33, 3)]
    assert all(o.dtype == np.uint8 for o in outs)


def test_post_process_keeps_input_luminance():
    import cv2

    g = gray(48, 80)
    rng = np.random.default_rng(0)
    square = np.clip(128 + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)  # moderate chroma
    out = engine.finish(square, g, post_process=True)
    kept = np.abs(cv2.cvtColor(out, cv2.COLOR_RGB2YUV)[..., 0].astype(int) - g)
    assert np.percentile(kept, 95) <= 1 and kept.mean() < 0.5  # input Y up to uint8 rounding; RGB clips near black/white
    raw = engine.finish(square, g, post_process=False)
    assert raw.shape == out.shape == (48, 80, 3)
    assert np.abs(cv2.cvtColor(raw, cv2.COLOR_RGB2YUV)[..., 0].astype(int) - g).mean() > 10
    uv = cv2.cvtColor(out, cv2.COLOR_RGB2YUV)[..., 1:].astype(int)
    assert np.abs(uv - cv2.cvtColor(raw, cv2.COLOR_RGB2YUV)[..., 1:]).mean() < 2  # chroma from the model


@pytest.mark.parametrize("bad", [0, 65, "high"])
def test_render_factor_validated(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        get_model_class("deoldify-artistic").Params.model_validate({"render_factor": bad})


def test_defaults_per_model():
    assert get_model_class("deoldify-artistic").Params().render_factor == 35
    assert get_model_class("deoldify-stable").Params().render_factor == 35
    assert get_model_class("deoldify-video").Params().render_factor == 21


def test_fp16_on_cpu_is_a_clear_error(artistic_checkpoint):
    with pytest.raises(HarnessError, match="fp16 needs a CUDA"):
        build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "precision": "fp16"}, "cpu")


def test_missing_weights_path_and_offline_cache(tmp_path, monkeypatch):
    cls = get_model_class("deoldify-stable")
    with pytest.raises(HarnessError, match="does not exist"):
        cls.preflight(cls.Params(weights=tmp_path / "nope.pth"))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    with pytest.raises(HarnessError) as info:
        cls.preflight(cls.Params())
    msg = str(info.value)
    assert "ColorizeStable_gen.pth" in msg and "dropbox" in msg and str(tmp_path) in msg
    assert "harness weights fetch deoldify-stable" in msg


def test_default_runs_the_whole_batch_in_one_channels_last_pass(artistic_checkpoint, monkeypatch):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 2}, "cpu")
    seen = []
    real = type(model._engine.net).forward
    monkeypatch.setattr(type(model._engine.net), "forward",
                        lambda self, x: seen.append((len(x), x.is_contiguous(memory_format=torch.channels_last)))
                        or real(self, x))
    model.colorize([gray(30, 40, i) for i in range(5)])
    assert seen == [(5, True)]
    assert model.describe_run()["forward_batch"] == "5"


def test_exact_runs_one_image_per_pass_in_the_default_layout(artistic_checkpoint, monkeypatch):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 2,
                                              "exact": True}, "cpu")
    seen = []
    real = type(model._engine.net).forward
    monkeypatch.setattr(type(model._engine.net), "forward",
                        lambda self, x: seen.append((len(x), x.is_contiguous())) or real(self, x))
    model.colorize([gray(30, 40, i) for i in range(3)])
    assert seen == [(1, True)] * 3
    assert model.describe_run()["forward_batch"] == "1" and "exact" in model.describe_run()["batching"]
    assert model.describe()["memory_format"] == "contiguous"
    with pytest.raises(HarnessError, match="exact: true reproduces upstream"):
        build_model("deoldify-artistic", {"exact": True, "precision": "bf16"})


def test_weights_overwritten_on_disk_are_loaded_again(tmp_path):
    from harness.models.deoldify import checkpoint

    path = tmp_path / "w.pth"
    checkpoint.save_fastai(checkpoint.randomize_(build(ARTISTIC), seed=1), path)
    first = build_model("deoldify-artistic", {"weights": str(path), "render_factor": 2}, "cpu")
    again = build_model("deoldify-artistic", {"weights": str(path), "render_factor": 2}, "cpu")
    assert again._engine.net is first._engine.net  # a render-factor sweep loads the file once
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = first._engine.net(x)
    checkpoint.save_fastai(checkpoint.randomize_(build(ARTISTIC), seed=2), path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    changed = build_model("deoldify-artistic", {"weights": str(path), "render_factor": 2}, "cpu")
    assert changed._engine.net is not first._engine.net
    with torch.inference_mode():
        assert not torch.equal(changed._engine.net(x), before)


def _fastai_era_opt():
    """What fastai 1.0.5x's `Learner.save` put under 'opt' (OptimWrapper.get_state()):
    learning rates from a range are numpy floats, the optimiser is a partial of Adam."""
    import functools

    lrs = list(np.array([1e-5, 1e-4, 1e-3]))
    return {"opt_state": {"state": {}, "param_groups": [{"lr": lrs[0], "betas": (0.9, 0.99), "params": [0]}]},
            "lr": lrs, "wd": [1e-3] * 3, "beta": [0.99] * 3, "mom": [0.9] * 3,
            "opt_func": functools.partial(torch.optim.Adam, betas=(0.9, 0.99)), "true_wd": True, "bn_wd": True}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_fastai_era_optimizer_state_is_neutralised(artistic_checkpoint, tmp_path, legacy, caplog):
    state = safe_load(artistic_checkpoint)["model"]
    path = tmp_path / "fastai.pth"
    torch.save({"model": state, "opt": _fastai_era_opt()}, path, _use_new_zipfile_serialization=not legacy)
    net = build(ARTISTIC)
    load_into(net, path, "deoldify-artistic")
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert "neutralised" not in caplog.text  # expected fastai globals pass quietly


def test_legacy_file_saved_on_a_gpu_loads_on_the_cpu(tmp_path):
    """The official files are 2019 legacy-format saves of CUDA tensors (torch.cuda.FloatStorage, 'cuda:0')."""
    import io

    state = build(ARTISTIC).state_dict()
    buf = io.BytesIO()
    torch.save({"model": state, "opt": _fastai_era_opt()}, buf, _use_new_zipfile_serialization=False)
    raw = buf.getvalue()
    assert b"ctorch\nFloatStorage\n" in raw and b"X\x03\x00\x00\x00cpu" in raw
    raw = raw.replace(b"ctorch\nFloatStorage\n", b"ctorch.cuda\nFloatStorage\n")
    raw = raw.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    path = tmp_path / "gpu_saved.pth"
    path.write_bytes(raw)
    net = build(ARTISTIC)
    load_into(net, path, "deoldify-artistic")
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


def test_malicious_legacy_pickle_never_runs(tmp_path, caplog):
    marker = tmp_path / "ran"
    path = tmp_path / "evil_legacy.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "opt": _Touch(str(marker))}, path, _use_new_zipfile_serialization=False)
    obj = safe_load(path)
    assert torch.equal(obj["model"]["w"], torch.zeros(2)) and not marker.exists()
    assert "_touch" in caplog.text and "neutralised" in caplog.text  # an unexpected global is reported
    evil = tmp_path / "evil_system.pth"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": {"w": torch.zeros(1)}, "opt": Evil()}, evil, _use_new_zipfile_serialization=False)
    with pytest.raises(HarnessError, match="refused"):
        safe_load(evil)
    assert not marker.exists()


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(HarnessError, match="empty"):
        safe_load(path)


def test_file_without_batchnorm_counters_loads(artistic_checkpoint, tmp_path):
    """torch < 0.4.1 saved no num_batches_tracked; torch fills it in, and so does the harness."""
    state = {k: v for k, v in safe_load(artistic_checkpoint)["model"].items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)  # also a bare state dict, as `Learner.save(with_opt=False)` writes
    net = build(ARTISTIC)
    load_into(net, path, "deoldify-artistic")
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())


def test_cached_normalised_weights_follow_a_new_load(artistic_checkpoint):
    net = build(ARTISTIC)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        before = net(x)  # fills the per-layer weight caches with the initial weights
    load_into(net, artistic_checkpoint, "deoldify-artistic")
    fresh = build(ARTISTIC)
    load_into(fresh, artistic_checkpoint, "deoldify-artistic")
    with torch.inference_mode():
        after, expected = net(x), fresh(x)
    assert not torch.equal(before, after) and torch.equal(after, expected)


def test_normalised_weights_stay_float32_under_autocast():
    from harness.models.deoldify.layers import SpectralConv, WeightNormConv

    for conv in (SpectralConv(16, 8, 3), WeightNormConv(16, 8, 1)):
        plain = conv.weight().clone()
        conv._weight_key = None  # recompute inside autocast
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            inside = conv.weight()
        assert inside.dtype == torch.float32 and torch.equal(inside, plain)


def test_gradients_still_reach_the_parameters():
    from harness.models.deoldify.layers import SpectralConv

    conv = SpectralConv(4, 4, 3)
    conv(torch.randn(1, 4, 8, 8)).sum().backward()
    assert conv.weight_orig.grad is not None and conv.weight_orig.grad.abs().sum() > 0


def test_describe_names_what_a_run_depends_on(artistic_checkpoint):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 7,
                                              "precision": "bf16"}, "cpu")
    info = model.describe()
    assert info["weights_path"] == str(artistic_checkpoint) and info["render_size"] == "112"
    assert info["architecture"] == "resnet34 deep nf_factor 1.5" and info["memory_format"] == "channels_last"
    assert model.describe_run() == {"forward_batch": "0", "batching": "the runner's batch in one forward pass, "
                                                                      "channels-last"}  # nothing run yet
