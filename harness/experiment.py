"""Run a whole spec: expand the sweep, skip what is already done, compute the rest, track it.

This is the glue between `spec`, `data`, the executors, `shards`, `results` and the
tracking modules. Weights are resolved before any work (`preflight`). The points of one
model setting that differ only by split are computed together: the model colorizes the
union of their images once, in shards that are journaled as they finish (a killed run
resumes inside a point), and each split's run is assembled from those shared rows. The
caller turns the outcome into an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.data import Dataset, build_dataset
from harness.data.base import union
from harness.device import device_type, numerics, resolve_device
from harness.errors import HarnessError
from harness.executors import Executor, Work, make_executor
from harness.metrics import build_metrics
from harness.preflight import Ready, model_key, preflight_metrics, preflight_models, say
from harness.resume import close_dead_sweeps, reusable, run_key
from harness.results import assemble
from harness.runs import load_sweep
from harness.scoring import Scorer, resolve_impl
from harness.shards import Journal, compute, journal_root
from harness.spec import LoadedSpec, SweepPoint, by_setting, load_spec
from harness.sweep_log import adopt, finish_sweep, git_commit, log_point, set_children, start_point, start_sweep
from harness.tracking import Tracker, quiet_mlflow

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
class Sweep:
    """What every point of one `harness run` shares."""

    loaded: LoadedSpec
    executor: Executor
    impl: str
    tracker: Tracker
    parent: str
    datasets: dict[str | None, Dataset]
    models: dict[tuple, Ready]  # (model, weights param) -> readiness
    metrics: dict[str, Ready]  # metric name -> readiness of its weights
    force: bool = False
    progress: bool = True
    model_images: int = 0  # images the models colorized in this sweep

    @property
    def device(self) -> str:
        return self.executor.device

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

    def work_key(self, points: list[SweepPoint], weights_sha: str | None) -> str:
        """The journal's key for the shared rows of `points` (one model setting, several splits): the
        run key's inputs but the split, the exact data of every split, and the shard size."""
        identity = self.identity(points[0], weights_sha)
        identity["point"] = {**identity["point"], "split": None}
        identity["data"] = [self.datasets[p.split].fingerprint for p in points]
        identity["shard_size"] = self.loaded.spec.shard_size
        return run_key(identity)


def run_experiment(spec_path: str | Path, *, tracking_uri: str | None = None, force: bool = False,
                   progress: bool = True, loaded: LoadedSpec | None = None, executor: str | None = None,
                   ray_address: str | None = None) -> Outcome:
    """Run every sweep point of a spec into MLflow; see the module docstring. `executor` and
    `ray_address` override the spec's `executor` section."""
    loaded = loaded or load_spec(spec_path)
    spec = loaded.spec
    datasets = {split: _dataset(spec, split) for split in dict.fromkeys(p.split for p in loaded.points)}
    models = preflight_models(loaded.points)
    metrics = preflight_metrics(loaded)
    chosen = spec.executor if executor is None else spec.executor.model_copy(update={"kind": executor})
    if chosen.kind == "local":
        runner = make_executor(chosen, resolve_device(spec.device))
    else:  # joined (or refused) before anything is logged
        runner = make_executor(chosen, spec.device, ray_address)
    try:
        with quiet_mlflow():
            tracker = Tracker(spec.name, tracking_uri)
            for run_id in close_dead_sweeps(tracker):
                say(f"[cleanup] sweep run {run_id} was left RUNNING by a killed process; marked KILLED")
            points_dump = [{"label": p.label, "model": p.model, "params": p.resolved, "split": p.split}
                           for p in loaded.points]
            parent = start_sweep(tracker, loaded.path, spec.model_dump(mode="json"), points_dump)
        sweep = Sweep(loaded, runner, resolve_impl(spec.metrics_impl, runner.device), tracker, parent, datasets,
                      models, metrics, force, progress)
        return _run_sweep(sweep)
    finally:
        runner.close()


def _run_sweep(sweep: Sweep) -> Outcome:
    outcomes: list[PointOutcome] = []
    children: list[str] = []
    status = "FINISHED"
    tracker, parent = sweep.tracker, sweep.parent
    try:
        for group in by_setting(sweep.loaded.points):
            for outcome in _run_group(sweep, group):
                outcomes.append(outcome)
                if outcome.run_id:
                    children.append(outcome.run_id)
                    set_children(tracker, parent, children)
                say(_describe(outcome))
    except BaseException:
        status = "KILLED"
        raise
    finally:
        with quiet_mlflow():
            runs = load_sweep(tracker, failures=False).runs if status == "FINISHED" else None
            if status == "FINISHED" and any(o.status == "failed" for o in outcomes):
                status = "FAILED"
            tracker.log_metrics(parent, {"n_model_images": sweep.model_images})
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


