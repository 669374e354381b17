"""Integration: a two-split sweep on the 64 real COCO images of ../shared/data/coco-sample."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from harness.cli import main
from tests.conftest import COCO_SAMPLE

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not COCO_SAMPLE.is_dir(), reason="../shared/data/coco-sample is absent (it exists only beside the dev checkout)")]


def test_two_split_sweep_on_real_coco(write_spec, tracking_uri, tmp_path, capsys):
    spec = write_spec(f"""\
name: coco-sample
dataset:
  source: coco
  images: {COCO_SAMPLE / 'images'}
  annotations: {COCO_SAMPLE / 'instances.json'}
  splits:
    all: {{}}
    animals: {{supercategories: [animal]}}
models:
  - name: grayscale
grids: {{count: 3}}
device: cpu
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr().err
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("coco-sample")
    runs = {r.data.tags.get("harness.split"): r for r in client.search_runs([exp.experiment_id])
            if r.data.tags.get("harness.kind") == "point"}
    assert set(runs) == {"all", "animals"}
    every = runs["all"]
    assert every.data.params["dataset.size"] == "64" and every.data.params["dataset.split"] == "all"
    assert every.data.metrics["n_excluded"] == 3 and every.data.metrics["n_failed"] == 0
    assert 0 < runs["animals"].data.metrics["n_images"] < 64
    for key in ("psnr_objects_mean", "psnr_background_mean", "delta_e_objects_mean", "psnr_mean__animal",
                "psnr_mean__person"):
        assert key in every.data.metrics, key
    table = pd.read_csv(client.download_artifacts(every.info.run_id, "per_image.csv", str(tmp_path)))
    excluded = set(table.loc[table.status == "excluded:grayscale", "image_id"].astype(str))
    assert excluded == {"86", "328", "359"}  # the real grayscale photos of the sample
    breakdown = pd.read_csv(client.download_artifacts(every.info.run_id, "by_category.csv", str(tmp_path)))
    assert {"animal", "person", "vehicle"} <= set(breakdown["supercategory"])
    assert {f.path for f in client.list_artifacts(every.info.run_id, "plots")} >= {"plots/psnr_by_category.png"}
