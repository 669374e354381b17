"""The harness's only door to MLflow: one `Tracker` per experiment, through an `MlflowClient`.

It writes runs, params, metrics, tags and artifacts, and reads runs back; it holds no
global MLflow state (no `mlflow.set_tracking_uri`), so two trackers on two stores can live
in one process. The names it writes are `layout`'s; what a sweep logs is `sweep_log`'s, and
the resume policy is the sweep's (`harness.sweep.resume`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean
from harness.tracking import layout
from harness.tracking.store import GuardedClient, bound_http, creating

DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlruns"
MAX_PARAM = 6000
MAX_TAG = 5000  # characters kept of a free-text tag (MLflow limits tag values)
_PROGRESS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


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


def local_sqlite_path(uri: str) -> Path | None:
    """The database file of a local SQLite store URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def _check_writable(uri: str) -> None:
    db = local_sqlite_path(uri)
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


def artifact_folder(uri: str, experiment: str) -> Path | None:
    """Where a local store keeps an experiment's run artifacts (`mlruns/<experiment>` beside the database);
    None for a remote store."""
    db = local_sqlite_path(resolve_tracking_uri(uri))
    if db is None:
        return None
    return db.parent / DEFAULT_ARTIFACTS / (re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("._") or "experiment")


def client_for(tracking_uri: str | None = None, *, must_exist: bool = False):
    """An `MlflowClient` on the resolved store; with `must_exist`, a missing local store is an error."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    db = local_sqlite_path(uri)
    if must_exist and db is not None and not db.exists():
        raise HarnessError(f"No MLflow store at {db}.", hint="Run `harness run SPEC` first, or pass --tracking-uri.")
    bound_http(uri)
    return GuardedClient(MlflowClient(uri), uri)


class Tracker:
    """One MLflow experiment: create and end runs, log to them, search them."""

    def __init__(self, experiment: str, tracking_uri: str | None = None, *, create: bool = True):
        self.uri = resolve_tracking_uri(tracking_uri)
        if create:
            _check_writable(self.uri)
        self.experiment_name = experiment
        try:
            with creating(local_sqlite_path(self.uri)):
                self._open(experiment, create)
        except HarnessError:
            raise
        except Exception as exc:
            raise HarnessError(f"Cannot open the MLflow tracking store {self.uri}: {type(exc).__name__}: {exc}",
                               hint="Check --tracking-uri / MLFLOW_TRACKING_URI and that the store is reachable "
                                    "and writable.") from exc

    def _open(self, experiment: str, create: bool) -> None:
        """The client, and the experiment (created when missing and `create`)."""
        self.client = client_for(self.uri, must_exist=not create)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None and not create:
            known = [e.name for e in self.client.search_experiments()]
            raise HarnessError(f"No experiment named '{experiment}' in {self.uri}.{did_you_mean(experiment, known)}",
                               hint=f"Known experiments: {', '.join(known) or 'none (run `harness run` first)'}.")
        if exp is None:
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=self._artifacts(),
                                                               tags={layout.EXPERIMENT_KIND[0]: layout.EXPERIMENT_KIND[1]})
        else:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            self.experiment_id = exp.experiment_id
            if create and exp.tags.get(layout.EXPERIMENT_KIND[0]) != layout.EXPERIMENT_KIND[1]:
                self.client.set_experiment_tag(self.experiment_id, *layout.EXPERIMENT_KIND)

    def _artifacts(self) -> str | None:
        """Artifacts beside a local database (`mlruns/<experiment>`), whatever the working directory."""
        folder = artifact_folder(self.uri, self.experiment_name)
        return folder.as_uri() if folder is not None else None

    # ----- writing ---------------------------------------------------------------------
    def start_run(self, name: str, tags: dict[str, str]) -> str:
        return self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id, key, str(value))

    def set_experiment_tag(self, key: str, value: str) -> None:
        self.client.set_experiment_tag(self.experiment_id, key, value)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, ("None" if v is None else str(v))[:MAX_PARAM]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def log_metrics(self, run_id: str, values: dict[str, float | None]) -> None:
        """Log metrics in batches of MLflow's limit; None and NaN values are left out."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in values.items() if v is not None and v == v]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(run_id, metrics=metrics[i:i + 500])

    def log_file(self, run_id: str, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=folder)

    def _log_written(self, run_id: str, name: str, write) -> None:
        """Log the artifact `name` ('a.csv' or 'plots/b.png') that `write(path)` writes to a temporary file."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            write(path)
            folder = str(Path(name).parent)
            self.client.log_artifact(run_id, str(path), artifact_path=None if folder == "." else folder)

    def log_json(self, run_id: str, data: Any, name: str) -> None:
        self._log_written(run_id, name, lambda path: path.write_text(json.dumps(data, indent=2, default=str)))

    def log_bytes(self, run_id: str, data: bytes, name: str) -> None:
        self._log_written(run_id, name, lambda path: path.write_bytes(data))

    def log_csv(self, run_id: str, frame, name: str) -> None:
        self._log_written(run_id, name, lambda path: frame.to_csv(path, index=False))

    def log_table(self, run_id: str, frame, name: str) -> None:
        """A pandas table as an MLflow table artifact (shown in the UI's artifact viewer and evaluation tab)."""
        self.client.log_table(run_id, data=frame, artifact_file=name)

    def log_figure(self, run_id: str, fig, name: str) -> None:
        self._log_written(run_id, name, lambda path: fig.savefig(path, dpi=100))

    def log_image(self, run_id: str, image, name: str) -> None:
        """A PIL image as a PNG artifact."""
        self._log_written(run_id, name, image.save)

    def log_dataset(self, run_id: str, frame, *, source: str, name: str, digest: str) -> None:
        """The image list of a run as an MLflow dataset input (context 'evaluation')."""
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag

        with warnings.catch_warnings():  # a local path is ambiguous between MLflow's source types
            warnings.simplefilter("ignore", UserWarning)
            ds = mlflow.data.from_pandas(frame, source=source, name=name, digest=digest)
        entity = DatasetInput(dataset=ds._to_mlflow_entity(),
                              tags=[InputTag(key=layout.DATASET_CONTEXT[0], value=layout.DATASET_CONTEXT[1])])
        self.client.log_inputs(run_id, datasets=[entity])

    # ----- reading ---------------------------------------------------------------------
    def search(self, filter_string: str, *, max_results: int = 1000) -> list:
        """Runs of this experiment matching an MLflow filter, newest first."""
        return self.client.search_runs([self.experiment_id], filter_string=filter_string,
                                       order_by=["attributes.start_time DESC"], max_results=max_results)

    def get_run(self, run_id: str):
        return self.client.get_run(run_id)

    def read_json(self, run_id: str, name: str) -> Any | None:
        """A JSON artifact of a run, or None when it has none."""
        data = self.read_bytes(run_id, name)
        return None if data is None else json.loads(data)

    def list_files(self, run_id: str, folder: str) -> list[str]:
        """Artifact paths directly inside `folder` of a run ([] when it has none)."""
        return [f.path for f in self.client.list_artifacts(run_id, folder) if not f.is_dir]

    def read_bytes(self, run_id: str, name: str) -> bytes | None:
        """An artifact of a run ('a.json' or 'report/b.zip') as bytes, or None when it has none."""
        folder = str(Path(name).parent)
        if name not in {f.path for f in self.client.list_artifacts(run_id, None if folder == "." else folder)}:
            return None
        saved = os.environ.get(_PROGRESS)
        os.environ[_PROGRESS] = "false"  # no progress bar for one small file
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return Path(self.client.download_artifacts(run_id, name, tmp)).read_bytes()
        finally:
            if saved is None:
                os.environ.pop(_PROGRESS, None)
            else:
                os.environ[_PROGRESS] = saved


def latest_experiment(tracking_uri: str | None = None) -> str:
    """Name of the experiment holding the most recent sweep in the store."""
    client = client_for(tracking_uri, must_exist=True)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string=f"tags.`{layout.KIND}` = '{layout.SWEEP}'",
                              order_by=["attributes.start_time DESC"], max_results=1) if ids else []
    if not runs:
        raise HarnessError(f"No harness sweep found in {resolve_tracking_uri(tracking_uri)}.",
                           hint="Run `harness run SPEC` first.")
    return client.get_experiment(runs[0].info.experiment_id).name


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
