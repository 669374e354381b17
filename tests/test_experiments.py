"""Every spec shipped in experiments/ validates, and the peers sweep names the four families."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sweep.points import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec", sorted(p.name for p in (ROOT / "experiments").glob("*.yaml") if p.name != "thresholds.yaml"))
def test_shipped_specs_validate(spec):
    assert load_spec(ROOT / "experiments" / spec).points


def test_peers_compares_the_four_families_on_every_split():
    loaded = load_spec(ROOT / "experiments" / "peers.yaml")
    models = list(dict.fromkeys(p.model for p in loaded.points))
    assert models == ["grayscale", "deoldify-artistic", "deoldify-stable", "zhang-eccv16", "zhang-siggraph17",
                      "ddcolor"]
    assert {p.split for p in loaded.points} == {"all", "animals", "vehicles", "people"}
    ddcolor = next(p for p in loaded.points if p.model == "ddcolor")
    assert (ddcolor.params.size, ddcolor.params.weights_variant, ddcolor.params.input_size) == ("large", "modelscope",
                                                                                                 512)


def test_paper_spec_asks_for_the_papers_metrics_at_256():
    loaded = load_spec(ROOT / "experiments" / "paper.yaml")
    assert [m.name for m in loaded.metrics] == ["fid", "kid", "colorfulness", "psnr", "ssim", "lpips"]
    assert loaded.spec.protocol == "resize256"
    assert [p.model for p in loaded.points] == ["grayscale", "deoldify-artistic"]


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


def test_peers_runs_on_val2017_when_present_else_on_the_shared_sample(tmp_path, monkeypatch):
    """Relative paths from the working directory, as `harness run experiments/peers.yaml` from a checkout."""
    from harness.data import build_dataset
    from harness.errors import HarnessError

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    spec = load_spec(ROOT / "experiments" / "peers.yaml").spec
    with pytest.raises(HarnessError) as info:  # neither: every candidate is named, with what is missing
        build_dataset(spec.dataset, "all")
    msg = str(info.value)
    assert "None of the COCO candidates in dataset.images / dataset.annotations exists" in msg
    assert "1. images 'data/coco/val2017' (missing), annotations 'data/coco/annotations/instances_val2017.json' " \
           "(missing)" in msg and "2. images '../shared/data/coco-sample/images' (missing)" in msg

    sample = tmp_path / "shared" / "data" / "coco-sample"
    _tiny_coco(sample / "images", sample / "instances.json")
    chosen = build_dataset(spec.dataset, "animals")
    assert chosen.info["path"] == str((sample / "images").resolve())
    assert chosen.info["annotations"] == str((sample / "instances.json").resolve())
    assert chosen.info["candidate"] == "2 of 2" and [s.id for s in chosen.samples] == ["2"]

    (checkout / "data" / "coco" / "val2017").mkdir(parents=True)  # images without annotations: not a pair
    assert build_dataset(spec.dataset, "all").info["candidate"] == "2 of 2"
    (checkout / "data" / "coco" / "val2017").rmdir()
    _tiny_coco(checkout / "data" / "coco" / "val2017", checkout / "data" / "coco" / "annotations" /
               "instances_val2017.json")
    val = build_dataset(spec.dataset, "all")
    assert val.info["path"] == str((checkout / "data" / "coco" / "val2017").resolve())
    assert val.info["candidate"] == "1 of 2" and len(val) == 3
    assert val.fingerprint != build_dataset(spec.dataset.model_copy(update={
        "images": spec.dataset.images[1:], "annotations": spec.dataset.annotations[1:]}), "all").fingerprint
