"""Run a whole spec: expand the sweep, skip what is already done, compute the rest, record it.

Weights are resolved before any work (`preflight`). The points of one model setting that
differ only by split are computed together (`setting.compute_setting`: the union of their
images once, in journaled shards, so a killed run resumes inside a point; each split's result
assembled from those shared rows; its pictures rendered while the model is loaded); the model
is then released and each point's run logged (`harness.tracking.sweep_log`). The caller turns
the outcome into an exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import __version__
from harness.console import say
from harness.data import Dataset, build_dataset
from harness.data.base import union
from harness.device import decode_workers, numerics, resolve_device
from harness.errors import HarnessError
from harness.executors import make_executor
from harness.pipeline.scoring import resolve_impl
from harness.pipeline.types import Work
from harness.sweep.context import Outcome, PointOutcome, SweepContext
from harness.sweep.identity import point_identity, run_key, work_key
from harness.sweep.points import LoadedSpec, SweepPoint, by_setting, load_spec
from harness.sweep.preflight import Ready, model_key, preflight_metrics, preflight_models
from harness.sweep.resume import close_dead_sweeps, reusable
from harness.sweep.setting import SettingJob, compute_setting
from harness.sweep.shards import Journal, claim, journal_root
from harness.tracking.client import Tracker, quiet_mlflow
from harness.tracking.provenance import git_commit
from harness.tracking.runs import load_sweep
from harness.tracking.sweep_log import adopt, finish_sweep, log_point, set_children, start_point, start_sweep


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
            points_dump = [{"label": p.label, "model": p.model, "params": p.resolved, "split": p.split,
                            "degradation": p.degradation, "severity": p.severity}
                           for p in loaded.points]
            parent = start_sweep(tracker, loaded.path, spec.model_dump(mode="json"), points_dump)
        sweep = SweepContext(loaded, runner, resolve_impl(spec.metrics_impl, runner.device), tracker, parent,
                             datasets, models, metrics, force, progress)
        return _run_sweep(sweep)
    finally:
        runner.close()


def _run_sweep(sweep: SweepContext) -> Outcome:
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


def _run_group(sweep: SweepContext, points: list[SweepPoint]) -> list[PointOutcome]:
    """The points of one model setting (its splits): reused where finished, the rest computed together."""
    state = sweep.models[model_key(points[0])]
    if state.error is not None:
        return [PointOutcome(p, "failed", message=state.error, reported=True) for p in points]
    if not sweep.usable_metrics:
        name = sweep.missing_metrics[0]
        return [PointOutcome(p, "failed", message=f"no metric can run: {name}: {sweep.metrics[name].error}",
                             reported=True) for p in points]
    keys = {p.label: run_key(point_identity(sweep, p, state.sha256)) for p in points}
    key = work_key(sweep, points, state.sha256)
    with claim(sweep.tracker.uri, key, lambda: say(f"[waiting] {points[0].setting}: another harness process is "
                                                  f"computing it on this store; waiting for it to finish")):
        done: dict[str, PointOutcome] = {}
        for point in points:  # checked under the claim: a point is never computed by two processes
            reused = None if sweep.force else reusable(sweep.tracker, keys[point.label])
            if reused:
                adopt(sweep.tracker, reused, sweep.parent)
                done[point.label] = PointOutcome(point, "reused", reused, without=sweep.missing_metrics)
        todo = [p for p in points if p.label not in done]
        if todo:
            done.update(_compute(sweep, todo, keys, state))
    return [done[p.label] for p in points]


def _compute(sweep: SweepContext, points: list[SweepPoint], keys: dict[str, str],
             state: Ready) -> dict[str, PointOutcome]:
    """Compute the points of one model setting together (`compute_setting`), release the model, then
    log each point's run."""
    from tqdm.auto import tqdm

    tracker, spec, executor = sweep.tracker, sweep.loaded.spec, sweep.executor
    metrics, without = sweep.usable_metrics, sweep.missing_metrics
    datasets = [sweep.datasets[p.split] for p in points]
    first = points[0]
    work = Work(first.model, first.params, metrics, sweep.impl, spec.protocol, spec.batch_size,
                decode_workers(spec.workers), datasets[0].reporter, keep=sweep.report_ids, degradation=first.degraded,
                seed=sweep.seed)
    try:
        executor.start(work)
    except HarnessError as exc:  # e.g. a weights file that does not fit: these points fail, the others run
        return {p.label: PointOutcome(p, "failed", message=str(exc)) for p in points}
    except Exception as exc:  # noqa: BLE001 - a model that cannot start fails its points alone, said in full
        return {p.label: PointOutcome(p, "failed", message=f"model {first.model} could not start: "
                                                           f"{type(exc).__name__}: {exc}") for p in points}
    runs: dict[str, str] = {}  # started and not yet ended
    outcomes: dict[str, PointOutcome] = {}
    try:
        described = executor.describe()
        for point in points:
            runs[point.label] = start_point(tracker, sweep.parent, keys[point.label], point,
                                            _params(sweep, point, state, described),
                                            point_identity(sweep, point, state.sha256))
        journal = Journal(journal_root(tracker.uri), work_key(sweep, points, state.sha256))
        if sweep.force:  # redo means redo: shards left by an interrupted run are not reused either
            journal.clear()
        bar = tqdm(total=len(union(datasets)), unit="img", disable=not sweep.progress, leave=False,
                   desc=first.label if len(points) == 1 else f"{first.setting} ({len(points)} splits)")
        with bar:
            job = SettingJob(work, datasets, [p.label for p in points], spec.shard_size, journal, spec.grids.count,
                             sweep.seed, bar)
            done = compute_setting(executor, job)
        executor.stop()  # the model is not needed for logging
        sweep.model_images += done.computed.result.model_images - done.computed.resumed_images  # this process's
        for point, result in zip(points, done.points):
            result.notes.update({m: "not computed: " + sweep.metrics[m].error.splitlines()[0] for m in without})
            for warning in result.warnings:
                say(f"[warning] {point.label}: {warning}")
            tracker.log_params(runs[point.label], done.described_run)
            log_point(tracker, runs[point.label], result, sweep.datasets[point.split])
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


def _params(sweep: SweepContext, point: SweepPoint, state: Ready, described: dict[str, Any]) -> dict[str, Any]:
    """A point's run params: the model's, the data's, how it runs, and the model's own facts."""
    spec, dataset = sweep.loaded.spec, sweep.datasets[point.split]
    return {
        "model": point.model, "label": point.label, **point.resolved,
        "degradation": point.degradation or "none", "degradation_severity": point.severity or 0,
        **{f"dataset.{k}": v for k, v in dataset.info.items()}, "dataset.split": point.split,
        "dataset.fingerprint": dataset.fingerprint[:16], "seed": sweep.seed,
        "metrics": ",".join(m.label() for m in sweep.usable_metrics), "protocol": spec.protocol,
        "batch_size": spec.batch_size, "shard_size": spec.shard_size, "executor": sweep.executor.kind,
        "decode_workers": decode_workers(spec.workers),
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