def _run_group(sweep: Sweep, points: list[SweepPoint]) -> list[PointOutcome]:
    """The points of one model setting (its splits): reused where finished, the rest computed together."""
    state = sweep.models[model_key(points[0])]
    if state.error is not None:
        return [PointOutcome(p, "failed", message=state.error, reported=True) for p in points]
    if not sweep.usable_metrics:
        name = sweep.missing_metrics[0]
        return [PointOutcome(p, "failed", message=f"no metric can run: {name}: {sweep.metrics[name].error}",
                             reported=True) for p in points]
    keys = {p.label: run_key(sweep.identity(p, state.sha256)) for p in points}
    done: dict[str, PointOutcome] = {}
    for point in points:
        reused = None if sweep.force else reusable(sweep.tracker, keys[point.label])
        if reused:
            adopt(sweep.tracker, reused, sweep.parent)
            done[point.label] = PointOutcome(point, "reused", reused, without=sweep.missing_metrics)
    todo = [p for p in points if p.label not in done]
    if todo:
        done.update(_compute(sweep, todo, keys, state))
    return [done[p.label] for p in points]


def _compute(sweep: Sweep, points: list[SweepPoint], keys: dict[str, str], state: Ready) -> dict[str, PointOutcome]:
    """Colorize and score the union of the points' images once (in journaled shards), then assemble
    and log each point's run from the shared rows."""
    from tqdm.auto import tqdm

    tracker, spec, executor = sweep.tracker, sweep.loaded.spec, sweep.executor
    metrics, without = sweep.usable_metrics, sweep.missing_metrics
    images = union([sweep.datasets[p.split] for p in points])
    first = points[0]
    try:
        executor.start(Work(first.model, first.params, metrics, sweep.impl, spec.protocol, spec.batch_size,
                            spec.workers, images.reporter))
    except HarnessError as exc:  # e.g. a weights file that does not fit: these points fail, the others run
        return {p.label: PointOutcome(p, "failed", message=str(exc)) for p in points}
    runs: dict[str, str] = {}  # started and not yet ended
    outcomes: dict[str, PointOutcome] = {}
    try:
        described = executor.describe()
        for point in points:
            runs[point.label] = start_point(tracker, sweep.parent, keys[point.label], point,
                                            _params(sweep, point, state, described),
                                            sweep.identity(point, state.sha256))
        journal = Journal(journal_root(tracker.uri), sweep.work_key(points, state.sha256))
        if sweep.force:  # redo means redo: shards left by an interrupted run are not reused either
            journal.clear()
        bar = tqdm(total=len(images), desc=first.label if len(points) == 1 else f"{first.setting} ({len(points)} "
                   "splits)", unit="img", disable=not sweep.progress, leave=False)
        with bar:
            work = compute(executor, images.samples, spec.shard_size, journal, bar)
        sweep.model_images += work.result.model_images
        scorer = Scorer(build_metrics(metrics), sweep.impl, sweep.device)  # reduces the dataset metrics' rows
        after = executor.describe_run()  # known only now: the batch actually used ...
        for i, point in enumerate(points):
            dataset = sweep.datasets[point.split]
            result = assemble(dataset, work.result, scorer, metrics, label=point.label, seed=_seed(spec),
                              grid_count=spec.grids.count, render=lambda ids: executor.render(dataset.samples, ids),
                              colorize=executor.colorize, batch_size=spec.batch_size)
            result.notes.update({m: "not computed: " + sweep.metrics[m].error.splitlines()[0] for m in without})
            result.timings.update(n_model_images=work.result.model_images if i == 0 else 0,
                                  n_shared_images=len(images), n_shards=work.shards, n_shards_resumed=work.resumed,
                                  seconds_wall=work.seconds_wall)
            tracker.log_params(runs[point.label], after)
            log_point(tracker, runs[point.label], result, dataset)
            run_id = runs.pop(point.label)
            tracker.end_run(run_id, "FINISHED")
            outcomes[point.label] = PointOutcome(point, "done", run_id, summary=result.summary, without=without)
        journal.clear()
        return outcomes
    except HarnessError as exc:
        for run_id in runs.values():
            tracker.end_run(run_id, "FAILED")
        return {p.label: outcomes.get(p.label) or PointOutcome(p, "failed", message=str(exc)) for p in points}
    except BaseException:
        for run_id in runs.values():
            tracker.end_run(run_id, "KILLED")
        raise
    finally:
        executor.stop()


def _seed(spec) -> int:
    return getattr(spec.dataset, "seed", 0)


def _params(sweep: Sweep, point: SweepPoint, state: Ready, described: dict[str, Any]) -> dict[str, Any]:
    """A point's run params: the model's, the data's, how it runs, and the model's own facts."""
    spec, dataset = sweep.loaded.spec, sweep.datasets[point.split]
    return {
        "model": point.model, "label": point.label, **point.resolved,
        **{f"dataset.{k}": v for k, v in dataset.info.items()}, "dataset.split": point.split,
        "dataset.fingerprint": dataset.fingerprint[:16], "seed": _seed(spec),
        "metrics": ",".join(m.label() for m in sweep.usable_metrics), "protocol": spec.protocol,
        "batch_size": spec.batch_size, "shard_size": spec.shard_size, "executor": sweep.executor.kind,
        "harness_version": __version__, "git_commit": git_commit() or "unknown", "weights_sha256": state.sha256,
        "device": sweep.device, "metrics_impl": sweep.impl, **numerics(sweep.device), **described,
    }


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
