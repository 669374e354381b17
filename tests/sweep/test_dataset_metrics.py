"""FID and KID however `harness run` divides the work: any shard size, splits computed together or
apart, each equal (to 1e-9 relative) to one pass of `evaluate` over the same images. A resumed point
(SIGKILL) and the Ray executor are held to the same in tests/sweep/test_scale.py and
tests/executors/test_ray_cluster.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import tests.fake_models  # noqa: F401 - registers fake-tint
from harness.cli import main
from harness.config.schema import CocoData, CocoSplit
from harness.data import build_dataset
from harness.metrics import MetricChoice
from harness.models.registry import build_model
from harness.sweep.evaluate import evaluate
from tests.data.test_coco import coco_dir  # noqa: F401 - the generated COCO fixture

pytestmark = pytest.mark.slow
FIGURES = ("fid", "n_fid", "kid_mean", "kid_std")
SPLITS = {"all": {}, "people": {"categories": ["person"]}}  # split -> its criteria


def spec(root: Path, inception: Path, name: str, splits: list[str], shard_size: int) -> str:
    lines = "".join(f"    {s}: {json.dumps(SPLITS[s])}\n" for s in splits)  # JSON is YAML
    return f"""\
name: {name}
dataset:
  source: coco
  images: {root / 'images'}
  annotations: {root / 'instances.json'}
  splits:
{lines}models:
  - name: fake-tint
    strength: 0.4
metrics: [psnr, {{name: fid, weights: {inception}}}, {{name: kid, weights: {inception}}}]
grids: {{count: 0}}
batch_size: 2
shard_size: {shard_size}
device: cpu
"""


def logged(uri: str, name: str) -> dict[str, dict[str, float]]:
    """split -> the dataset metrics' figures of that split's point run."""
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id], "tags.`harness.kind` = 'point'")
    return {r.data.tags["harness.split"]: {k: r.data.metrics[k] for k in FIGURES} for r in runs}


def one_pass(root: Path, inception: Path, split: str) -> dict[str, float]:
    dataset = build_dataset(CocoData(source="coco", images=root / "images", annotations=root / "instances.json",
                                     splits={split: CocoSplit(**SPLITS[split])}), split)
    metrics = ["psnr", MetricChoice.parse("fid", {"weights": inception}),
               MetricChoice.parse("kid", {"weights": inception})]
    result = evaluate(dataset, build_model("fake-tint", {"strength": 0.4}), metrics, batch_size=2,
                      shard_size=len(dataset))
    return {k: result.summary[k] for k in FIGURES}


def assert_equal(got: dict[str, float], expected: dict[str, float], what: str) -> None:
    for key, value in expected.items():
        assert abs(got[key] - value) <= 1e-9 * abs(value), f"{what}: {key} {got[key]!r} != {value!r}"


def test_fid_and_kid_equal_one_pass_whatever_the_shards_and_splits(coco_dir, inception_file, write_spec,  # noqa: F811
                                                                   tracking_uri, capsys):
    expected = {s: one_pass(coco_dir, inception_file, s) for s in SPLITS}
    assert (expected["all"]["n_fid"], expected["people"]["n_fid"]) == (4, 3)  # 1-3 and 5 scored; 4 gray, 6 missing
    assert expected["all"]["fid"] != expected["people"]["fid"]  # other images, other numbers: the check can fail
    for shard_size in (1, 3):  # every image its own shard; shards that cut the model's batches
        name = f"shared-{shard_size}"
        path = write_spec(spec(coco_dir, inception_file, name, list(SPLITS), shard_size), f"{name}.yaml")
        assert main(["run", str(path), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr()
        for split, figures in logged(tracking_uri, name).items():
            assert_equal(figures, expected[split], f"{split}, shared splits, shard_size {shard_size}")
    for split in SPLITS:  # each split as a sweep of its own
        name = f"alone-{split}"
        path = write_spec(spec(coco_dir, inception_file, name, [split], 2), f"{name}.yaml")
        assert main(["run", str(path), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr()
        assert_equal(logged(tracking_uri, name)[split], expected[split], f"{split} alone")
