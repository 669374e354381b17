"""Resume: which finished run a sweep point may reuse, and cleaning up after killed processes.

A point's run key (`harness.sweep.identity.run_key`) is a hash of everything that changes
its numbers; a later sweep reuses the FINISHED point run with the same key instead of redoing
it. Runs left RUNNING by a process that no longer exists (kill -9, a lost machine) are closed:
points as FAILED (then redone), sweeps as KILLED. A RUNNING run whose process is still alive on
this host is another sweep at work: its point is refused rather than run twice.
"""

from __future__ import annotations

import os
import socket

from harness.errors import HarnessError
from harness.tracking import layout
from harness.tracking.client import Tracker
from harness.tracking.provenance import owned_by_live_process

KILLED_NOTE = "left RUNNING by a killed process"


def reusable(tracker: Tracker, key: str) -> str | None:
    """The FINISHED point run with this run key, if any; RUNNING leftovers of dead processes become FAILED."""
    finished = None
    for run in tracker.search(f"tags.`{layout.KEY}` = '{key}'", max_results=100):
        status = run.info.status
        if status == "FINISHED" and finished is None:
            finished = run.info.run_id
        elif status == "RUNNING":
            pid = owned_by_live_process(run.data.tags)
            if pid is not None:
                raise HarnessError(f"Sweep point run {run.info.run_id} is still running in process {pid}.",
                                   hint="Wait for it to finish, or stop that process before re-running.")
            tracker.set_tags(run.info.run_id, {layout.NOTE: KILLED_NOTE})
            tracker.end_run(run.info.run_id, "FAILED")
    return finished


def close_dead_sweeps(tracker: Tracker) -> list[str]:
    """Mark sweeps left RUNNING by processes that no longer exist as KILLED; returns their run ids.

    A sweep whose process is alive (on this host) is left alone; one started on another
    host is left alone too, since its process cannot be checked from here.
    """
    closed = []
    for run in tracker.search(f"tags.`{layout.KIND}` = '{layout.SWEEP}' and attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if tags.get(layout.HOST) != socket.gethostname() or owned_by_live_process(tags) is not None:
            continue
        if int(tags.get(layout.PID, "0") or 0) == os.getpid():
            continue
        tracker.set_tags(run.info.run_id, {layout.NOTE: KILLED_NOTE})
        tracker.end_run(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed
