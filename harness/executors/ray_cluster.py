"""The Ray executor: a model setting's shards as Ray work, one model instance per worker.

Each worker is a Ray actor that loads the model once (pinned to `gpus_per_worker` GPUs when
there are GPUs, else to `cpus_per_worker` CPUs) and computes the shards it is handed with
the same code as the local executor (`harness.pipeline.process`), so the per-image rows are the
same. The driver hands out shards as workers free up, and only it talks to MLflow and to
the journal. A worker that dies mid-shard (a lost machine, kill -9, out of memory) is
replaced and its shard handed out again; a shard is counted once, when its result arrives.

Without an address a local Ray is started on this machine (several GPUs of one box use the
same path); with `RAY_ADDRESS` or `--ray-address` the driver joins that cluster, whose
workers must see the same dataset paths and weights cache (a shared file system) and the
same harness version.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from harness.data.base import Sample
from harness.errors import HarnessError
from harness.pipeline.types import Rendered, Shard, ShardResult

log = logging.getLogger(__name__)

INSTALL_HINT = "Install it with `pip install -e '.[ray]'` (the optional `ray` extra), or use the local executor."
#: environment a worker needs to see what the driver sees (plug-ins, cache, offline mode)
FORWARDED = ("HARNESS_PLUGINS", "HARNESS_OFFLINE", "HARNESS_CACHE", "HARNESS_REFERENCE_DIR", "HARNESS_MIRRORS")
#: how often one shard may lose its worker before the run gives up on it
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 5.0


class _Worker:
    """A Ray actor's state: one loaded model and its scorer (a local executor) for one `Work`."""

    def __init__(self, work: dict[str, Any], device: str, threads: int):
        import torch

        from harness.executors.local import LocalExecutor
        from harness.models.registry import get_model_class
        from harness.pipeline.types import Work

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        params = get_model_class(work["model"]).Params.model_validate(work["params"])
        self.local = LocalExecutor(device)
        self.local.start(Work(**{**work, "params": params}))

    def pid(self) -> int:
        return os.getpid()

    def run(self, shard: Shard) -> ShardResult:
        results: list[ShardResult] = []
        self.local.run([shard], lambda _, result: results.append(result))
        return results[0]

    def render(self, samples: Sequence[Sample], ids: list[str]) -> list[Rendered]:
        return self.local.render(samples, ids)

    def colorize(self, grays: list) -> list:
        return self.local.colorize(grays)

    def describe(self) -> dict[str, Any]:
        return self.local.describe()

    def describe_run(self) -> dict[str, Any]:
        return self.local.describe_run()

    def warnings(self) -> list[str]:
        return self.local.warnings()


def _cause(exc: BaseException) -> BaseException:
    """The exception a worker raised (a HarnessError keeps its message and hint), not Ray's wrapper."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def check_reachable(address: str) -> None:
    """Fail fast, naming the address, when nothing listens there (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"Ray address '{address}' is not host:port (or ray://host:port).",
                           hint="e.g. --ray-address 10.0.0.5:6379 or ray://head-node:10001.")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise HarnessError(f"Cannot reach the Ray cluster at '{address}': {exc}.",
                           hint="Check the address and that the head node is up (`ray status` there), or unset "
                                "RAY_ADDRESS / drop --ray-address to start a local Ray on this machine.") from None


