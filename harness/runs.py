"""How the harness lays out its runs in the tracking store, and reading sweeps back.

One parent run per `harness run` (tag `harness.kind` = sweep), one child run per sweep
point (`harness.kind` = point) carrying its run key and label. The parent lists its
points, fresh and reused, in `harness.children`, and what happened to each in
`outcomes.json`. `load_sweep` turns the latest sweep (or every sweep) into the runs table
`compare` and `check` work on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from harness.tracking import Tracker

TAG_KIND = "harness.kind"  # "sweep" | "point"
TAG_KEY = "harness.run_key"
TAG_LABEL = "harness.label"
TAG_MODEL = "harness.model"
TAG_SPLIT = "harness.split"
TAG_CHILDREN = "harness.children"
TAG_FAILED = "harness.failed"
TAG_HOST = "harness.host"
TAG_PID = "harness.pid"
TAG_FIRST_PARENT = "harness.first_parent"
TAG_PARENT = "mlflow.parentRunId"
NOTE_PREFIX = "harness.metric_note."  # + metric name: why it has no value, or a caveat on it
META_COLUMNS = ["run_id", "parent_run_id", "label", "model", "split", "status", "start_time"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Sweep:
    """The finished point runs of one or more sweeps, with what the reader needs to say which."""

    experiment: str
    runs: pd.DataFrame
    parents: list[str] = field(default_factory=list)  # sweep run ids read, newest first
    started: str = ""  # start time of the newest sweep read, UTC
    failed: list[tuple[str, str]] = field(default_factory=list)  # (label, reason) of points that failed

    def describe(self) -> str:
        """One line saying which experiment and sweep(s) the numbers come from."""
        if not self.parents:
            return f"Experiment '{self.experiment}': no sweep yet."
        which = (f"sweep run {self.parents[0]} (started {self.started})" if len(self.parents) == 1
                 else f"{len(self.parents)} sweeps, the latest {self.parents[0]} (started {self.started})")
        return f"Experiment '{self.experiment}', {which}: {len(self.runs)} finished point run(s)."


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load_sweep(tracker: Tracker, *, all_parents: bool = False, failures: bool = True) -> Sweep:
    """The point runs of the latest sweep (or of every sweep, each run once) as one row per run,
    and (with `failures`) the points of those sweeps that failed without a finished run."""
    parents = tracker.search(f"tags.`{TAG_KIND}` = 'sweep'")
    if not parents:
        return Sweep(tracker.experiment_name, runs_frame([]))
    chosen = parents if all_parents else parents[:1]
    ids: list[str] = []
    for parent in chosen:
        ids.extend(c for c in json.loads(parent.data.tags.get(TAG_CHILDREN, "[]")) if c not in ids)
    runs = [r for r in (tracker.get_run(i) for i in ids) if r.info.status == "FINISHED"]
    finished = {r.data.tags.get(TAG_LABEL) for r in runs}
    failed: list[tuple[str, str]] = []
    for parent in chosen if failures else []:
        for outcome in tracker.read_json(parent.info.run_id, "outcomes.json") or []:
            if outcome.get("status") == "failed" and outcome["label"] not in finished \
                    and outcome["label"] not in {f[0] for f in failed}:
                failed.append((outcome["label"], (outcome.get("message") or "").splitlines()[0][:300]))
    return Sweep(tracker.experiment_name, runs_frame(runs), [p.info.run_id for p in chosen],
                 _utc(chosen[0].info.start_time), failed)


def runs_frame(runs) -> pd.DataFrame:
    """One row per run: metadata, `param.*` columns and one column per logged metric."""
    rows = []
    for run in runs:
        tags = run.data.tags
        row = {"run_id": run.info.run_id, "parent_run_id": tags.get(TAG_PARENT), "label": tags.get(TAG_LABEL),
               "model": tags.get(TAG_MODEL), "split": tags.get(TAG_SPLIT), "status": run.info.status,
               "start_time": run.info.start_time}
        row.update({f"param.{k}": v for k, v in run.data.params.items()})
        row.update({f"note.{k[len(NOTE_PREFIX):]}": v for k, v in tags.items() if k.startswith(NOTE_PREFIX)})
        row.update(run.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else META_COLUMNS)
