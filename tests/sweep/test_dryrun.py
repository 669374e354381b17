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


def test_dry_run_without_the_data_still_prints_flops_per_image(write_spec, tmp_path, capsys):
    spec = write_spec(f"""\
name: nodata
dataset: {{source: coco, images: {tmp_path}/none, annotations: {tmp_path}/none.json}}
models: [{{name: zhang-eccv16}}]
""")
    assert main(["run", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "data of split all is not available here" in out and "? images × 83.5 GFLOP" in out
    assert "total: unknown until the data is there" in out
