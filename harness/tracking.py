"""Everything the harness records in MLflow, and nothing else of MLflow anywhere else.

One parent run per `harness run`, one nested child run per sweep point. A child carries
a run key (hash of the sweep point, the dataset fingerprint, the metrics and the
weights): a later run of the same spec reuses FINISHED children with that key and marks
RUNNING leftovers of a killed process as FAILED before redoing them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from harness import __version__
from harness.errors import HarnessError, did_you_mean

DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlruns"
MAX_PARAM = 6000

TAG_KIND = "harness.kind"  # "sweep" | "point"
TAG_KEY = "harness.run_key"
TAG_LABEL = "harness.label"
TAG_MODEL = "harness.model"
TAG_SPLIT = "harness.split"
TAG_CHILDREN = "harness.children"
TAG_HOST = "harness.host"
TAG_PID = "harness.pid"
TAG_PARENT = "mlflow.parentRunId"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else ./mlflow.db; relative SQLite paths made absolute."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_DB}"
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
        if not path.startswith("/"):
            uri = "sqlite:///" + str((Path.cwd() / path).resolve())
    elif "://" not in uri:  # a bare path: MLflow's file store, given as a directory
        uri = str(Path(uri).resolve())
    return uri


def _local_sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def _check_writable(uri: str) -> None:
    db = _local_sqlite_path(uri)
    if db is None:
        return
    folder = db.parent
    problem = None
    if not folder.is_dir():
        problem = f"its folder '{folder}' does not exist"
    elif db.exists() and not os.access(db, os.W_OK):
        problem = f"'{db}' is not writable"
    elif not db.exists() and not os.access(folder, os.W_OK):
        problem = f"its folder '{folder}' is not writable"
    if problem:
        raise HarnessError(f"Cannot write the MLflow tracking store {uri}: {problem}.",
                           hint="Pass --tracking-uri (or set MLFLOW_TRACKING_URI) to a writable location, "
                                "e.g. sqlite:////tmp/mlflow.db.")


def git_commit() -> str | None:
    """The harness checkout's commit (with '-dirty' when modified), when it is a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Tracker:
    """An MLflow experiment seen through the harness's conventions."""

    def __init__(self, experiment: str, tracking_uri: str | None = None, *, create: bool = True):
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = resolve_tracking_uri(tracking_uri)
        _check_writable(self.uri)
        self._mlflow = mlflow
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        self.experiment_name = experiment
        try:
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None and not create:
                known = [e.name for e in self.client.search_experiments()]
                raise HarnessError(f"No experiment named '{experiment}' in {self.uri}.{did_you_mean(experiment, known)}",
                                   hint=f"Known experiments: {', '.join(known) or 'none (run `harness run` first)'}.")
            if exp is None:
                location = None
                db = _local_sqlite_path(self.uri)
                if db is not None:  # artifacts beside the database, whatever the working directory
                    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("._") or "experiment"
                    location = (db.parent / DEFAULT_ARTIFACTS / folder).as_uri()
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                if exp.lifecycle_stage == "deleted":
                    self.client.restore_experiment(exp.experiment_id)
                self.experiment_id = exp.experiment_id
        except HarnessError:
            raise
        except Exception as exc:
            raise HarnessError(f"Cannot open the MLflow tracking store {self.uri}: {type(exc).__name__}: {exc}",
                               hint="Check --tracking-uri / MLFLOW_TRACKING_URI and that the store is reachable "
                                    "and writable.") from exc

    # ----- sweep (parent) -------------------------------------------------------------
    def start_sweep(self, spec_path: Path, spec_dump: dict[str, Any], points: list[dict[str, Any]]) -> str:
        run = self.client.create_run(self.experiment_id, run_name=f"{self.experiment_name} sweep",
                                     tags={TAG_KIND: "sweep", TAG_HOST: socket.gethostname(),
                                           TAG_PID: str(os.getpid()), "harness.version": __version__})
        run_id = run.info.run_id
        params = {"spec": str(spec_path), "points": len(points), "harness_version": __version__,
                  "git_commit": git_commit() or "unknown"}
        self.client.log_batch(run_id, params=_params(params))
        self.client.log_artifact(run_id, str(spec_path), artifact_path="spec")
        self._log_json(run_id, {"spec": spec_dump, "points": points}, "sweep.json")
        return run_id

    def set_children(self, parent_id: str, children: list[str]) -> None:
        """Record which child runs make up this sweep (fresh and reused), as soon as each is known."""
        self.client.set_tag(parent_id, TAG_CHILDREN, json.dumps(children))

    def finish_sweep(self, parent_id: str, status: str, runs: pd.DataFrame | None, metric: str = "psnr_mean",
                     outcomes: list[dict[str, Any]] | None = None) -> None:
        """Close the parent run; `outcomes` (label, status, run_id, message per point) are kept
        as `outcomes.json`, and failures also go into the run's description, so the UI says why."""
        if outcomes is not None:
            self._log_json(parent_id, outcomes, "outcomes.json")
            failed = [o for o in outcomes if o["status"] == "failed"]
            if failed:
                note = "\n\n".join(f"**{o['label']}** failed: {o['message']}" for o in failed)
                self.client.set_tag(parent_id, "mlflow.note.content", f"{len(failed)} sweep point(s) failed.\n\n{note}")
                self.client.set_tag(parent_id, "harness.failed", ", ".join(o["label"] for o in failed)[:5000])
        if runs is not None and not runs.empty and metric in runs:
            from harness.visuals import comparison_plot

            fig = comparison_plot(runs, metric)
            self._log_figure(parent_id, fig, f"plots/comparison_{metric}.png")
            self._log_csv(parent_id, runs, "comparison.csv")
        self.client.set_terminated(parent_id, status)

    # ----- points (children) ----------------------------------------------------------
    def reuse_or_clear(self, key: str) -> str | None:
        """The FINISHED child with this run key, if any; RUNNING leftovers of dead processes become FAILED."""
        runs = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{TAG_KEY}` = '{key}'",
                                       order_by=["attributes.start_time DESC"], max_results=100)
        finished = None
        host = socket.gethostname()
        for run in runs:
            status = run.info.status
            if status == "FINISHED" and finished is None:
                finished = run.info.run_id
            elif status == "RUNNING":
                tags = run.data.tags
                pid = int(tags.get(TAG_PID, "0") or 0)
                if tags.get(TAG_HOST) == host and pid and pid != os.getpid() and _pid_alive(pid):
                    raise HarnessError(f"Sweep point run {run.info.run_id} is still running in process {pid}.",
                                       hint="Wait for it to finish, or stop that process before re-running.")
                self.client.set_tag(run.info.run_id, "harness.note", "left RUNNING by a killed process")
                self.client.set_terminated(run.info.run_id, "FAILED")
        return finished

    def start_point(self, parent_id: str, key: str, point, params: dict[str, Any]) -> str:
        tags = {TAG_KIND: "point", TAG_KEY: key, TAG_LABEL: point.label, TAG_MODEL: point.model,
                TAG_PARENT: parent_id, TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}
        if point.split is not None:
            tags[TAG_SPLIT] = point.split
        run = self.client.create_run(self.experiment_id, run_name=point.label, tags=tags)
        self.client.log_batch(run.info.run_id, params=_params(params))
        return run.info.run_id

    def log_point(self, run_id: str, result, dataset) -> None:
        """Summary metrics, per-image table, grids, plots and the dataset of one finished point."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = {**result.summary, **result.timings}
        metrics = [Metric(k, float(v), now, 0) for k, v in values.items() if v is not None and v == v]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(run_id, metrics=metrics[i:i + 500])
        table = result.rows
        self._mlflow.log_table(data=table.astype({"status": str}), artifact_file="per_image.json", run_id=run_id)
        self._log_csv(run_id, table, "per_image.csv")
        if result.grid:
            from harness.visuals import sample_grid

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "samples.png"
                sample_grid(result.grid).save(path)
                self.client.log_artifact(run_id, str(path), artifact_path="grids")
        from harness.visuals import distribution_plot

        ok = table[table["status"] == "ok"]
        for column in result.metric_columns:
            if column in ok and ok[column].notna().any():
                fig = distribution_plot(ok[column], column, title=f"{result.label}: {column}")
                self._log_figure(run_id, fig, f"plots/{column}_distribution.png")
        if result.by_category is not None and not result.by_category.empty:
            from harness.regions import category_plot

            self._log_csv(run_id, result.by_category, "by_category.csv")
            if "psnr" in ok:
                self._log_figure(run_id, category_plot(table, "psnr"), "plots/psnr_by_category.png")
        self._log_dataset(run_id, dataset)

    def log_metrics(self, run_id: str, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.client.log_metric(run_id, key, float(value))

    def end_point(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    # ----- reading back ---------------------------------------------------------------
    def load_runs(self, *, all_parents: bool = False) -> pd.DataFrame:
        """Sweep-point runs of the latest sweep (or of every sweep) as one row per run."""
        parents = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'sweep'",
                                          order_by=["attributes.start_time DESC"], max_results=1000)
        if not parents:
            return _runs_frame([], {})
        chosen = parents if all_parents else parents[:1]
        ids: list[str] = []
        for parent in chosen:
            children = json.loads(parent.data.tags.get(TAG_CHILDREN, "[]"))
            ids.extend(c for c in children if c not in ids)
        runs = [self.client.get_run(i) for i in ids]
        runs = [r for r in runs if r.info.status == "FINISHED"]
        if all_parents:  # the same sweep point reused by several sweeps appears once
            runs = list({r.info.run_id: r for r in runs}.values())
        return _runs_frame(runs, {p.info.run_id: p for p in parents})

    # ----- helpers --------------------------------------------------------------------
    def _log_json(self, run_id: str, data: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(data, indent=2, default=str))
            self.client.log_artifact(run_id, str(path))

    def _log_csv(self, run_id: str, frame: pd.DataFrame, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            frame.to_csv(path, index=False)
            self.client.log_artifact(run_id, str(path))

    def _log_figure(self, run_id: str, fig, artifact_file: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            fig.savefig(path, dpi=100)
            self.client.log_artifact(run_id, str(path), artifact_path=str(Path(artifact_file).parent))

    def _log_dataset(self, run_id: str, dataset) -> None:
        import mlflow.data
        from mlflow.entities import InputTag

        frame = pd.DataFrame({"image_id": [s.id for s in dataset.samples],
                              "path": [s.path or "" for s in dataset.samples]})
        with warnings.catch_warnings():  # a local path is ambiguous between MLflow's source types
            warnings.simplefilter("ignore", UserWarning)
            ds = mlflow.data.from_pandas(frame, source=str(dataset.info.get("path", dataset.source)),
                                         name=dataset.name if dataset.split is None else f"{dataset.name}:{dataset.split}",
                                         digest=dataset.fingerprint[:16])
        self.client.log_inputs(run_id, datasets=[
            _dataset_input(ds, [InputTag(key="mlflow.data.context", value="evaluation")])])


def _dataset_input(ds, tags):
    from mlflow.entities import DatasetInput

    return DatasetInput(dataset=ds._to_mlflow_entity(), tags=tags)


def _params(params: dict[str, Any]):
    from mlflow.entities import Param

    out = []
    for key, value in params.items():
        text = "None" if value is None else str(value)
        out.append(Param(key, text[:MAX_PARAM]))
    return out


def _runs_frame(runs, parents: dict) -> pd.DataFrame:
    rows = []
    for run in runs:
        tags = run.data.tags
        row = {"run_id": run.info.run_id, "parent_run_id": tags.get(TAG_PARENT), "label": tags.get(TAG_LABEL),
               "model": tags.get(TAG_MODEL), "split": tags.get(TAG_SPLIT), "status": run.info.status,
               "start_time": run.info.start_time}
        row.update({f"param.{k}": v for k, v in run.data.params.items()})
        row.update(run.data.metrics)
        rows.append(row)
    columns = ["run_id", "parent_run_id", "label", "model", "split", "status", "start_time"]
    return pd.DataFrame(rows, columns=None if rows else columns)


def latest_experiment(tracking_uri: str | None = None) -> str:
    """Name of the experiment holding the most recent sweep in the store."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    db = _local_sqlite_path(uri)
    if db is not None and not db.exists():
        raise HarnessError(f"No MLflow store at {db}.", hint="Run `harness run SPEC` first, or pass --tracking-uri.")
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string=f"tags.`{TAG_KIND}` = 'sweep'",
                              order_by=["attributes.start_time DESC"], max_results=1) if ids else []
    if not runs:
        raise HarnessError(f"No harness sweep found in {uri}.", hint="Run `harness run SPEC` first.")
    return client.get_experiment(runs[0].info.experiment_id).name


def serve_ui(tracking_uri: str | None, port: int) -> int:
    """Run the MLflow UI on 127.0.0.1 (one worker, no background job runners) until interrupted."""
    import sys

    uri = resolve_tracking_uri(tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    db = _local_sqlite_path(uri)
    if db is not None:
        cmd += ["--default-artifact-root", (db.parent / DEFAULT_ARTIFACTS).as_uri()]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    print(f"MLflow UI for {uri} at http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
        return 0


@contextmanager
def quiet_mlflow():
    """Silence MLflow's own chatter (migrations, 'run finished' links) on the console."""
    import logging

    names = ["mlflow", "alembic", "mlflow.store", "mlflow.tracking"]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def store_kind(uri: str) -> str:
    scheme = urlparse(uri).scheme
    return scheme or "file"
