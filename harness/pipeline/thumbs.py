"""Thumbnails of the images a run scored, kept as it runs, for the sweep's comparison report.

The report shows every point's output beside the gray input and the truth for the same images,
so it must show the outputs that were scored, not a second colorization: while a shard is
scored, the images chosen for the report (`choose`: all of them up to a limit, else a seeded
sample) are encoded here as small JPEGs (`SIDE` pixels on the longer side, quality `QUALITY`:
about 10 KB each on COCO photos) and travel with the shard's rows (journal included) to the point's run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from harness.data.base import select

SIDE = 224
QUALITY = 75
DEFAULT_IMAGES = 200  # images a report shows, per sweep (the spec's `report.images`)
KINDS = ("gray", "output", "truth")


def encode(image: np.ndarray, side: int = SIDE) -> bytes:
    """`image` (H x W gray or H x W x 3 uint8) as a JPEG at most `side` pixels on its longer side."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    scale = side / max(pil.size)
    if scale < 1:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS,
                         reducing_gap=3.0)
    out = io.BytesIO()
    pil.save(out, format="JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()


def choose(ids: Sequence[str], limit: int, seed: int = 0) -> frozenset[str]:
    """The images whose thumbnails a run keeps: all of `ids` when there are at most `limit`, else a
    sample of `limit` drawn with `seed` (the same for every point of a sweep, so rows line up)."""
    if limit <= 0:
        return frozenset()
    return frozenset(ids if len(ids) <= limit else select(list(ids), limit, seed))


def pack(kept: dict[str, dict[str, bytes]]) -> bytes:
    """Thumbnails as one zip (stored, not deflated: JPEGs do not shrink): `ids.json` lists the image
    ids (which may hold '/'), and `<kind>/<n>.jpg` is the n-th id's image of that kind."""
    import json
    import zipfile

    ids = sorted(kept)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ids.json", json.dumps(ids))
        for n, image_id in enumerate(ids):
            for kind, data in kept[image_id].items():
                zf.writestr(f"{kind}/{n}.jpg", data)
    return out.getvalue()


def unpack(data: bytes) -> dict[str, dict[str, bytes]]:
    """`pack`'s zip read back; members of another shape are ignored (the file is an artifact, not trusted)."""
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        ids = [str(i) for i in json.loads(zf.read("ids.json"))]
        kept: dict[str, dict[str, bytes]] = {i: {} for i in ids}  # an image without thumbnails failed early
        for info in zf.infolist():
            kind, sep, name = info.filename.partition("/")
            number = name[:-4] if name.endswith(".jpg") else ""
            if sep and kind in KINDS and number.isdigit() and int(number) < len(ids) and info.file_size < 4 << 20:
                kept[ids[int(number)]][kind] = zf.read(info)
    return kept
