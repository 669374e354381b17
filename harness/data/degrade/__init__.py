"""Degradations of the model's gray input (the damage of an old photo), at severities 1..5.

Applied in the decoding threads (`harness.pipeline.process.load`) to the gray input only; the
ground truth stays the clean colour photo. See `registry` for the determinism contract and
docs/spec.md for the catalogue's parameters and sources.
"""

from harness.data.degrade import mixes, ops  # noqa: F401 - registers the catalogue
from harness.data.degrade.registry import (
    NONE,
    SEVERITIES,
    Degradation,
    degradation_names,
    degrade,
    get_degradation,
    register_degradation,
    rng_for,
)

__all__ = ["NONE", "SEVERITIES", "Degradation", "degradation_names", "degrade", "get_degradation",
           "register_degradation", "rng_for"]
