"""Run a whole spec: expand the sweep, skip what is already done, evaluate the rest, track it.

This is the glue between `spec`, `data`, `models`, `runner` and the tracking modules. Every
model's and metric's weights are resolved before any work, once each; a sweep point whose
model or metric cannot start (missing weights, say) fails fast with the reason while the
other points run; the caller turns the outcome into an exit code.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__, runner
from harness.data import Dataset, build_dataset
from harness.device import device_type, numerics, resolve_device
from harness.errors import HarnessError
from harness.models.registry import get_model_class
from harness.resume import close_dead_sweeps, reusable, run_key
from harness.runs import load_sweep
from harness.scoring import resolve_impl
from harness.spec import LoadedSpec, SweepPoint, load_spec
from harness.sweep_log import adopt, finish_sweep, git_commit, log_point, set_children, start_point, start_sweep
from harness.tracking import Tracker, quiet_mlflow
from harness.weights import file_sha256

#: Bump when a change to scoring makes old runs incomparable: their run keys then differ.
#: 2: `colorfulness` (and cf_delta) became the literature's absolute-value form.
SCORING_VERSION = 2


@dataclass
class PointOutcome:
    point: SweepPoint
    status: str  # "done" | "reused" | "failed"
    run_id: str | None = None
    message: str = ""
    summary: dict[str, float] = field(default_factory=dict)
    reported: bool = False  # the message was already printed in full (at preflight)
    without: list[str] = field(default_factory=list)  # metrics left out: their weights are missing


@dataclass
class Outcome:
    parent_run_id: str | None
    points: list[PointOutcome]
    tracking_uri: str

    @property
    def exit_code(self) -> int:
        """0 when every point is done or reused with every metric, 1 when any failed or lacks a metric."""
        return 1 if any(p.status == "failed" or p.without for p in self.points) else 0


@dataclass
class Ready:
    """Whether something with weights can run: the sha256 of its weights (None without), or why not."""

    sha256: str | None = None
    error: str | None = None


@dataclass
class Sweep:
    """What every point of one `harness run` shares."""

    loaded: LoadedSpec
    device: str
    impl: str
    tracker: Tracker
    parent: str
    datasets: dict[str | None, Dataset]
    models: dict[tuple, Ready]  # (model, weights param) -> readiness
    metrics: dict[str, Ready]  # metric name -> readiness of its weights
    force: bool = False
    progress: bool = True

    @property
    def usable_metrics(self) -> list:
        """The chosen metrics whose weights are there (the others are left out and reported)."""
        return [m for m in self.loaded.metrics if self.metrics[m.name].error is None]

    @property
    def missing_metrics(self) -> list[str]:
        return [m.name for m in self.loaded.metrics if self.metrics[m.name].error is not None]

    def identity(self, point: SweepPoint, weights_sha: str | None) -> dict[str, Any]:
        """Everything that changes a point's numbers; its hash is the run key (see the README)."""
        spec = self.loaded.spec
        return {"point": point.identity(), "data": self.datasets[point.split].fingerprint,
                "seed": getattr(spec.dataset, "seed", 0),
                "metrics": [{**m.identity(), "weights": self.metrics[m.name].sha256} for m in self.usable_metrics],
                "weights": weights_sha, "scoring": SCORING_VERSION, "protocol": spec.protocol,
                "device": device_type(self.device), "numerics": numerics(self.device), "metrics_impl": self.impl,
                "batch_size": spec.batch_size}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_experiment(spec_path: str | Path, *, tracking_uri: str | None = None, force: bool = False,
                   progress: bool = True, loaded: LoadedSpec | None = None) -> Outcome:
    """Run every sweep point of a spec into MLflow; see the module docstring."""
    loaded = loaded or load_spec(spec_path)
    spec = loaded.spec
    device = resolve_device(spec.device)
    datasets = {split: _dataset(spec, split) for split in dict.fromkeys(p.split for p in loaded.points)}
    models = _preflight_models(loaded.points)
    metrics = _preflight_metrics(loaded)
    with quiet_mlflow():
        tracker = Tracker(spec.name, tracking_uri)
        for run_id in close_dead_sweeps(tracker):
            _say(f"[cleanup] sweep run {run_id} was left RUNNING by a killed process; marked KILLED")
        points_dump = [{"label": p.label, "model": p.model, "params": p.resolved, "split": p.split}
                       for p in loaded.points]
        parent = start_sweep(tracker, loaded.path, spec.model_dump(mode="json"), points_dump)
    sweep = Sweep(loaded, device, resolve_impl(spec.metrics_impl, device), tracker, parent, datasets, models,
                  metrics, force, progress)
    outcomes: list[PointOutcome] = []
    children: list[str] = []
    status = "FINISHED"
    try:
        for point in loaded.points:
            outcome = _run_point(sweep, point)
            outcomes.append(outcome)
            if outcome.run_id:
                children.append(outcome.run_id)
                set_children(tracker, parent, children)
            _say(_describe(outcome))
    except BaseException:
        status = "KILLED"
        raise
    finally:
        with quiet_mlflow():
            runs = load_sweep(tracker, failures=False).runs if status == "FINISHED" else None
            if status == "FINISHED" and any(o.status == "failed" for o in outcomes):
                status = "FAILED"
            finish_sweep(tracker, parent, status, runs, [
                {"label": o.point.label, "status": o.status, "run_id": o.run_id, "message": o.message,
                 "without": o.without} for o in outcomes])
    return Outcome(parent_run_id=parent, points=outcomes, tracking_uri=tracker.uri)


