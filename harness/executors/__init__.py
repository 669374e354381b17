"""Executors: where a model setting's shards are computed.

The driver (`harness.sweep`) plans the shards, keeps the journal, assembles and logs the
results; an executor only holds the model: it turns shards into `ShardResult`s and colorizes
the few images the render stage asks for. `local` (the default) runs
them in this process with one model; `ray` runs them on Ray workers, one model per
worker, on one machine or a cluster. Both give identical per-image tables: the executor
is not part of the run key.
"""

from __future__ import annotations

from harness.executors.base import Executor


def make_executor(spec, device: str, address: str | None = None) -> Executor:
    """The executor a spec's `executor` section asks for (`address` overrides a Ray address)."""
    if spec.kind == "ray":
        from harness.executors.ray_cluster import RayExecutor

        return RayExecutor(address or spec.address, spec.workers, spec.gpus_per_worker, spec.cpus_per_worker,
                           device)
    from harness.executors.local import LocalExecutor

    return LocalExecutor(device)


__all__ = ["Executor", "make_executor"]
