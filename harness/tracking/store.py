"""Talking to a tracking store without hanging or crashing: bounded waits, one process creating a store,
and errors that name the store.

MLflow's HTTP client retries a failed call 7 times with exponential backoff and waits 120 s for an
answer, so a server that died mid-run left `harness run` silent for minutes, then ended it with an
internal error. Here a remote store is first checked to be listening (a TCP connect, a few seconds),
calls are bounded (`HTTP_BOUNDS`, unless the user set MLflow's variables), and every failure of a
call to the store (MLflow, HTTP, SQLAlchemy, a full disk) becomes a `HarnessError` naming the store,
the call and what to do. Runs a failed process leaves RUNNING are closed by the next `harness run`
on the store (`harness.sweep.resume`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import HarnessError
from harness.locks import exclusive

#: MLflow's HTTP settings the harness sets when the user has not (their defaults: 120 s, 7, 2)
HTTP_BOUNDS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
               "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
CONNECT_TIMEOUT = 5.0
_FAILURES = ("mlflow", "requests", "urllib3", "sqlalchemy", "alembic")


def bound_http(uri: str) -> None:
    """For an http(s) store: MLflow's waits bounded, and a clear error within seconds when nothing listens."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    for key, value in HTTP_BOUNDS.items():
        os.environ.setdefault(key, value)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise HarnessError(f"Cannot reach the MLflow tracking server {uri}: {exc}.",
                           hint="Start it, or check --tracking-uri / MLFLOW_TRACKING_URI (a local store: "
                                "sqlite:///mlflow.db).") from None


def is_store_failure(exc: BaseException) -> bool:
    """A failure of the store or of the way to it, rather than a bug of the caller."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _FAILURES


def store_error(uri: str, call: str, exc: BaseException) -> HarnessError:
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    if isinstance(exc, OSError) and exc.errno == 28 or "disk is full" in first or "No space left" in first:
        return HarnessError(f"No space left on the device of the tracking store {uri} ({call}: {first}).",
                            hint="Free space there, or point --tracking-uri / MLFLOW_TRACKING_URI (and "
                                 "HARNESS_JOURNAL) elsewhere; finished points are kept and reused on the next run.")
    return HarnessError(f"The MLflow tracking store {uri} failed ({call}: {type(exc).__name__}: {first}).",
                        hint="Check that the store is up, reachable and writable (--tracking-uri / "
                             "MLFLOW_TRACKING_URI); run the same command again when it is: finished points are "
                             "reused, and runs this process left RUNNING are closed then.")


class GuardedClient:
    """An `MlflowClient` whose every call turns a store failure into `store_error`."""

    def __init__(self, client, uri: str):
        self._client, self._uri = client, uri

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except HarnessError:
                raise
            except Exception as exc:
                if is_store_failure(exc):
                    raise store_error(self._uri, name, exc) from exc
                raise

        return call


@contextlib.contextmanager
def creating(db: Path | None) -> Iterator[None]:
    """One process at a time opens (and so creates and migrates) a local SQLite store: two `harness run`
    starting together on a new store otherwise race in MLflow's migrations."""
    if db is None:
        yield
        return
    with exclusive(db.with_name(db.name + ".lock")):
        yield
