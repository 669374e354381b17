"""Outputs never overwrite each other, an input, or a symlink's target (#18 D17a, b, c, e, f)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from harness.data import folder
from harness.data.prepare import prepare
from harness.errors import HarnessError
from harness.paths import distinct_names
from harness.tools.colorize import colorize_paths
from tests.fake_models import FakeTint, TintParams


def photo(seed: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def save(path, seed: int, fmt: str | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo(seed)).save(path, format=fmt)
    return path


@pytest.fixture
def model():
    return FakeTint(TintParams(strength=0.3))


def test_distinct_names_keep_the_extension_then_number():
    from pathlib import Path

    names = distinct_names([Path("img.jpg"), Path("img.png"), Path("a/x.jpg"), Path("a/x.jpg"), Path("b.PNG"),
                            Path("b.png")], [".png"] * 6)
    assert [n.as_posix() for n in names] == ["img.jpg.png", "img.png", "a/x.jpg.png", "a/x.jpg~2.png", "b.png",
                                             "b~2.png"]


def test_img_jpg_and_img_png_in_one_folder_give_two_outputs_reported(tmp_path, model):
    src = tmp_path / "in"
    save(src / "img.jpg", 1, "JPEG")
    save(src / "img.png", 2, "PNG")
    report = colorize_paths([src], tmp_path / "out", model, progress=False)
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.written)
    assert written == ["img.jpg.png", "img.png"]
    assert any("img.jpg: written as img.jpg.png" in n and "img.png" in n for n in report.notes)
    outs = [np.asarray(Image.open(p)) for p in report.written]
    assert not np.array_equal(outs[0], outs[1])  # neither overwrote the other


def test_two_inputs_with_one_basename_give_two_outputs(tmp_path, model):
    a, b = save(tmp_path / "a" / "x.png", 1), save(tmp_path / "b" / "x.png", 2)
    report = colorize_paths([a, b], tmp_path / "out", model, progress=False)
    assert sorted(p.name for p in report.written) == ["x.png", "x~2.png"]
    assert any(str(b) in n and "x~2.png" in n for n in report.notes)


@pytest.mark.parametrize("where", [".", "sub"])
def test_out_equal_to_or_inside_the_input_folder_is_refused(tmp_path, model, where):
    src = tmp_path / "in"
    original = save(src / "img.png", 1).read_bytes()
    with pytest.raises(HarnessError, match="is the input folder .* or inside it"):
        colorize_paths([src], src / where, model, progress=False)
    assert (src / "img.png").read_bytes() == original


def test_an_output_that_would_replace_its_input_file_is_refused(tmp_path, model, monkeypatch):
    original = save(tmp_path / "img.png", 1).read_bytes()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError, match="would overwrite its input"):
        colorize_paths([tmp_path / "img.png"], tmp_path, model, progress=False)
    assert (tmp_path / "img.png").read_bytes() == original


def test_a_symlink_planted_in_the_output_folder_is_replaced_never_written_through(tmp_path, model):
    src = tmp_path / "in"
    save(src / "img.png", 1)
    save(src / "sub" / "deep.png", 2)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "img.png").symlink_to(victim)
    (out / "sub").symlink_to(outside)  # a linked subfolder would carry the write out
    report = colorize_paths([src], out, model, progress=False)
    assert victim.read_text() == "precious" and list(outside.iterdir()) == []
    assert not (out / "img.png").is_symlink() and Image.open(out / "img.png").size == (40, 40)
    assert [(p.name, why) for p, why in report.skipped if p.name == "deep.png"][0][1].startswith("output")
    assert not [p for p in out.iterdir() if ".partial" in p.name]  # no temporary file left


def test_data_prepare_gives_img_jpg_and_img_png_two_gray_files(tmp_path):
    src = tmp_path / "in"
    save(src / "img.jpg", 1, "JPEG")
    save(src / "img.png", 2, "PNG")
    out = tmp_path / "prepared"
    counts = prepare([folder.build(src)], out, progress=False)
    assert counts == {"written": 2, "skipped": 0, "failed": 0, "renamed": 1}
    assert sorted(p.name for p in (out / "gray").iterdir()) == ["img.jpg.png", "img.png"]
    manifest = (out / "manifest.csv").read_text()
    assert "gray/img.jpg.png" in manifest and "gray/img.png" in manifest
    again = prepare([folder.build(src)], out, progress=False)  # the same names on a re-run
    assert again == {"written": 0, "skipped": 2, "failed": 0, "renamed": 1}


def test_data_prepare_refuses_out_inside_the_images_folder_and_planted_links(tmp_path):
    src = tmp_path / "in"
    save(src / "img.png", 1)
    with pytest.raises(HarnessError, match="inside it"):
        prepare([folder.build(src)], src / "prepared", progress=False)
    out = tmp_path / "prepared"
    (out / "gray").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "gray" / "img.png").symlink_to(victim)
    (out / "manifest.partial.jsonl").symlink_to(victim)
    prepare([folder.build(src)], out, progress=False)
    assert victim.read_text() == "precious"
    assert Image.open(io.BytesIO((out / "gray" / "img.png").read_bytes())).mode == "L"
    assert not os.path.islink(out / "gray" / "img.png")
