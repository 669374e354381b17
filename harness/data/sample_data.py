"""`harness data sample`: small datasets the harness writes itself, so every shipped spec runs from a clone.

From the photos bundled with scikit-image (no download): a COCO-format folder (five photos, a
JPEG each, with an instances file whose boxes the harness drew by hand around the person, the cat,
the cup and the motorcycle; the rocket has none) for specs that need COCO's layout, splits and
object masks, and a short clip (a pan across a photo, H.264) for the video source. They are for
trying the harness and for its tests, not for numbers to publish: five images make a FID that
means little, and a pan is gentler than real footage. Re-running rewrites nothing that is there.

A spec may name where `harness data sample` puts them (under `data/sample/` in the working
directory, `DEFAULT_DEST`), usually as its last candidate: when no earlier candidate exists, the
dataset is written there on first use, said on the terminal (`provide`), so a shipped spec
never fails only because a dataset kept elsewhere is absent.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from harness.paths import replace_into, temp_beside, write_atomic

#: image id -> (scikit-image photo, [(category id, box x0, y0, x1, y1)]); boxes drawn by hand, rough
PHOTOS = {
    1: ("astronaut", [(1, 130, 10, 440, 512)]),
    2: ("chelsea", [(17, 90, 0, 400, 300)]),
    3: ("coffee", [(47, 170, 40, 460, 330)]),
    4: ("stereo_motorcycle", [(4, 100, 50, 640, 470)]),
    5: ("rocket", []),
}
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 4, "name": "motorcycle", "supercategory": "vehicle"},
              {"id": 17, "name": "cat", "supercategory": "animal"},
              {"id": 47, "name": "cup", "supercategory": "kitchen"}]
CLIP_FRAMES, CLIP_FPS, CLIP_SIZE, CLIP_STEP = 48, 24, (240, 320), 3
DEFAULT_DEST = Path("data/sample")  # relative to the working directory, as a spec's paths are
#: what a path under DEFAULT_DEST is, for `provides`
LAYOUT = {"coco/images": "coco", "coco/instances.json": "coco", "video": "video", "video/pan.mp4": "video"}


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    return np.ascontiguousarray((image[0] if isinstance(image, tuple) else image)[..., :3])


def write_coco(dest: Path) -> Path:
    """`dest/images/<id>.jpg` and `dest/instances.json`; returns the annotations file."""
    from PIL import Image

    (dest / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id, (name, boxes) in PHOTOS.items():
        rgb = _photo(name)
        file = dest / "images" / f"{image_id:012d}.jpg"
        if not file.exists():
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
            write_atomic(file, buf.getvalue())  # renamed into place: a planted link is replaced, not followed
        images.append({"id": image_id, "file_name": file.name, "height": rgb.shape[0], "width": rgb.shape[1]})
        for category, x0, y0, x1, y1 in boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "iscrowd": 0, "area": float((x1 - x0) * (y1 - y0)), "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]})
    path = dest / "instances.json"
    if not path.exists():
        write_atomic(path, json.dumps({"info": {"description": "harness sample: scikit-image photos, rough boxes"},
                                       "images": images, "annotations": annotations,
                                       "categories": CATEGORIES}).encode())
    return path


def write_clip(dest: Path) -> Path:
    """`dest/pan.mp4`: CLIP_FRAMES frames of a window moving right across a photo at CLIP_FPS."""
    from harness.data.video_encode import VideoWriter

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "pan.mp4"
    if path.exists():
        return path
    photo = _photo("coffee")
    h, w = CLIP_SIZE
    part = temp_beside(path)  # a new file of our own: a fixed name could be a planted link
    try:
        writer = VideoWriter(part, w, h, CLIP_FPS)
        try:
            for k in range(CLIP_FRAMES):
                writer.write(photo[60:60 + h, 20 + CLIP_STEP * k:20 + CLIP_STEP * k + w])
        finally:
            writer.close()
        replace_into(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path


def write_samples(dest: Path) -> dict[str, Path]:
    """Both samples under `dest` (`coco/`, `video/`)."""
    return {"coco": write_coco(dest / "coco"), "video": write_clip(dest / "video")}


def provides(path: Path) -> str | None:
    """'coco' or 'video' when `path` is where `harness data sample` (at DEFAULT_DEST) puts that dataset."""
    try:
        where = Path(path).expanduser().resolve().relative_to((Path.cwd() / DEFAULT_DEST).resolve())
    except ValueError:
        return None
    return LAYOUT.get(where.as_posix())


def sample_kind(*paths: Path) -> str | None:
    """The sample dataset ('coco', 'video') that all of `paths` belong to, else None."""
    kinds = {provides(p) for p in paths}
    return kinds.pop() if len(kinds) == 1 else None


def provide(*paths: Path) -> bool:
    """Write the sample dataset that all of `paths` belong to, if they all name one (see the module
    docstring), and say so; False when they do not (nothing is written)."""
    from harness.console import say

    kind = sample_kind(*paths)
    if kind is None:
        return False
    dest = Path.cwd() / DEFAULT_DEST / kind
    if not all(Path(p).expanduser().exists() for p in paths):
        say(f"[data] writing the harness's {kind} sample to {DEFAULT_DEST / kind} (scikit-image's photos; as "
            f"`harness data sample` does): for trying the harness, not for numbers to publish")
    write_coco(dest) if kind == "coco" else write_clip(dest)
    return True
