"""`data prepare`: originals unchanged, luma PNGs, manifest, idempotent and interrupt-safe."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest
from PIL import Image

from harness.data import folder, samples
from harness.data.images import decode_rgb
from harness.data.prepare import JOURNAL, prepare
from harness.gray import to_gray


def manifest(out):
    with (out / "manifest.csv").open(newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def test_prepare_folder(photo_dir, tmp_path):
    out = tmp_path / "prepared"
    counts = prepare([folder.build(photo_dir)], out, progress=False)
    assert counts == {"written": 5, "skipped": 0, "failed": 4}
    rows = manifest(out)
    assert len(rows) == 9
    row = rows["sub/rocket.jpg"]
    original = (photo_dir / "sub" / "rocket.jpg").read_bytes()
    assert (out / row["file"]).read_bytes() == original  # unchanged bytes
    assert row["sha256"] == hashlib.sha256(original).hexdigest() and int(row["size"]) == len(original)
    gray = np.asarray(Image.open(out / row["gray_file"]))
    np.testing.assert_array_equal(gray, to_gray(decode_rgb(photo_dir / "sub" / "rocket.jpg")))
    assert rows["gray_as_rgb.png"]["is_grayscale"] == "True" and row["is_grayscale"] == "False"
    assert rows["empty.jpg"]["status"] == "failed:empty"
    assert not (out / JOURNAL).exists()

    again = prepare([folder.build(photo_dir)], out, progress=False)
    assert again["skipped"] == 5 and again["written"] == 0
    assert manifest(out) == rows


def test_prepare_resumes_after_interrupt(tmp_path, monkeypatch):
    import harness.data.prepare as prep

    out = tmp_path / "prepared"
    real = prep._prepare_one
    seen = []

    def interrupt_third(sample, dataset, target, *rest):
        seen.append(sample.id)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(sample, dataset, target, *rest)

    monkeypatch.setattr(prep, "_prepare_one", interrupt_third)
    ds = samples.build(limit=4, seed=0)
    with pytest.raises(KeyboardInterrupt):
        prepare([ds], out, progress=False)
    assert (out / JOURNAL).exists() and not (out / "manifest.csv").exists()
    monkeypatch.setattr(prep, "_prepare_one", real)
    counts = prepare([ds], out, progress=False)
    assert counts == {"written": 2, "skipped": 2, "failed": 0}
    rows = manifest(out)
    assert sorted(rows) == sorted(s.id for s in ds.samples)
    for row in rows.values():
        assert (out / row["file"]).exists() and (out / row["gray_file"]).exists()


def test_prepare_records_every_split(tmp_path):
    from harness.data.base import Dataset

    base = samples.build(limit=3, seed=0)
    a = Dataset("s", "samples", base.samples[:2], base.info, split="a")
    b = Dataset("s", "samples", base.samples[1:], base.info, split="b")
    prepare([a, b], tmp_path / "out", progress=False)
    rows = manifest(tmp_path / "out")
    assert rows[base.samples[1].id]["split"] == "a;b"
    assert rows[base.samples[0].id]["split"] == "a" and rows[base.samples[2].id]["split"] == "b"


def test_prepare_writes_the_degraded_inputs_a_run_gives(photo_dir, tmp_path):
    from harness.cli import main
    from harness.data.degrade import degrade

    out = tmp_path / "prepared"
    args = ["data", "prepare", "--images", str(photo_dir), "--out", str(out), "--no-progress"]
    assert main(args + ["--degradation", "gaussian_noise", "--severity", "3"]) == 0
    row = manifest(out)["sub/rocket.jpg"]
    assert row["gray_file"].startswith("gray_gaussian_noise_3/")
    clean = to_gray(decode_rgb(photo_dir / "sub" / "rocket.jpg"))
    np.testing.assert_array_equal(np.asarray(Image.open(out / row["gray_file"])),
                                  degrade(clean, "sub/rocket.jpg", "gaussian_noise", 3, 0))
    assert main(args) == 0  # the clean inputs are written, not taken for the degraded ones
    row = manifest(out)["sub/rocket.jpg"]
    np.testing.assert_array_equal(np.asarray(Image.open(out / row["gray_file"])), clean)
    assert main(args + ["--degradation", "gausian_noise", "--severity", "3"]) != 0
    assert main(args + ["--degradation", "jpeg"]) != 0
