"""Shared fixtures: small image folders, spec writers and throwaway MLflow stores.

Every fixture builds its data itself, so the core suite needs no download and no
../shared data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HARNESS_OFFLINE", "1")  # tests never reach the internet
os.environ.setdefault("MPLBACKEND", "Agg")

COCO_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco-sample"


def small_photos() -> dict[str, np.ndarray]:
    """Small real colour photos (crops of scikit-image samples), varied sizes."""
    import skimage.data

    return {
        "astronaut.png": skimage.data.astronaut()[40:104, 160:256],
        "chelsea.jpg": skimage.data.chelsea()[60:140, 120:220],
        "coffee.png": skimage.data.coffee()[100:157, 200:271],
        "rocket.jpg": skimage.data.rocket()[200:264, 300:348],
    }


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder of 4 colour photos, 1 grayscale photo stored as RGB, and 4 bad files."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name, arr in small_photos().items():
        Image.fromarray(arr).save(root / ("sub" if name.startswith("rocket") else "") / name, quality=95)
    gray = np.asarray(Image.fromarray(small_photos()["astronaut.png"]).convert("L"))
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(root / "gray_as_rgb.png")
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    good = (root / "chelsea.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (root / ".hidden.png").write_bytes(b"")
    return root


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a spec (a YAML string) to a file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"
