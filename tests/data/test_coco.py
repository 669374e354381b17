"""COCO source on a generated COCO-format fixture: split semantics, determinism, masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from harness.config.schema import CocoData, CocoSplit
from harness.data import coco
from harness.errors import HarnessError, ImageError
from tests.conftest import COCO_SAMPLE, small_photos

H, W = 40, 60


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE (column-major run lengths starting with zeros), as crowd annotations use."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


@pytest.fixture
def coco_dir(tmp_path):
    """6 images: people, animals, a crowd, a grayscale JPEG, one without instances, one missing file."""
    from pycocotools import mask as mask_utils

    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    photo = np.asarray(Image.fromarray(small_photos()["chelsea.jpg"]).resize((W, H)))
    images = []
    for image_id in (1, 2, 3, 4, 5, 6):
        name = f"{image_id:012d}.jpg"
        images.append({"id": image_id, "file_name": name, "height": H, "width": W})
        if image_id == 6:
            continue  # listed in the annotations, missing on disk
        arr = np.roll(photo, image_id * 7, axis=1)
        if image_id == 4:
            arr = np.repeat(np.asarray(Image.fromarray(arr).convert("L"))[..., None], 3, axis=2)
        Image.fromarray(arr).save(root / "images" / name, quality=95)
    cats = [{"id": 1, "name": "person", "supercategory": "person"},
            {"id": 17, "name": "cat", "supercategory": "animal"},
            {"id": 18, "name": "dog", "supercategory": "animal"},
            {"id": 3, "name": "car", "supercategory": "vehicle"}]
    rect = np.zeros((H, W), np.uint8)
    rect[5:15, 5:25] = 1
    rle = mask_utils.encode(np.asfortranarray(rect))
    rle["counts"] = rle["counts"].decode()
    crowd = np.zeros((H, W), np.uint8)
    crowd[20:40, 30:60] = 1
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 200.0, "bbox": [5, 5, 20, 10],
         "segmentation": [[5, 5, 25, 5, 25, 15, 5, 15]]},
        {"id": 2, "image_id": 2, "category_id": 17, "iscrowd": 0, "area": 200.0, "bbox": [5, 5, 20, 10],
         "segmentation": rle},
        {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 0, "area": 50.0, "bbox": [40, 2, 10, 5],
         "segmentation": [[40, 2, 50, 2, 50, 7, 40, 7]]},
        {"id": 4, "image_id": 3, "category_id": 1, "iscrowd": 1, "area": 600.0, "bbox": [30, 20, 30, 20],
         "segmentation": uncompressed_rle(crowd)},
        {"id": 5, "image_id": 4, "category_id": 18, "iscrowd": 0, "area": 100.0, "bbox": [0, 0, 10, 10],
         "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
        {"id": 6, "image_id": 6, "category_id": 3, "iscrowd": 0, "area": 100.0, "bbox": [0, 0, 10, 10],
         "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
    ]
    for k in range(3):  # image 3 also has 3 small non-crowd people
        anns.append({"id": 10 + k, "image_id": 3, "category_id": 1, "iscrowd": 0, "area": 4.0,
                     "bbox": [k * 3, 0, 2, 2], "segmentation": [[k * 3, 0, k * 3 + 2, 0, k * 3 + 2, 2, k * 3, 2]]})
    (root / "instances.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    coco.load_index.cache_clear()
    return root


def spec(root, **splits) -> CocoData:
    return CocoData(source="coco", images=root / "images", annotations=root / "instances.json",
                    splits={k: CocoSplit(**v) for k, v in (splits or {"all": {}}).items()})


def ids(ds) -> list[int]:
    return [int(s.id) for s in ds.samples]


def test_split_semantics_are_unions(coco_dir):
    s = spec(coco_dir, all={}, animals={"supercategories": ["animal"]}, people={"categories": ["person"]},
             mixed={"categories": ["car"], "image_ids": [5]}, crowded={"min_instances": 3})
    assert ids(coco.build(s, "all")) == [1, 2, 3, 4, 5, 6]
    assert ids(coco.build(s, "animals")) == [2, 4]  # any cat or dog
    assert ids(coco.build(s, "people")) == [1, 2, 3]  # image 3: crowd + small people
    assert ids(coco.build(s, "mixed")) == [5, 6]
    assert ids(coco.build(s, "crowded")) == [3]  # crowd regions are not counted as instances


def test_unknown_category_lists_valid_names(coco_dir):
    with pytest.raises(HarnessError) as info:
        coco.build(spec(coco_dir, pets={"supercategories": ["animl"]}), "pets")
    msg = str(info.value)
    assert "dataset.splits.pets.supercategories" in msg and "Did you mean 'animal'" in msg and "vehicle" in msg


def test_unknown_image_id(coco_dir):
    with pytest.raises(HarnessError, match="999"):
        coco.build(spec(coco_dir, few={"image_ids": [1, 999]}), "few")


def test_limit_is_deterministic(coco_dir):
    s = spec(coco_dir)
    s.limit, s.seed = 3, 7
    first = ids(coco.build(s, "all"))
    assert first == ids(coco.build(s, "all")) and len(first) == 3 and first == sorted(first)


def test_missing_file_and_meta(coco_dir):
    ds = coco.build(spec(coco_dir), "all")
    by_id = {s.id: s for s in ds.samples}
    with pytest.raises(ImageError) as info:
        by_id["6"].load()
    assert info.value.reason == "missing"
    assert by_id["2"].meta["supercategories"] == ["animal", "person"]
    assert by_id["5"].meta["supercategories"] == []
    assert ds.info["split"] == "all" and ds.info["size"] == 6


def test_masks_polygon_rle_and_crowd(coco_dir):
    index = coco.load_index((coco_dir / "instances.json").resolve())
    m1 = index.object_mask(1, H, W)
    assert m1[10, 15] and not m1[30, 50] and 150 <= m1.sum() <= 260
    m2 = index.object_mask(2, H, W, supercategory="animal")
    assert m2.sum() == 200 and m2[5:15, 5:25].all()
    m3 = index.object_mask(3, H, W)
    assert m3[20:40, 30:60].all()  # crowd region counts as object
    assert not index.object_mask(5, H, W).any()  # no instances: background only


def test_reporter_adds_supercategories_region_scores_and_breakdown(coco_dir):
    """The runner knows nothing of COCO: the source's reporter supplies all of it."""
    from harness.models.registry import build_model
    from harness.sweep.evaluate import evaluate

    ds = coco.build(spec(coco_dir), "all")
    result = evaluate(ds, build_model("grayscale"), ["psnr", "delta_e", "colorfulness"])
    rows = result.rows.set_index("image_id")
    assert rows.loc["2", "supercategories"] == "animal;person" and rows.loc["5", "supercategories"] == ""
    assert {"psnr_objects", "psnr_background", "object_fraction"} <= set(rows.columns)
    assert rows.loc["5", "object_fraction"] == 0.0  # no instances: background only
    assert "by_category.csv" in result.tables and "plots/psnr_by_category.png" in result.figures
    assert result.summary["psnr_mean__animal"] == pytest.approx(result.tables["by_category.csv"].set_index(
        "supercategory").loc["animal", "psnr_mean"])


def test_missing_annotations_or_images(coco_dir, tmp_path):
    with pytest.raises(HarnessError, match="annotations file"):
        coco.build(CocoData(source="coco", images=coco_dir / "images", annotations=tmp_path / "x.json"), None)
    with pytest.raises(HarnessError, match="images folder"):
        coco.build(CocoData(source="coco", images=tmp_path / "none", annotations=coco_dir / "instances.json"), None)


@pytest.mark.skipif(not COCO_SAMPLE.is_dir(), reason="../shared/data/coco-sample is absent (only in the dev workspace)")
def test_real_coco_sample_splits():
    s = CocoData(source="coco", images=COCO_SAMPLE / "images", annotations=COCO_SAMPLE / "instances.json",
                 splits={"all": CocoSplit(), "animals": CocoSplit(supercategories=["animal"])})
    coco.load_index.cache_clear()
    every, animals = coco.build(s, "all"), coco.build(s, "animals")
    assert len(every) == 64
    assert 0 < len(animals) < 64 and set(ids(animals)) <= set(ids(every))
    assert all("animal" in x.meta["supercategories"] for x in animals.samples)
