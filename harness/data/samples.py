"""The embedded default dataset: colour photos bundled inside scikit-image.

No download is needed, so the quickstart runs on a fresh machine with no network. The
grayscale `camera` photo is included on purpose: it must be detected and excluded from
scoring, which shows the exclusion working on every run.
"""

from __future__ import annotations

import numpy as np

from harness.data.base import Dataset, Sample, select
from harness.data.images import from_array

#: sample id -> scikit-image loader name; all ship inside the scikit-image wheel.
PHOTOS = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
    "motorcycle": "stereo_motorcycle",
    "hubble_deep_field": "hubble_deep_field",
    "immunohistochemistry": "immunohistochemistry",
    "retina": "retina",
    "camera": "camera",  # grayscale: excluded from scoring
}


def _loader(func_name: str):
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, func_name)()
        if isinstance(image, tuple):  # stereo_motorcycle -> (left, right, disparity)
            image = image[0]
        return from_array(image)

    return load


def build(limit: int | None = None, seed: int = 0) -> Dataset:
    import skimage

    ids = select(list(PHOTOS), limit, seed)
    samples = [Sample(id=i, loader=_loader(PHOTOS[i]), path=f"skimage.data.{PHOTOS[i]}") for i in ids]
    info = {"source": "samples", "path": f"scikit-image {skimage.__version__} sample photos",
            "limit": limit, "seed": seed, "size": len(samples)}
    return Dataset(name="samples", source="samples", samples=samples, info=info,
                   fingerprint_items=[skimage.__version__, ids])
