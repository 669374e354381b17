"""Every spec shipped in experiments/ validates and finds its data from a clone, and the peers sweep names the five
families."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sweep.points import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec", sorted(p.name for p in (ROOT / "experiments").glob("*.yaml") if p.name != "thresholds.yaml"))
def test_shipped_specs_validate(spec):
    assert load_spec(ROOT / "experiments" / spec).points


def test_peers_compares_the_five_families_on_every_split():
    loaded = load_spec(ROOT / "experiments" / "peers.yaml")
    models = list(dict.fromkeys(p.model for p in loaded.points))
    assert models == ["grayscale", "deoldify-artistic", "deoldify-stable", "zhang-eccv16", "zhang-siggraph17",
                      "ddcolor", "colorformer"]
    assert {p.split for p in loaded.points} == {"all", "animals", "vehicles", "people"}
    ddcolor = next(p for p in loaded.points if p.model == "ddcolor")
    assert (ddcolor.params.size, ddcolor.params.weights_variant, ddcolor.params.input_size) == ("large", "modelscope",
                                                                                                 512)
    colorformer = next(p for p in loaded.points if p.model == "colorformer")
    assert (colorformer.params.input_size, colorformer.params.exact) == (256, False)


def test_paper_spec_asks_for_the_papers_metrics_at_256():
    loaded = load_spec(ROOT / "experiments" / "paper.yaml")
    assert [m.name for m in loaded.metrics] == ["fid", "kid", "colorfulness", "psnr", "ssim", "lpips"]
    assert loaded.spec.protocol == "resize256"
    assert [p.model for p in loaded.points] == ["grayscale", "deoldify-artistic"]


def test_old_photos_sweeps_degradations_on_the_bundled_samples():
    loaded = load_spec(ROOT / "experiments" / "old_photos.yaml")
    assert loaded.spec.dataset.source == "samples"
    assert list(dict.fromkeys(p.model for p in loaded.points)) == ["grayscale", "deoldify-artistic"]
    assert {p.degradation for p in loaded.points} == {None, "gaussian_noise", "jpeg", "gaussian_blur", "fade",
                                                      "old_photo"}
    assert "grayscale[degradation=gaussian_noise/5]" in [p.label for p in loaded.points]


def _tiny_coco(images: Path, annotations: Path) -> None:
    """A COCO folder of 3 listed images with the categories peers.yaml's splits name (files need not exist:
    choosing the dataset reads only the annotations)."""
    import json

    images.mkdir(parents=True)
    annotations.parent.mkdir(parents=True, exist_ok=True)
    cats = [{"id": 1, "name": "person", "supercategory": "person"}, {"id": 17, "name": "cat", "supercategory": "animal"},
            {"id": 3, "name": "car", "supercategory": "vehicle"}]
    annotations.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i:012d}.jpg", "height": 8, "width": 8} for i in (1, 2, 3)],
        "annotations": [{"id": 10 + i, "image_id": i, "category_id": c, "iscrowd": 0, "area": 4.0,
                         "bbox": [0, 0, 2, 2], "segmentation": [[0, 0, 2, 0, 2, 2]]} for i, c in ((1, 1), (2, 17))],
        "categories": cats}))


def test_peers_runs_on_val2017_when_present_else_on_the_shared_sample_else_on_its_own(tmp_path, monkeypatch, capsys):
    """Relative paths from the working directory, as `harness run experiments/peers.yaml` from a checkout."""
    from harness.data import build_dataset, unavailable
    from harness.errors import HarnessError

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    spec = load_spec(ROOT / "experiments" / "peers.yaml").spec
    assert unavailable(spec.dataset) is None and not (checkout / "data").exists()  # validating writes nothing
    own = build_dataset(spec.dataset, "animals")  # none there: the harness's own sample, written and said
    assert own.info["candidate"] == "3 of 3" and [s.id for s in own.samples] == ["2"]  # chelsea, the cat
    assert own.info["path"] == str((checkout / "data" / "sample" / "coco" / "images").resolve())
    assert "[data] writing the harness's coco sample to data/sample/coco" in capsys.readouterr().err
    assert len(build_dataset(spec.dataset, "all")) == 5 and "[data]" not in capsys.readouterr().err

    elsewhere = spec.dataset.model_copy(update={"images": spec.dataset.images[:2],
                                                "annotations": spec.dataset.annotations[:2]})
    with pytest.raises(HarnessError) as info:  # no candidate there: every one is named, with what is missing
        build_dataset(elsewhere, "all")
    msg = str(info.value)
    assert "None of the COCO candidates in dataset.images / dataset.annotations exists" in msg
    assert "1. images 'data/coco/val2017' (missing), annotations 'data/coco/annotations/instances_val2017.json' " \
           "(missing)" in msg and "2. images '../shared/data/coco-sample/images' (missing)" in msg
    assert unavailable(elsewhere).startswith("None of the COCO candidates")

    sample = tmp_path / "shared" / "data" / "coco-sample"
    _tiny_coco(sample / "images", sample / "instances.json")
    chosen = build_dataset(spec.dataset, "animals")
    assert chosen.info["path"] == str((sample / "images").resolve())
    assert chosen.info["annotations"] == str((sample / "instances.json").resolve())
    assert chosen.info["candidate"] == "2 of 3" and [s.id for s in chosen.samples] == ["2"]

    (checkout / "data" / "coco" / "val2017").mkdir(parents=True)  # images without annotations: not a pair
    assert build_dataset(spec.dataset, "all").info["candidate"] == "2 of 3"
    (checkout / "data" / "coco" / "val2017").rmdir()
    _tiny_coco(checkout / "data" / "coco" / "val2017", checkout / "data" / "coco" / "annotations" /
               "instances_val2017.json")
    val = build_dataset(spec.dataset, "all")
    assert val.info["path"] == str((checkout / "data" / "coco" / "val2017").resolve())
    assert val.info["candidate"] == "1 of 3" and len(val) == 3
    assert val.fingerprint != build_dataset(spec.dataset.model_copy(update={
        "images": spec.dataset.images[1:], "annotations": spec.dataset.annotations[1:]}), "all").fingerprint


def _clone_checkout(tmp_path: Path) -> Path:
    """A folder holding the shipped specs and nothing beside it: no `../shared`, no data, no weights."""
    import shutil

    work = tmp_path / "clone" / "checkout"
    shutil.copytree(ROOT / "experiments", work / "experiments")
    return work


def _harness(work: Path, tmp_path: Path, *args: str):
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, "PYTHONPATH": str(ROOT), "HARNESS_OFFLINE": "1", "HARNESS_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)


def test_from_a_clone_every_shipped_spec_finds_its_data_or_says_how_to_get_it(tmp_path):
    """`harness validate` checks data and weights: only the val2017 reference sweep lacks its data (and says
    how to fetch it); every spec says which weights are not cached and the command that fetches them."""
    work = _clone_checkout(tmp_path)
    for spec in sorted((work / "experiments").glob("*.yaml")):
        done = _harness(work, tmp_path, "validate", f"experiments/{spec.name}")
        assert done.returncode == 0, (spec.name, done.stdout, done.stderr)
        missing = "warning: its data is not here" in done.stdout
        assert missing == (spec.name == "sweep.yaml"), (spec.name, done.stdout)
        if "deoldify" in spec.read_text():
            assert "not cached: `harness run` fetches it, or `harness weights fetch deoldify-" in done.stdout
        if spec.name == "peers.yaml":
            assert "colorformer: colorformer_net_g_200000.pth not cached, and it has no download link" in done.stdout
        if spec.name == "paper.yaml":
            assert "metric fid: pt_inception-2015-12-05-6726825d.pth not cached" in done.stdout
    sweep = _harness(work, tmp_path, "validate", "experiments/sweep.yaml").stdout
    assert "COCO images folder 'data/coco/val2017' does not exist." in sweep and "harness data download coco" in sweep
    assert not (work / "data").exists()  # validating wrote nothing


@pytest.mark.slow
def test_the_video_spec_runs_from_a_clone_on_the_harness_sample_clip(tmp_path):
    """experiments/video.yaml with no `../shared`: the grayscale baseline runs on the sample pan the harness
    writes, the temporal metrics are logged, DeOldify Video fails on its weights alone (exit 1)."""
    from mlflow.tracking import MlflowClient

    work = _clone_checkout(tmp_path)
    ran = _harness(work, tmp_path, "run", "experiments/video.yaml", "--no-progress")
    assert ran.returncode == 1, ran.stderr
    assert "[data] writing the harness's video sample to data/sample/video" in ran.stderr
    assert "[done] grayscale" in ran.stderr and "[failed] deoldify-video" in ran.stderr
    assert ran.stderr.count("ColorizeVideo_gen.pth") >= 1 and "NameResolution" not in ran.stderr
    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    (point,) = [r for r in client.search_runs([client.get_experiment_by_name("video").experiment_id])
                if r.data.tags.get("harness.kind") == "point"]
    assert point.data.metrics["n_scored"] == 48 and point.data.metrics["n_clips"] == 1
    assert point.data.metrics["flicker_mean"] < point.data.metrics["flicker_gt_mean"]
