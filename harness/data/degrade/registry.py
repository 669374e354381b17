"""The degradation registry: `@register_degradation` names an operation on the model's gray input
and its severity table; `degrade` applies one, deterministically.

An operation takes the gray input (H x W uint8), its five-row table's row for the severity, and a
numpy `Generator`; it returns an H x W uint8 image of the same size. The generator is seeded
from a hash of (image id, degradation, severity, seed) and nothing else, so a degraded input is
the same bytes whatever the run, the thread or the order the images are decoded in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import HarnessError, did_you_mean

SEVERITIES = (1, 2, 3, 4, 5)
NONE = "none"


@dataclass(frozen=True)
class Degradation:
    """A registered degradation: its operation, the parameters of each severity 1..5, and their source."""

    name: str
    fn: Callable[[np.ndarray, dict[str, Any], np.random.Generator], np.ndarray]
    table: tuple[dict[str, Any], ...]  # severity s -> table[s - 1]
    source: str
    summary: str

    def params(self, severity: int) -> dict[str, Any]:
        return dict(self.table[severity - 1])


_REGISTRY: dict[str, Degradation] = {}


def register_degradation(name: str, table: list[dict[str, Any]], source: str):
    """Register the decorated operation under `name` with its five severities' parameters."""
    if len(table) != len(SEVERITIES):
        raise ValueError(f"degradation '{name}' needs one parameter row per severity 1..5")

    def wrap(fn):
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name
        _REGISTRY[name] = Degradation(name, fn, tuple(table), source, summary)
        return fn

    return wrap


def degradation_names() -> list[str]:
    """The registered degradations (the catalogue registers on `import harness.data.degrade`)."""
    return list(_REGISTRY)


def get_degradation(name: str) -> Degradation:
    names = degradation_names()
    if name not in _REGISTRY:
        raise HarnessError(f"unknown degradation '{name}'.{did_you_mean(name, names)}",
                           hint=f"Known degradations: {NONE}, {', '.join(names)}.")
    return _REGISTRY[name]


def rng_for(image_id: str, name: str, severity: int, seed: int) -> np.random.Generator:
    """The generator of one degraded input: a hash of (image id, degradation, severity, seed)."""
    digest = hashlib.sha256(f"{image_id}\0{name}\0{severity}\0{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def degrade(gray: np.ndarray, image_id: str, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """`gray` (H x W uint8) degraded by `name` at `severity` (1..5); `none` returns it unchanged."""
    if name == NONE:
        return gray
    if severity not in SEVERITIES:
        raise HarnessError(f"severity {severity} of '{name}' is out of 1..5.")
    entry = get_degradation(name)
    out = entry.fn(np.ascontiguousarray(gray), entry.params(severity), rng_for(image_id, name, severity, seed))
    return np.ascontiguousarray(out, dtype=np.uint8)


def to_unit(gray: np.ndarray) -> np.ndarray:
    return gray.astype(np.float64) / 255.0


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
