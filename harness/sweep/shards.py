"""Shards: a point's images cut into pieces that are computed, journaled and resumed one by one.

A sweep point of 5,000 images is hours on a CPU; a kill -9 must not throw its finished work
away. So the images a model setting has to process are cut into shards of `shard_size`
(never cutting a `Sample.group`, the frames of one clip), and each finished shard's results
(per-image rows, the dataset metrics' rows of numbers, stage timings) are written at once to
a journal: one file per shard, written to a temporary name, flushed to disk and renamed, so a
file is either whole or absent. A re-run finds the shards already there and computes only
the missing ones; `harness.pipeline.assemble` then gives the same table and numbers as one pass.

Where: a `harness-journal/` folder beside the tracking store (beside `mlflow.db` for the
default SQLite store; the working directory for a remote server; `$HARNESS_JOURNAL` to
choose). Not in the tracking store's artifacts, because the journal must be found by a
*later* process under a *new* run (the killed run is closed as FAILED), by the work's key
rather than a run id, and written on the hot path without a round trip to a server. It is
keyed by everything that changes the rows (the run key's inputs but the split, plus the
exact images and `shard_size`); once every point served by the work is logged, the folder
is deleted. A file that is unreadable or records another key or other images is ignored
with a warning, and its shard computed again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.base import Sample
from harness.locks import exclusive
from harness.pipeline.types import Shard, ShardResult

log = logging.getLogger(__name__)

FORMAT = 1


def plan(samples: Sequence[Sample], size: int) -> list[Shard]:
    """Cut `samples` into shards of `size` (the last may be smaller); a shard that would end inside a
    group (a clip) is extended to the group's end, so no group is cut apart."""
    if size < 1:
        raise ValueError(f"shard size must be at least 1, got {size}")
    shards: list[Shard] = []
    start = 0
    while start < len(samples):
        stop = min(start + size, len(samples))
        group = samples[stop - 1].group
        while group is not None and stop < len(samples) and samples[stop].group == group:
            stop += 1
        shards.append(Shard(len(shards), tuple(samples[start:stop])))
        start = stop
    return shards


def journal_root(tracking_uri: str) -> Path:
    """`$HARNESS_JOURNAL`, else `harness-journal/` beside a local tracking store, else in the working directory."""
    if os.environ.get("HARNESS_JOURNAL"):
        return Path(os.environ["HARNESS_JOURNAL"])
    for scheme in ("sqlite:///", "file://"):
        if tracking_uri.startswith(scheme):
            path = Path(tracking_uri[len(scheme):])
            return (path.parent if scheme == "sqlite:///" else path) / "harness-journal"
    if "://" not in tracking_uri:  # a plain folder (MLflow's file store)
        return Path(tracking_uri) / "harness-journal"
    return Path.cwd() / "harness-journal"


def claim(tracking_uri: str, key: str, on_wait: Callable[[], None]):
    """The right to compute the work `key` on this store, held by one process at a time: a lock file in
    the journal's `claims/` folder (`harness.locks`: released when its process dies, however). A second
    `harness run` of the same work waits, then finds the finished runs and reuses them. Processes on
    other machines sharing a remote store see the same claims only if they share the journal folder
    (`HARNESS_JOURNAL` on a shared file system)."""
    return exclusive(journal_root(tracking_uri) / "claims" / f"{key}.lock", on_wait)