def _dataset(spec, split: str | None) -> Dataset:
    dataset = build_dataset(spec.dataset, split)
    if len(dataset) == 0:
        raise HarnessError(f"Dataset{' split ' + split if split else ''} selects no images.",
                           hint="Check dataset paths, split definitions and limit in the spec.")
    return dataset


def _ready(what: str, check, tag: str = "failed") -> Ready:
    try:
        weights = check()
    except HarnessError as exc:
        _say(f"[{tag}] {what}: {exc}")
        return Ready(error=str(exc))
    return Ready(sha256=file_sha256(Path(weights)) if weights is not None else None)


def _model_key(point: SweepPoint) -> tuple:
    return point.model, str(getattr(point.params, "weights", None))


def _preflight_models(points: list[SweepPoint]) -> dict[tuple, Ready]:
    """Resolve (fetching where allowed) the weights of every model before any work starts.

    Each distinct model and weights setting is resolved once, so an unreachable download
    is tried once per model, not once per sweep point, and a point that cannot run is
    known before the others spend their time.
    """
    ready: dict[tuple, Ready] = {}
    for point in points:
        if _model_key(point) not in ready:
            cls = get_model_class(point.model)
            ready[_model_key(point)] = _ready(point.model, lambda: cls.preflight(point.params))
    return ready


def _preflight_metrics(loaded: LoadedSpec) -> dict[str, Ready]:
    """The weights of every chosen metric, resolved once for the sweep. A metric whose weights
    are missing is left out of every point (said once, in full, here); the others still run."""
    return {c.name: _ready(f"metric {c.name} (left out of every point)", lambda: c.metric.preflight(c.params),
                           "missing") for c in loaded.metrics}


def _run_point(sweep: Sweep, point: SweepPoint) -> PointOutcome:
    model_state = sweep.models[_model_key(point)]
    if model_state.error is not None:
        return PointOutcome(point, "failed", message=model_state.error, reported=True)
    if not sweep.usable_metrics:
        return PointOutcome(point, "failed", message="no metric can run: " + sweep.missing_metrics[0] + ": " +
                            sweep.metrics[sweep.missing_metrics[0]].error, reported=True)
    without = sweep.missing_metrics
    identity = sweep.identity(point, model_state.sha256)
    key = run_key(identity)
    tracker, spec = sweep.tracker, sweep.loaded.spec
    if not sweep.force:
        reused = reusable(tracker, key)
        if reused:
            adopt(tracker, reused, sweep.parent)
            return PointOutcome(point, "reused", reused, without=without)
    dataset = sweep.datasets[point.split]
    try:
        model = get_model_class(point.model)(point.params, device=sweep.device)
    except HarnessError as exc:  # e.g. a weights file that does not fit: this point fails, the others run
        return PointOutcome(point, "failed", message=str(exc))
    seed = getattr(spec.dataset, "seed", 0)
    params: dict[str, Any] = {
        "model": point.model, "label": point.label, **point.resolved,
        **{f"dataset.{k}": v for k, v in dataset.info.items()}, "dataset.split": point.split,
        "dataset.fingerprint": dataset.fingerprint[:16], "seed": seed,
        "metrics": ",".join(m.label() for m in sweep.usable_metrics), "protocol": spec.protocol,
        "batch_size": spec.batch_size,
        "harness_version": __version__, "git_commit": git_commit() or "unknown", "weights_sha256": model_state.sha256,
        "device": sweep.device, "metrics_impl": sweep.impl, **numerics(sweep.device), **model.describe(),
    }
    run_id = start_point(tracker, sweep.parent, key, point, params, identity)
    try:
        result = runner.evaluate(dataset, model, sweep.usable_metrics, label=point.label, batch_size=spec.batch_size,
                                 grid_count=spec.grids.count, seed=seed, progress=sweep.progress, impl=sweep.impl,
                                 workers=spec.workers, protocol=spec.protocol)
        result.notes.update({name: "not computed: " + sweep.metrics[name].error.splitlines()[0] for name in without})
        tracker.log_params(run_id, model.describe_run())  # known only now: the batch actually used ...
        log_point(tracker, run_id, result, dataset)
    except HarnessError as exc:
        tracker.end_run(run_id, "FAILED")
        return PointOutcome(point, "failed", run_id=None, message=str(exc))
    except BaseException:
        tracker.end_run(run_id, "KILLED")
        raise
    finally:
        model.close()
    tracker.end_run(run_id, "FINISHED")
    return PointOutcome(point, "done", run_id, summary=result.summary, without=without)


def _describe(outcome: PointOutcome) -> str:
    label = outcome.point.label
    if outcome.status == "failed":
        if outcome.reported:
            return f"[failed] {label}: {outcome.message.splitlines()[0].rstrip(':')} (details above)"
        return f"[failed] {label}: {outcome.message}"
    without = (f" (without {', '.join(outcome.without)}: weights missing or unusable, details above)"
               if outcome.without else "")
    if outcome.status == "reused":
        return f"[reused] {label}: finished run {outcome.run_id} has the same run key (use --force to redo){without}"
    s = outcome.summary
    parts = [f"{k}={s[k]:.4g}" for k in ("psnr_mean", "ssim_mean", "delta_e_mean", "cf_delta", "lpips_mean", "fid")
             if k in s and s[k] == s[k]]
    counts = f"scored {int(s.get('n_scored', 0))}, excluded {int(s.get('n_excluded', 0))}, " \
             f"failed {int(s.get('n_failed', 0))}"
    return f"[done] {label}: {' '.join(parts)} ({counts}) run {outcome.run_id}{without}"
