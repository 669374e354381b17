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


def gray(h: int, w: int, seed: int = 0) -> np.ndarray:
    import skimage.data
    from PIL import Image

    img = Image.fromarray(skimage.data.coffee()).convert("L").resize((w, h))
    return np.asarray(img)


def test_checkpoint_roundtrip_strict_in_both_torch_formats(artistic_checkpoint, tmp_path):
    fresh = build(ARTISTIC)
    load_into(fresh, artistic_checkpoint, "deoldify-artistic")
    legacy = save_fastai(fresh, tmp_path / "legacy.pth", legacy=True)  # 2019-era non-zip format
    again = build(ARTISTIC)
    load_into(again, legacy, "deoldify-artistic")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(fresh(x), again(x))


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


def test_out_of_memory_halves_the_batch(artistic_checkpoint, monkeypatch):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 1}, "cpu")
    eng = model._engine
    eng.max_batch = None  # as on a GPU
    sizes = []
    real = engine.Engine.forward

    def fake_forward(self, x):
        sizes.append(len(x))
        if len(x) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, x)

    monkeypatch.setattr(engine.Engine, "forward", fake_forward)
    outs = eng.colorize([gray(20, 30, i) for i in range(7)])
    assert len(outs) == 7 and eng.max_batch == 2
    assert sizes[:3] == [7, 4, 2] and max(sizes[3:]) <= 2
    ref = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 1},
                      "cpu").colorize([gray(20, 30, i) for i in range(7)])
    assert all(np.abs(a.astype(int) - b.astype(int)).max() <= 4 for a, b in zip(outs, ref))


def test_oom_at_batch_one_is_an_error_not_gray(artistic_checkpoint, monkeypatch):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 1}, "cpu")

    def always_oom(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(engine.Engine, "forward", always_oom)
    with pytest.raises(HarnessError, match="Out of GPU memory at batch size 1"):
        model.colorize([gray(20, 30)])