def _json_default(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


class Journal:
    """The finished shards of one piece of work (`key`), as files under `root/key/`."""

    def __init__(self, root: Path, key: str):
        self.key = key
        self.folder = Path(root) / key

    def _file(self, shard: Shard) -> Path:
        return self.folder / f"shard-{shard.index:05d}.npz"

    def save(self, shard: Shard, result: ShardResult) -> None:
        """Write a finished shard durably: whole or not at all."""
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(result.states)
        meta = {"format": FORMAT, "key": self.key, "index": shard.index, "ids": shard.ids,
                "timings": result.timings, "model_images": result.model_images, "stopped": result.stopped,
                "warnings": result.warnings,
                "states": [[k, list(result.states[k])] for k in keys]}
        arrays = {"meta": np.array(json.dumps(meta, default=_json_default)),
                  "rows": np.array(json.dumps(result.rows, default=_json_default))}
        for j, k in enumerate(keys):
            by_id = result.states[k]
            arrays[f"state_{j}"] = np.stack(list(by_id.values())) if by_id else np.zeros((0, 0), np.float32)
        meta["thumb_ids"] = list(result.thumbs)
        for n, (image_id, kind, data) in enumerate((i, k, d) for i, by_kind in result.thumbs.items()
                                                    for k, d in by_kind.items()):
            meta.setdefault("thumbs", []).append([image_id, kind])
            arrays[f"thumb_{n}"] = np.frombuffer(data, np.uint8)
        arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
        final = self._file(shard)
        tmp = final.with_name(final.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def load(self, shard: Shard) -> ShardResult | None:
        """The journaled result of `shard`, or None when there is none (or none to trust)."""
        path = self._file(shard)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT or meta.get("key") != self.key:
                    raise ValueError(f"it belongs to other work (key {meta.get('key')!r}, expected {self.key!r})")
                if meta.get("ids") != shard.ids:
                    raise ValueError("it holds other images than this shard")
                rows = json.loads(str(data["rows"]))
                states = {}
                for j, (name, ids) in enumerate(meta["states"]):
                    array = data[f"state_{j}"]
                    states[name] = {i: array[n] for n, i in enumerate(ids)}
                thumbs: dict[str, dict[str, bytes]] = {i: {} for i in meta.get("thumb_ids", [])}
                for n, (image_id, kind) in enumerate(meta.get("thumbs", [])):
                    thumbs.setdefault(image_id, {})[kind] = data[f"thumb_{n}"].tobytes()
        except Exception as exc:  # noqa: BLE001 - a bad file costs its shard, never the run
            log.warning("ignoring journal file %s (%s): shard %d is computed again", path,
                        f"{type(exc).__name__}: {exc}", shard.index)
            return None
        # the model work of a shard read back counts as it did when computed: a resumed point's summary
        # equals an uninterrupted one's (`Computed.resumed_images` says how much came from the journal)
        return ShardResult(rows=rows, states=states, timings={k: float(v) for k, v in meta["timings"].items()},
                           model_images=int(meta.get("model_images", 0)), stopped=dict(meta["stopped"]),
                           warnings={k: int(v) for k, v in meta.get("warnings", {}).items()}, thumbs=thumbs)

    def clear(self) -> None:
        """Forget the work (its points are logged); the journal folder goes too once it is empty."""
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            self.folder.parent.rmdir()
        except OSError:  # other work is journaled there, or it is already gone
            pass


@dataclass
class Computed:
    """The rows of some work, with how they were obtained."""

    result: ShardResult
    shards: int  # shards of the work
    resumed: int  # shards read back from the journal (not computed again)
    seconds_wall: float  # wall time of this process computing the missing shards
    resumed_images: int = 0  # the model work of those shards, done by an earlier process


def compute(executor, samples: Sequence[Sample], size: int, journal: Journal | None, bar=None) -> Computed:
    """Every shard of `samples`: from the journal where a finished one is there, else computed by
    `executor` (already started on the work) and journaled as soon as it finishes. Without a
    journal (`harness.sweep.evaluate`) every shard is computed and kept in memory only."""
    shards = plan(samples, size)
    results: dict[int, ShardResult] = {}
    for shard in shards if journal is not None else []:
        found = journal.load(shard)
        if found is not None:
            results[shard.index] = found
            if bar is not None:
                bar.update(len(shard.samples))

    def done(shard: Shard, result: ShardResult) -> None:
        if journal is not None:
            journal.save(shard, result)
        results[shard.index] = result

    resumed = len(results)
    resumed_images = sum(r.model_images for r in results.values())
    start = time.perf_counter()
    executor.run([s for s in shards if s.index not in results], done, bar)
    wall = time.perf_counter() - start
    merged = ShardResult.merge([results[s.index] for s in shards])
    return Computed(merged, len(shards), resumed, wall, resumed_images)
