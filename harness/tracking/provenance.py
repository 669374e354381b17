"""Who made a run: the harness version and checkout, and the machine and process that own it.

The owner tags let a later process tell a run left RUNNING by a killed process (closed) from
one another process is still writing (left alone).
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from harness.tracking import layout


def git_commit() -> str | None:
    """The harness checkout's commit (with '-dirty' when modified), when it is a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def owner() -> dict[str, str]:
    """The tags naming this machine and process as a run's owner."""
    return {layout.HOST: socket.gethostname(), layout.PID: str(os.getpid())}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owned_by_live_process(tags: dict[str, str]) -> int | None:
    """The pid of the live process on this host that owns a run with these tags (not this process)."""
    pid = int(tags.get(layout.PID, "0") or 0)
    if tags.get(layout.HOST) == socket.gethostname() and pid and pid != os.getpid() and pid_alive(pid):
        return pid
    return None
