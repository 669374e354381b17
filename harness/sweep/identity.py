"""What makes a run reusable: a point's identity, its run key, and the key of the work its splits share.

A point's identity is everything that changes its numbers (model and resolved parameters,
split, the exact data, seed, metrics with their options and weights, the model's weights,
the scoring version, protocol, device type and numerics, metrics implementation, batch
size, and the pixel budget when it is not the default); its hash is the run key a later sweep looks for (`harness.sweep.resume`). The work
key names the shared rows of one model setting's splits in the journal: the same inputs but
the split, every split's data, and the shard size. The executor is not part of either: local
and Ray give the same rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from harness.data.images import DEFAULT_MAX_PIXELS, max_pixels
from harness.device import device_type, numerics

if TYPE_CHECKING:
    from harness.sweep.context import SweepContext
    from harness.sweep.points import SweepPoint

#: Bump when a change to scoring makes old runs incomparable: their run keys then differ.
#: 2: `colorfulness` (and cf_delta) became the literature's absolute-value form.
#: (Not bumped for the pixel budget, #18 D1: an image within it scores as before; one over it, a
#: `failed:too_large` row now, took ~10 GB to score before. A budget other than the default is
#: part of the identity instead, so runs under different budgets are never mixed.)
#: 3: the default (non-exact) DeOldify, Zhang and DDColor pre- and post-processing became torch operations on the
#: model's device (a grey level here and there against the previous host path).
SCORING_VERSION = 3


def run_key(identity: dict[str, Any]) -> str:
    """A short stable hash of an identity (JSON with sorted keys)."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def point_identity(sweep: SweepContext, point: SweepPoint, weights_sha: str | None) -> dict[str, Any]:
    """Everything that changes a point's numbers; its hash is the run key (docs/tracking.md)."""
    spec = sweep.loaded.spec
    identity = {"point": point.identity(), "data": sweep.datasets[point.split].fingerprint,
            "seed": sweep.seed,
            "metrics": [{**m.identity(), "weights": sweep.metrics[m.name].sha256} for m in sweep.usable_metrics],
            "weights": weights_sha, "scoring": SCORING_VERSION, "protocol": spec.protocol,
            "device": device_type(sweep.device), "numerics": numerics(sweep.device), "metrics_impl": sweep.impl,
            "batch_size": spec.batch_size}
    if max_pixels() != DEFAULT_MAX_PIXELS:  # which images become failed:too_large rows (default: keys unchanged)
        identity["max_pixels"] = max_pixels()
    return identity


def work_key(sweep: SweepContext, points: list[SweepPoint], weights_sha: str | None) -> str:
    """The journal's key for the shared rows of `points` (one model setting, several splits): the
    run key's inputs but the split, the exact data of every split, and the shard size."""
    identity = point_identity(sweep, points[0], weights_sha)
    identity["point"] = {**identity["point"], "split": None}
    identity["data"] = [sweep.datasets[p.split].fingerprint for p in points]
    identity["shard_size"] = sweep.loaded.spec.shard_size
    return run_key(identity)
