"""Reading sweeps back: the latest sweep (or every sweep) as the runs table `compare` and `check` use.

The layout read is `harness.tracking.layout`'s: a sweep's points are the runs its
`harness.children` tag lists; those that failed without a finished run come from its
`outcomes.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from harness.tracking import layout
from harness.tracking.client import Tracker

META_COLUMNS = ["run_id", "parent_run_id", "label", "model", "split", "status", "start_time"]


@dataclass
class SweepRuns:
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


def load_sweep(tracker: Tracker, *, all_parents: bool = False, failures: bool = True,
               sweep_id: str | None = None) -> SweepRuns:
    """The point runs of the latest sweep (or of every sweep, each run once, or of the sweep run
    `sweep_id`) as one row per run, and (with `failures`) the points of those sweeps that failed
    without a finished run."""
    parents = tracker.search(f"tags.`{layout.KIND}` = '{layout.SWEEP}'")
    if sweep_id is not None:
        parents = [p for p in parents if p.info.run_id == sweep_id]
        if not parents:
            from harness.errors import HarnessError

            raise HarnessError(f"Experiment '{tracker.experiment_name}' has no sweep run {sweep_id}.",
                               hint="Give the run id of a sweep (the parent run `harness run` prints), or leave "
                                    "--sweep out for the latest.")
    if not parents:
        return SweepRuns(tracker.experiment_name, runs_frame([]))
    chosen = parents if all_parents else parents[:1]
    ids: list[str] = []
    for parent in chosen:
        ids.extend(c for c in json.loads(parent.data.tags.get(layout.CHILDREN, "[]")) if c not in ids)
    runs = [r for r in (tracker.get_run(i) for i in ids) if r.info.status == "FINISHED"]
    finished = {r.data.tags.get(layout.LABEL) for r in runs}
    failed: list[tuple[str, str]] = []
    for parent in chosen if failures else []:
        for outcome in tracker.read_json(parent.info.run_id, layout.OUTCOMES) or []:
            if outcome.get("status") == "failed" and outcome["label"] not in finished \
                    and outcome["label"] not in {f[0] for f in failed}:
                failed.append((outcome["label"], (outcome.get("message") or "").strip()))
    return SweepRuns(tracker.experiment_name, runs_frame(runs), [p.info.run_id for p in chosen],
                 _utc(chosen[0].info.start_time), failed)


def runs_frame(runs) -> pd.DataFrame:
    """One row per run: metadata, `param.*` columns and one column per logged metric."""
    rows = []
    for run in runs:
        tags = run.data.tags
        row = {"run_id": run.info.run_id, "parent_run_id": tags.get(layout.PARENT), "label": tags.get(layout.LABEL),
               "model": tags.get(layout.MODEL), "split": tags.get(layout.SPLIT), "status": run.info.status,
               "start_time": run.info.start_time}
        row.update({f"param.{k}": v for k, v in run.data.params.items()})
        row.update({f"note.{k[len(layout.METRIC_NOTE):]}": v for k, v in tags.items() if k.startswith(layout.METRIC_NOTE)})
        row.update(run.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else META_COLUMNS)
