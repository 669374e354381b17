"""Dataset sources: bundled samples and folders; selection is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config.schema import FolderData, SamplesData
from harness.data import build_dataset, folder, samples
from harness.data.base import select
from harness.data.images import is_grayscale
from harness.errors import HarnessError, ImageError


def test_samples_are_bundled_colour_photos_plus_camera():
    ds = samples.build()
    ids = [s.id for s in ds.samples]
    assert len(ids) == len(samples.PHOTOS) and "camera" in ids
    for sample in ds.samples:
        img = sample.load()
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert is_grayscale(img) == (sample.id == "camera"), sample.id


def test_select_is_deterministic_and_seeded():
    ids = [f"{i:03d}" for i in range(50)]
    a = select(ids, 10, seed=0)
    assert a == select(list(reversed(ids)), 10, seed=0)  # input order does not matter
    assert a == sorted(a) and len(set(a)) == 10
    assert a != select(ids, 10, seed=1)
    assert select(ids, None, 0) == ids and select(ids, 500, 0) == ids


def test_limit_changes_fingerprint():
    full, part = samples.build(), samples.build(limit=3, seed=0)
    assert len(part) == 3
    assert full.fingerprint != part.fingerprint
    assert part.fingerprint == samples.build(limit=3, seed=0).fingerprint


def test_folder_lists_every_visible_file(photo_dir):
    ds = build_dataset(FolderData(source="folder", path=photo_dir))
    ids = [s.id for s in ds.samples]
    assert "sub/rocket.jpg" in ids and "notes.txt" in ids and "empty.jpg" in ids
    assert ".hidden.png" not in ids
    assert ds.info["size"] == len(ids) == 9
    ok = {s.id for s in ds.samples if _loads(s)}
    assert ok == {"astronaut.png", "chelsea.jpg", "coffee.png", "sub/rocket.jpg", "gray_as_rgb.png"}


def _loads(sample) -> bool:
    try:
        sample.load()
        return True
    except ImageError:
        return False


def test_folder_non_recursive(photo_dir):
    ds = folder.build(photo_dir, recursive=False)
    assert "sub/rocket.jpg" not in [s.id for s in ds.samples]


def test_folder_fingerprint_follows_content(photo_dir):
    before = folder.build(photo_dir).fingerprint
    (photo_dir / "new.png").write_bytes((photo_dir / "coffee.png").read_bytes())
    assert folder.build(photo_dir).fingerprint != before


def test_folder_errors(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        folder.build(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="contains no files"):
        folder.build(tmp_path / "empty")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(HarnessError, match="not a directory"):
        folder.build(tmp_path / "file.png")


def test_build_dataset_dispatch():
    assert build_dataset(SamplesData(source="samples", limit=2)).source == "samples"
