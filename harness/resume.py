"""Resume: which finished run a sweep point may reuse, and cleaning up after killed processes.

A point's run key is a hash of everything that changes its numbers (`run_key`); a later
sweep reuses the FINISHED point run with the same key instead of redoing it. Runs left
RUNNING by a process that no longer exists (kill -9, a lost machine) are closed: points as
FAILED (then redone), sweeps as KILLED. A RUNNING run whose process is still alive on this
host is another sweep at work: its point is refused rather than run twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from typing import Any

from harness.errors import HarnessError
from harness.runs import TAG_HOST, TAG_KEY, TAG_KIND, TAG_PID, pid_alive
from harness.tracking import Tracker


def run_key(identity: dict[str, Any]) -> str:
    """A short stable hash of a point's identity (JSON with sorted keys)."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _alive_here(run) -> int | None:
    """The pid of the live process on this host that owns `run`, if any (not this process)."""
    tags = run.data.tags
    pid = int(tags.get(TAG_PID, "0") or 0)
    if tags.get(TAG_HOST) == socket.gethostname() and pid and pid != os.getpid() and pid_alive(pid):
        return pid
    return None


def reusable(tracker: Tracker, key: str) -> str | None:
    """The FINISHED point run with this run key, if any; RUNNING leftovers of dead processes become FAILED."""
    finished = None
    for run in tracker.search(f"tags.`{TAG_KEY}` = '{key}'", max_results=100):
        status = run.info.status
        if status == "FINISHED" and finished is None:
            finished = run.info.run_id
        elif status == "RUNNING":
            pid = _alive_here(run)
            if pid is not None:
                raise HarnessError(f"Sweep point run {run.info.run_id} is still running in process {pid}.",
                                   hint="Wait for it to finish, or stop that process before re-running.")
            tracker.set_tags(run.info.run_id, {"harness.note": "left RUNNING by a killed process"})
            tracker.end_run(run.info.run_id, "FAILED")
    return finished


def close_dead_sweeps(tracker: Tracker) -> list[str]:
    """Mark sweeps left RUNNING by processes that no longer exist as KILLED; returns their run ids.

    A sweep whose process is alive (on this host) is left alone; one started on another
    host is left alone too, since its process cannot be checked from here.
    """
    closed = []
    for run in tracker.search(f"tags.`{TAG_KIND}` = 'sweep' and attributes.status = 'RUNNING'"):
        if run.data.tags.get(TAG_HOST) != socket.gethostname() or _alive_here(run) is not None:
            continue
        if int(run.data.tags.get(TAG_PID, "0") or 0) == os.getpid():
            continue
        tracker.set_tags(run.info.run_id, {"harness.note": "left RUNNING by a killed process"})
        tracker.end_run(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed
