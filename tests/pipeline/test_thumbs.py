"""The report's thumbnails: which images keep one, their size, and the zip a point logs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from harness.pipeline import thumbs


def test_choose_keeps_all_up_to_the_limit_else_one_seeded_sample():
    ids = [f"img{i:03d}" for i in range(50)]
    assert thumbs.choose(ids, 50) == frozenset(ids)
    sample = thumbs.choose(ids, 10, seed=3)
    assert len(sample) == 10 and sample <= set(ids) and sample == thumbs.choose(list(reversed(ids)), 10, seed=3)
    assert sample != thumbs.choose(ids, 10, seed=4)
    assert thumbs.choose(ids, 0) == frozenset()


def test_encode_shrinks_to_the_side_and_keeps_the_aspect():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
    out = Image.open(io.BytesIO(thumbs.encode(big)))
    assert out.format == "JPEG" and out.size == (224, 149)
    small = np.full((40, 30), 128, np.uint8)  # never enlarged; gray stays one channel
    again = Image.open(io.BytesIO(thumbs.encode(small)))
    assert again.size == (30, 40) and again.mode == "L"


def test_pack_and_unpack_round_trip_ids_with_slashes_and_failed_images():
    kept = {"sub/a.jpg": {"gray": b"g", "output": b"o", "truth": b"t"}, "b#000003": {"truth": b"t2"}, "c": {}}
    assert thumbs.unpack(thumbs.pack(kept)) == kept


def test_unpack_ignores_members_of_another_shape():
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("ids.json", '["a"]')
        zf.writestr("output/0.jpg", b"o")
        zf.writestr("output/7.jpg", b"no such id")
        zf.writestr("../evil/0.jpg", b"x")
        zf.writestr("script/0.jpg", b"x")
    assert thumbs.unpack(out.getvalue()) == {"a": {"output": b"o"}}
