"""Scale: splits computed once per model setting, shards resumed after kill -9 (issue #11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import tests.fake_models as fakes
from harness.cli import main
from tests.data.test_coco import coco_dir  # noqa: F401 - the generated COCO fixture

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCORES = ["image_id", "status", "psnr", "ssim", "colorfulness", "colorfulness_gt", "delta_e", "psnr_objects",
          "psnr_background", "supercategories"]


def coco_spec(root: Path, name: str, splits: str, model: str = "fake-tint", extra: str = "") -> str:
    return f"""\
name: {name}
dataset:
  source: coco
  images: {root / 'images'}
  annotations: {root / 'instances.json'}
  splits:
{splits}
models:
  - name: {model}
    strength: [0.2, 0.6]
{extra}grids: {{count: 0}}
batch_size: 2
device: cpu
"""


THREE = "    all: {}\n    animals: {supercategories: [animal]}\n    people: {categories: [person]}\n"


def point_runs(uri: str, name: str) -> dict[str, object]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    return {r.data.tags["harness.label"]: r for r in client.search_runs([exp.experiment_id], max_results=100)
            if r.data.tags.get("harness.kind") == "point" and r.info.status == "FINISHED"}


def table(uri: str, run, tmp_path: Path) -> pd.DataFrame:
    path = MlflowClient(uri).download_artifacts(run.info.run_id, "per_image.csv", str(tmp_path / run.info.run_id))
    frame = pd.read_csv(path)
    return frame[[c for c in SCORES if c in frame]]


def test_splits_share_one_pass_of_the_model_with_the_numbers_of_separate_runs(coco_dir, write_spec, tracking_uri,  # noqa: F811
                                                                              tmp_path, capsys):
    fakes.FakeTint.calls.clear()
    spec = write_spec(coco_spec(coco_dir, "shared", THREE))
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr().err
    union = 4  # images 1-5 exist; image 4 is grayscale (excluded before the model), 6 is missing
    assert sum(fakes.FakeTint.calls) == 2 * union  # each image once per model setting, not once per split
    shared = point_runs(tracking_uri, "shared")
    assert len(shared) == 6
    for strength in ("0.2", "0.6"):
        runs = [shared[f"fake-tint[strength={strength},split={s}]"] for s in ("all", "animals", "people")]
        assert [r.data.metrics["n_model_images"] for r in runs] == [union, 0, 0]
        assert {r.data.metrics["n_shared_images"] for r in runs} == {6}  # every image of the union, once
    sweep = MlflowClient(tracking_uri).search_runs(
        [MlflowClient(tracking_uri).get_experiment_by_name("shared").experiment_id],
        "tags.`harness.kind` = 'sweep'")[0]
    assert sweep.data.metrics["n_model_images"] == 2 * union

    # the same splits as separate specs: identical per-image tables and summaries
    for split in ("all", "animals", "people"):
        line = [ln for ln in THREE.splitlines() if ln.strip().startswith(split + ":")][0]
        alone = write_spec(coco_spec(coco_dir, f"alone-{split}", line + "\n"), name=f"{split}.yaml")
        assert main(["run", str(alone), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
        for label, run in point_runs(tracking_uri, f"alone-{split}").items():
            other = shared[label]
            pd.testing.assert_frame_equal(table(tracking_uri, run, tmp_path), table(tracking_uri, other, tmp_path))
            keys = [k for k in run.data.metrics if not k.startswith(("seconds_", "share_", "images_per", "n_model",
                                                                     "n_shared", "n_shards", "peak_"))]
            assert {k: run.data.metrics[k] for k in keys} == {k: other.data.metrics[k] for k in keys}, label


def test_kill_9_inside_a_point_keeps_its_finished_shards(write_spec, tracking_uri, tmp_path, inception_file):
    log = tmp_path / "colorized.log"
    marker = tmp_path / "crashed"
    spec = write_spec(f"""\
name: shards
dataset: {{source: samples}}
models:
  - name: fake-crash
    marker: {marker}
    after: 5
    log: {log}
metrics: [psnr, colorfulness, {{name: fid, weights: {inception_file}}}, {{name: kid, weights: {inception_file}}}]
grids: {{count: 0}}
batch_size: 1
shard_size: 2
device: cpu
""")
    env = {**os.environ, "HARNESS_PLUGINS": "tests.fake_models", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "harness.cli", "run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == -9 and marker.exists(), first.stderr  # killed by SIGKILL after 5 images
    journaled = sorted((tmp_path / "harness-journal").glob("*/shard-*.npz"))
    assert 0 < len(journaled) < 5  # the shards finished before the kill, not the one it interrupted
    kept = sum(r["status"] == "ok" for f in journaled for r in json.loads(str(np.load(f)["rows"])))
    assert 0 < kept <= 5

    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    (run,) = point_runs(tracking_uri, "shards").values()
    metrics = run.data.metrics
    assert (metrics["n_shards"], metrics["n_shards_resumed"]) == (5, len(journaled))
    assert metrics["n_scored"] == 8 and metrics["n_model_images"] == 8  # the point's model work, as uninterrupted
    assert metrics["n_model_images_resumed"] == kept  # ... of which the killed process did this much
    pids = [ln.split()[0] for ln in log.read_text().splitlines()]
    assert pids.count(pids[0]) == 5 and len(pids) == 5 + 8 - kept  # the first process colorized 5, the next the rest
    assert not list((tmp_path / "harness-journal").glob("*/shard-*"))  # forgotten once logged

    # identical to an uninterrupted run of the same spec
    fresh = subprocess.run(cmd[:-3] + ["--tracking-uri", f"sqlite:///{tmp_path}/fresh.db", "--no-progress"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    (again,) = point_runs(f"sqlite:///{tmp_path}/fresh.db", "shards").values()
    pd.testing.assert_frame_equal(table(tracking_uri, run, tmp_path),
                                  table(f"sqlite:///{tmp_path}/fresh.db", again, tmp_path))
    keys = [k for k in metrics if k.endswith(("_mean", "_p50", "_ci95_low", "_ci95_high")) or k.startswith("n_")]
    resumed = ("n_shards_resumed", "n_model_images_resumed")  # how the work was obtained, not what it measured
    assert {k: metrics[k] for k in keys if k not in resumed} == {k: again.data.metrics[k] for k in keys
                                                               if k not in resumed}
    sweeps = MlflowClient(tracking_uri).search_runs([run.info.experiment_id], "tags.`harness.kind` = 'sweep'",
                                                    order_by=["attributes.start_time ASC"])
    assert sweeps[-1].data.metrics["n_model_images"] == 8 - kept  # the resuming sweep's own model work
    assert metrics["n_fid"] == again.data.metrics["n_fid"] == 8
    for key in ("fid", "kid_mean", "kid_std"):  # reduced from rows of two processes, one of them killed
        assert abs(metrics[key] - again.data.metrics[key]) <= 1e-9 * abs(again.data.metrics[key]), key