class RayExecutor:
    """Runs shards on Ray workers; see the module docstring."""

    kind = "ray"

    def __init__(self, address: str | None, workers: int | None, gpus_per_worker: float | None,
                 cpus_per_worker: float, device: str):
        try:
            import ray
        except ImportError:
            raise HarnessError("The Ray executor needs the `ray` package, which is not installed.",
                               hint=INSTALL_HINT) from None
        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address:
            check_reachable(address)
        env = {k: os.environ[k] for k in FORWARDED if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                     runtime_env={"env_vars": env}, ignore_reinit_error=True)
        except Exception as exc:  # noqa: BLE001 - whatever Ray raises, the user needs the address and the cause
            raise HarnessError(f"Cannot start or join Ray{f' at {address!r}' if address else ''}: "
                               f"{type(exc).__name__}: {exc}", hint="Check RAY_ADDRESS / --ray-address.") from None
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        if gpus_per_worker is None:
            gpus_per_worker = 0.0 if device == "cpu" or not gpus else 1.0
        if device.startswith("cuda") and gpus_per_worker == 0:
            ray.shutdown()
            raise HarnessError(f"device {device} asks for GPUs, but the Ray cluster has none.",
                               hint="Set device: cpu (or auto), or join a cluster with GPUs.")
        self.gpus, self.cpus = gpus_per_worker, cpus_per_worker
        self.device = "cuda" if gpus_per_worker > 0 else "cpu"
        slots = gpus / gpus_per_worker if gpus_per_worker else float(resources.get("CPU", 1)) / cpus_per_worker
        self.size = workers or max(1, int(slots))
        self.actors: list = []
        self.work: dict[str, Any] | None = None

    def _spawn(self):
        actor = self.ray.remote(_Worker).options(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=0)
        return actor.remote(self.work, self.device, int(self.cpus))

    def start(self, work) -> None:
        self.work = {**vars(work), "params": work.params.model_dump(mode="json")}
        self.actors = [self._spawn() for _ in range(self.size)]
        try:  # a model that cannot load fails here, with its own message
            self.ray.get([a.pid.remote() for a in self.actors])
        except self.ray.exceptions.RayTaskError as exc:
            self.stop()
            raise _cause(exc) from None

    def run(self, shards: Sequence[Shard], done: Callable[[Shard, ShardResult], None], bar=None) -> None:
        ray = self.ray
        queue, idle = deque(shards), list(self.actors)
        pending: dict = {}
        attempts: dict[int, int] = {}
        while queue or pending:
            while queue and idle:
                shard, actor = queue.popleft(), idle.pop()
                pending[actor.run.remote(shard)] = (shard, actor)
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            shard, actor = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the shard's own error (e.g. a HarnessError)
                raise _cause(exc) from None
            except ray.exceptions.RayActorError as exc:  # the worker died: replace it, hand the shard out again
                attempts[shard.index] = attempts.get(shard.index, 0) + 1
                if attempts[shard.index] >= MAX_ATTEMPTS:
                    raise HarnessError(f"Shard {shard.index} lost its Ray worker {MAX_ATTEMPTS} times; last: "
                                       f"{str(exc).splitlines()[0]}", hint="See the Ray logs of the workers "
                                       "(out of memory? a crash in the model?).") from None
                log.warning("a Ray worker died during shard %d; handing it to a new worker", shard.index)
                self.actors[self.actors.index(actor)] = replacement = self._spawn()
                queue.appendleft(shard)
                idle.append(replacement)
                continue
            done(shard, result)
            if bar is not None:
                bar.update(len(shard.samples))
            idle.append(actor)

    def render(self, samples: Sequence[Sample], ids: list[str]) -> list[Rendered]:
        wanted = set(ids)
        return self.ray.get(self.actors[0].render.remote([s for s in samples if s.id in wanted], ids))

    def colorize(self, grays: list) -> list:
        return self.ray.get(self.actors[0].colorize.remote(grays))

    def describe(self) -> dict[str, Any]:
        return self.ray.get(self.actors[0].describe.remote())

    def describe_run(self) -> dict[str, Any]:
        """Each fact as the workers report it; values that differ between workers are joined."""
        reports = self.ray.get([a.describe_run.remote() for a in self.actors])
        keys = dict.fromkeys(k for r in reports for k in r)
        return {k: ",".join(dict.fromkeys(str(r[k]) for r in reports if k in r)) for k in keys}

    def warnings(self) -> list[str]:
        """Every worker's fallbacks, each message once."""
        return list(dict.fromkeys(w for ws in self.ray.get([a.warnings.remote() for a in self.actors]) for w in ws))

    def stop(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []

    def close(self) -> None:
        self.stop()
        self.ray.shutdown()
