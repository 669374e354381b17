"""`harness run --dry-run`: the model work of a sweep, and what computing splits together saves."""

from __future__ import annotations

import numpy as np
import pytest

from harness.cli import main
from harness.models.registry import build_model, get_model_class, parse_params
from harness.tools.bench import flops_per_image
from tests.data.test_coco import coco_dir  # noqa: F401 - the generated COCO fixture


@pytest.mark.parametrize("model, params", [("zhang-eccv16", {}), ("ddcolor", {"size": "tiny", "input_size": 64})])
def test_flops_without_weights_equal_the_counted_flops_of_a_real_pass(model, params, tmp_path):
    cls = get_model_class(model)
    weights = cls.write_random_weights(tmp_path / "w.pth", parse_params(model, params))
    real = flops_per_image(build_model(model, {**params, "weights": str(weights)}), np.full((40, 50), 128, np.uint8))
    assert cls.flops_per_image(parse_params(model, params)) == pytest.approx(real, rel=0.01)
    assert get_model_class("grayscale").flops_per_image(parse_params("grayscale", {})) is None


def test_dry_run_prints_model_work_per_point_setting_and_in_total(coco_dir, write_spec, capsys):  # noqa: F811
    spec = write_spec(f"""\
name: cost
dataset:
  source: coco
  images: {coco_dir / 'images'}
  annotations: {coco_dir / 'instances.json'}
  splits:
    all: {{}}
    animals: {{supercategories: [animal]}}
    people: {{categories: [person]}}
models:
  - name: grayscale
  - name: zhang-eccv16
""")
    assert main(["run", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    gflop = get_model_class("zhang-eccv16").flops_per_image(parse_params("zhang-eccv16", {})) / 1e9
    assert f"zhang-eccv16[split=animals]: 2 images × {gflop:,.1f} GFLOP" in out
    assert f"= zhang-eccv16, its 3 splits computed together: 6 images × {gflop:,.1f} GFLOP" in out
    assert "(the splits list 11)" in out  # all 6 + animals 2 + people 3
    assert "total: 12 images colorized" in out and "separate runs per split: 22 images" in out
    assert "shared splits save 45% of the FLOPs" in out  # 1 - 6/11 for the only model with FLOPs


def test_dry_run_without_the_data_still_prints_flops_per_image(write_spec, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # an empty weights cache
    spec = write_spec(f"""\
name: nodata
dataset: {{source: coco, images: {tmp_path}/none, annotations: {tmp_path}/none.json}}
models: [{{name: zhang-eccv16}}]
""")
    assert main(["run", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("not available here") == 1 and "data of split all not available here" in out
    assert "  zhang-eccv16: 83.5 GFLOP per image\n" in out
    assert "total: image counts unknown until the data is there" in out
    assert "weights:\n  zhang-eccv16: colorization_release_v2-9b330a0b.pth not cached: `harness run` fetches " \
           "it, or `harness weights fetch zhang-eccv16`" in out


def test_flop_counts_are_remembered_and_counted_again_when_the_code_changes(tmp_path, monkeypatch):
    import json

    from harness.sweep import dryrun
    from harness.sweep.points import load_spec

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    spec = tmp_path / "s.yaml"
    spec.write_text("name: f\ndataset: {source: samples}\nmodels: [{name: zhang-eccv16}]\n")
    point = load_spec(spec).points[0]
    counted = []
    cls = get_model_class("zhang-eccv16")
    real = cls.flops_per_image
    monkeypatch.setattr(cls, "flops_per_image", lambda params: counted.append(1) or real(params))
    first = dryrun.flops(point)
    assert dryrun.flops(point) == first and counted == [1]  # the second time from the cache file
    assert list(json.loads((tmp_path / "flops.json").read_text()).values()) == [first]
    monkeypatch.setattr(dryrun, "_code_digest", lambda cls: "edited")  # the model's code changed
    assert dryrun.flops(point) == first and counted == [1, 1]
