"""A small sweep with thumbnails, run once for the study tests: the grayscale baseline and two tints of
the fake model over five photos, through `harness run`."""

from __future__ import annotations

import pytest

import tests.fake_models  # noqa: F401 - registers the fake models the spec names
from harness.cli.main import main

SPEC = """
name: study-test
dataset: {source: folder, path: PHOTOS}
models:
  - name: grayscale
  - name: fake-tint
    strength: [0.1, 0.4]
metrics: [psnr]
grids: {count: 0}
"""
POINTS = ["grayscale", "fake-tint[strength=0.1]", "fake-tint[strength=0.4]"]


@pytest.fixture(scope="package")
def sweep(tmp_path_factory):
    """(the store's URI, the sweep's folder)."""
    from PIL import Image

    from tests.conftest import small_photos

    root = tmp_path_factory.mktemp("study")
    (root / "photos").mkdir()
    for name, arr in small_photos().items():
        Image.fromarray(arr).save(root / "photos" / name, quality=95)
    spec = root / "spec.yaml"
    spec.write_text(SPEC.replace("PHOTOS", str(root / "photos")))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0
    return uri, root
