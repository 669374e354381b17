"""Spec validation errors (file, line, key, suggestion) and sweep expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.fake_models  # noqa: F401  (registers fake-tint, fake-fragile)
from harness.errors import HarnessError
from harness.sweep.points import load_spec

BASE = """\
name: t
dataset:
  source: samples
models:
  - name: grayscale
"""


def error_of(write_spec, text: str) -> str:
    path = write_spec(text)
    with pytest.raises(HarnessError) as info:
        load_spec(path)
    return str(info.value)


def test_minimal_spec_gets_defaults(write_spec):
    loaded = load_spec(write_spec(BASE))
    spec = loaded.spec
    assert spec.metrics == ["psnr", "ssim", "colorfulness", "delta_e"]
    assert spec.batch_size == 8 and spec.device == "auto" and spec.grids.count == 6
    assert [p.label for p in loaded.points] == ["grayscale"]


def test_unknown_top_level_key_names_line_and_suggests(write_spec):
    msg = error_of(write_spec, BASE + "metrcs: [psnr]\n")
    assert "line 6" in msg and "'metrcs'" in msg and "Did you mean 'metrics'" in msg


def test_unknown_dataset_key_names_path(write_spec):
    text = "name: t\ndataset:\n  source: folder\n  pth: photos\nmodels:\n  - name: grayscale\n"
    msg = error_of(write_spec, text)
    assert "line 4" in msg and "dataset.pth" in msg and "Did you mean 'path'" in msg


def test_video_dataset_keys_are_checked(write_spec):
    video = "name: t\ndataset:\n  source: video\n  path: clips/\n{extra}models:\n  - name: grayscale\n"
    spec = load_spec(write_spec(video.format(extra="  max_frames: 30\n  stride: 2\n  limit: 3\n"))).spec.dataset
    assert (spec.max_frames, spec.stride, spec.limit, spec.seed, spec.preview_frames) == (30, 2, 3, 0, 90)
    msg = error_of(write_spec, video.format(extra="  max_frame: 10\n"))
    assert "line 5" in msg and "dataset.max_frame" in msg and "Did you mean 'max_frames'" in msg
    msg = error_of(write_spec, video.format(extra="  stride: 0\n"))
    assert "line 5" in msg and "dataset.stride" in msg and "greater than or equal to 1" in msg


def test_missing_required_key(write_spec):
    msg = error_of(write_spec, "name: t\ndataset:\n  source: folder\nmodels:\n  - name: grayscale\n")
    assert "dataset.path" in msg and "missing" in msg


def test_unknown_source(write_spec):
    msg = error_of(write_spec, "name: t\ndataset:\n  source: imagenet\nmodels:\n  - name: grayscale\n")
    assert "line 3" in msg and "source" in msg


def test_unknown_model_suggests(write_spec):
    msg = error_of(write_spec, BASE.replace("grayscale", "grayscal"))
    assert "line 5" in msg and "models[0].name" in msg and "Did you mean 'grayscale'" in msg


def test_unknown_model_parameter(write_spec):
    text = BASE + "  - name: fake-tint\n    strenght: [0.1, 0.2]\n"
    msg = error_of(write_spec, text)
    assert "line 7" in msg and "models[1].strenght" in msg and "Did you mean 'strength'" in msg


def test_bad_value_in_sweep_axis_names_its_index(write_spec):
    text = BASE + "  - name: fake-tint\n    strength:\n      - 0.1\n      - 7\n"
    msg = error_of(write_spec, text)
    assert "models[1].strength[1]" in msg and "line 9" in msg and "7" in msg


def test_wrong_type(write_spec):
    msg = error_of(write_spec, BASE + "batch_size: many\n")
    assert "batch_size" in msg and "line 6" in msg


def test_bad_device(write_spec):
    msg = error_of(write_spec, BASE + "device: tpu\n")
    assert "device" in msg and "line 6" in msg


def test_unknown_metric(write_spec):
    msg = error_of(write_spec, BASE + "metrics: [psnr, ssmi]\n")
    assert "metrics[1]" in msg and "Did you mean 'ssim'" in msg


def test_malformed_yaml_names_line(write_spec):
    msg = error_of(write_spec, "name: t\ndataset: [unclosed\nmodels: x\n")
    assert "not valid YAML" in msg and "line" in msg


def test_missing_file():
    with pytest.raises(HarnessError, match="does not exist"):
        load_spec("/nonexistent/spec.yaml")


def test_not_a_mapping(write_spec):
    assert "must be a mapping" in error_of(write_spec, "- a\n- b\n")


def test_sweep_is_cartesian_product_of_list_parameters(write_spec):
    text = BASE + "  - name: fake-tint\n    strength: [0.1, 0.5, 0.9]\n    channel: [red, blue]\n"
    points = load_spec(write_spec(text)).points
    assert len(points) == 1 + 3 * 2
    labels = [p.label for p in points]
    assert labels[0] == "grayscale"
    assert "fake-tint[strength=0.5,channel=blue]" in labels
    assert len(set(labels)) == len(labels)
    tint = [p for p in points if p.model == "fake-tint"]
    assert {(p.resolved["strength"], p.resolved["channel"]) for p in tint} == {
        (s, c) for s in (0.1, 0.5, 0.9) for c in ("red", "blue")}
    assert all(p.resolved["delay"] == 0.0 for p in tint)  # defaults are resolved


def test_scalar_parameter_is_not_an_axis(write_spec):
    text = BASE + "  - name: fake-tint\n    strength: 0.3\n"
    points = load_spec(write_spec(text)).points
    assert [p.label for p in points] == ["grayscale", "fake-tint[strength=0.3]"]


def test_duplicate_sweep_point_is_an_error(write_spec):
    msg = error_of(write_spec, BASE + "  - name: grayscale\n")
    assert "already produced" in msg


def test_repeated_axis_value_is_an_error(write_spec):
    msg = error_of(write_spec, BASE + "  - name: fake-tint\n    strength: [0.1, 0.1]\n")
    assert "repeated" in msg


def test_coco_splits_are_an_axis(write_spec):
    text = ("name: t\ndataset:\n  source: coco\n  images: imgs\n  annotations: a.json\n  splits:\n"
            "    all: {}\n    animals: {supercategories: [animal]}\nmodels:\n  - name: grayscale\n"
            "  - name: fake-tint\n    strength: [0.1, 0.2]\n")
    points = load_spec(write_spec(text)).points
    assert len(points) == 2 + 2 * 2
    assert {p.split for p in points} == {"all", "animals"}
    assert "fake-tint[strength=0.2,split=animals]" in [p.label for p in points]


@pytest.mark.parametrize("images, annotations", [
    ("[a, b]", "[a.json]"), ("[a, b]", "a.json"), ("a", "[a.json, b.json]"), ("[]", "[]")])
def test_coco_candidates_must_pair_up(write_spec, images, annotations):
    text = (f"name: t\ndataset:\n  source: coco\n  images: {images}\n  annotations: {annotations}\n"
            "models:\n  - name: grayscale\n")
    msg = error_of(write_spec, text)
    assert "line 5, key 'dataset.annotations'" in msg and "non-empty lists of candidates of the same length" in msg


def test_coco_candidates_are_accepted(write_spec):
    text = ("name: t\ndataset:\n  source: coco\n  images: [a, b]\n  annotations: [a.json, b.json]\n"
            "models:\n  - name: grayscale\n")
    assert load_spec(write_spec(text)).spec.dataset.images == [Path("a"), Path("b")]


@pytest.fixture
def metric_with_options(monkeypatch):
    """A metric with options, as LPIPS will have (`{name: ..., net: ...}` in a spec)."""
    from typing import Literal

    from pydantic import BaseModel, ConfigDict

    from harness.metrics import registry

    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        net: Literal["alex", "vgg"] = "alex"
        scale: float = 1.0

    @registry.register_metric("tunable", higher_is_better=False)
    class Tunable(registry.Metric):
        Params = Options

        def score(self, gt, out):
            return {"tunable": self.params.scale}


def test_metric_entries_take_validated_options(write_spec, metric_with_options):
    loaded = load_spec(write_spec(BASE + "metrics: [psnr, {name: tunable, net: vgg}]\n"))
    psnr, tunable = loaded.metrics
    assert psnr.name == "psnr" and psnr.label() == "psnr"
    assert tunable.params.net == "vgg" and tunable.params.scale == 1.0
    assert tunable.label() == "tunable[net=vgg]"
    assert tunable.identity() == {"name": "tunable", "params": {"net": "vgg", "scale": 1.0}}


def test_metric_option_errors_name_the_line(write_spec, metric_with_options):
    msg = error_of(write_spec, BASE + "metrics:\n  - psnr\n  - name: tunable\n    nett: vgg\n")
    assert "line 9" in msg and "metrics[1].nett" in msg and "Did you mean 'net'" in msg
    msg = error_of(write_spec, BASE + "metrics:\n  - name: tunable\n    net: resnet\n")
    assert "line 8" in msg and "metrics[0].net" in msg and "'resnet'" in msg
    msg = error_of(write_spec, BASE + "metrics: [{name: tunabel}]\n")
    assert "metrics[0].name" in msg and "Did you mean 'tunable'" in msg
    msg = error_of(write_spec, BASE + "metrics: [tunable, {name: tunable, net: vgg}]\n")
    assert "listed more than once" in msg


def test_sweep_points_carry_validated_params(write_spec):
    loaded = load_spec(write_spec(BASE.replace("  - name: grayscale", "  - name: fake-tint\n    strength: [0.2, 0.4]")))
    first = loaded.points[0]
    assert first.params.strength == 0.2 and first.params.channel == "red"  # the model's Params object
    assert first.written == {"strength": 0.2}
    assert first.resolved == {"strength": 0.2, "channel": "red", "delay": 0.0}
