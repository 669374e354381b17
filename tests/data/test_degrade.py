"""The degradation catalogue: every operation keeps the gray input's shape and type, is a function of
(image id, degradation, severity, seed) alone whatever the thread order, and grows with severity."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from harness.data.degrade import SEVERITIES, degradation_names, degrade, get_degradation
from harness.errors import HarnessError

CATALOGUE = ["gaussian_blur", "motion_blur", "gaussian_noise", "speckle_noise", "salt_pepper", "film_grain", "jpeg",
             "downscale", "fade", "scratches", "halftone", "sepia", "old_photo"]


def _gray(seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:48, 0:64]
    rng = np.random.default_rng(seed)
    return np.clip(x * 3 + y * 2 + rng.normal(0, 10, x.shape), 0, 255).astype(np.uint8)


def test_catalogue_is_registered_with_five_documented_severities():
    assert set(CATALOGUE) <= set(degradation_names())
    for name in CATALOGUE:
        entry = get_degradation(name)
        assert len(entry.table) == 5 and entry.source and entry.summary


@pytest.mark.parametrize("name", CATALOGUE)
def test_shape_type_and_determinism(name):
    gray = _gray()
    for severity in SEVERITIES:
        out = degrade(gray, "img-1", name, severity, seed=3)
        assert out.shape == gray.shape and out.dtype == np.uint8
        assert np.array_equal(out, degrade(gray.copy(), "img-1", name, severity, seed=3))
    assert np.array_equal(gray, _gray())  # the input is never written


def test_identical_bytes_whatever_the_thread_order():
    jobs = [(f"img-{i}", name, s) for i in range(4) for name in CATALOGUE for s in (1, 5)]
    grays = {f"img-{i}": _gray(i) for i in range(4)}

    def digest(job):
        image_id, name, severity = job
        return job, hashlib.sha256(degrade(grays[image_id], image_id, name, severity, 0).tobytes()).hexdigest()

    serial = dict(map(digest, jobs))
    with ThreadPoolExecutor(4) as pool:
        threaded = dict(pool.map(digest, list(reversed(jobs))))
    assert serial == threaded


def test_seed_and_image_id_change_the_noise():
    gray = _gray()
    a = degrade(gray, "a", "gaussian_noise", 3, 0)
    assert not np.array_equal(a, degrade(gray, "b", "gaussian_noise", 3, 0))
    assert not np.array_equal(a, degrade(gray, "a", "gaussian_noise", 3, 1))


def test_none_is_the_input_and_bad_names_are_refused():
    gray = _gray()
    assert degrade(gray, "a", "none", 1) is gray
    with pytest.raises(HarnessError, match="Did you mean 'gaussian_noise'"):
        degrade(gray, "a", "gausian_noise", 1)
    with pytest.raises(HarnessError, match="out of 1..5"):
        degrade(gray, "a", "jpeg", 6)


@pytest.mark.parametrize("name", ["gaussian_noise", "gaussian_blur", "salt_pepper", "fade", "downscale"])
def test_damage_grows_with_severity(name):
    gray = np.asarray(_gray(), dtype=np.uint8)
    errors = [np.abs(degrade(gray, "a", name, s).astype(int) - gray).mean() for s in SEVERITIES]
    assert all(a < b for a, b in zip(errors, errors[1:])), errors


def test_load_degrades_the_gray_input_only():
    from harness.data.base import Reporter, Sample
    from harness.gray import to_gray
    from harness.pipeline.process import load

    y, x = np.mgrid[0:40, 0:48]
    rgb = np.stack([x * 5, y * 6, (x + y) * 3], axis=2).astype(np.uint8)
    sample = Sample(id="s1", loader=lambda: rgb.copy())
    item = load(sample, Reporter(), "cpu", ("gaussian_noise", 4), 7)
    assert np.array_equal(item.gt, rgb)  # the ground truth stays the clean colour photo
    assert np.array_equal(item.gray, degrade(to_gray(rgb), "s1", "gaussian_noise", 4, 7))
    assert np.array_equal(load(sample, Reporter(), "cpu").gray, to_gray(rgb))
