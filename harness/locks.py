"""Exclusive locks between processes on one machine: a lock file held with `flock`.

Two `harness run` on one store must not race: creating a new store (MLflow's migrations) and
computing one model setting are each done by one process at a time. The lock is the kernel's
(`fcntl.flock`), so it is released when its process dies, however it dies (kill -9 included):
a lock file left behind never blocks anyone. Where `fcntl` does not exist (Windows) nothing is
locked, and docs/reliability.md says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the lock `path` (made, with its folder, if missing) for the body. When another process
    holds it, `on_wait()` is called once (to say so) and the call waits for it. Yields whether it
    had to wait."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield False
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    waited = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield waited
    finally:
        os.close(fd)  # closing the descriptor releases the lock
