"""`harness ui`: the MLflow UI on 127.0.0.1 against the harness's store, stopped cleanly.

The MLflow server runs in a process group of its own (it starts uvicorn workers), and
whatever ends `harness ui` (Ctrl-C, SIGTERM, SIGHUP) stops that whole group, so no server
is left behind re-parented to init.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from harness.tracking import layout
from harness.tracking.client import DEFAULT_ARTIFACTS, local_sqlite_path, resolve_tracking_uri

STOP_TIMEOUT = 15.0


class _Stop(Exception):
    """A signal asked `harness ui` to stop."""


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever is left after STOP_TIMEOUT."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; make sure its workers are too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def runs_page(uri: str) -> str:
    """The UI page of the latest sweep's runs table (`tracking.layout.UI_QUERY`), or '' when the store
    holds no sweep: MLflow 3 would otherwise open its GenAI overview of traces."""
    from harness.errors import HarnessError
    from harness.tracking.client import client_for, latest_experiment, quiet_mlflow

    try:
        with quiet_mlflow():
            experiment = client_for(uri, must_exist=True).get_experiment_by_name(latest_experiment(uri))
    except HarnessError:
        return ""
    return f"/#/experiments/{experiment.experiment_id}/runs?{layout.UI_QUERY}"


def serve_ui(tracking_uri: str | None, port: int) -> int:
    """Run the MLflow UI (one worker, no background job runners) until it exits or is told to stop."""
    uri = resolve_tracking_uri(tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    db = local_sqlite_path(uri)
    if db is not None:
        cmd += ["--default-artifact-root", (db.parent / DEFAULT_ARTIFACTS).as_uri()]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    page = runs_page(uri)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    print(f"MLflow UI for {uri} at http://127.0.0.1:{port}{page} (server pid {proc.pid}; Ctrl-C to stop)", flush=True)

    def stop(signum, _frame):
        raise _Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return proc.wait()
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_group(proc)
