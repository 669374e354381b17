"""Run a whole spec: expand the sweep, skip what is already done, evaluate the rest, track it.

This is the glue between `spec`, `data`, `models`, `runner` and `tracking`. A sweep
point whose model cannot start (missing weights, say) fails fast with the reason while
the other points run; the caller turns the outcome into an exit code.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError
from harness.spec import LoadedSpec, SweepPoint, load_spec

#: Bump when a change to scoring makes old runs incomparable: their run keys then differ.
SCORING_VERSION = 1


@dataclass
class PointOutcome:
    point: SweepPoint
    status: str  # "done" | "reused" | "failed"
    run_id: str | None = None
    message: str = ""
    summary: dict[str, float] = field(default_factory=dict)
    reported: bool = False  # the message was already printed in full (at preflight)


@dataclass
class Outcome:
    parent_run_id: str | None
    points: list[PointOutcome]
    tracking_uri: str

    @property
    def exit_code(self) -> int:
        """0 when every point is done or reused, 1 when any failed."""
        return 1 if any(p.status == "failed" for p in self.points) else 0


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; an absent CUDA device is an error."""
    if device == "cpu":
        return device
    try:
        import torch

        has_cuda = torch.cuda.is_available()
        count = torch.cuda.device_count() if has_cuda else 0
    except ImportError:
        has_cuda, count = False, 0
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    index = int(device.split(":")[1]) if ":" in device else 0
    if not has_cuda or index >= count:
        raise HarnessError(f"Spec asks for device '{device}' but {count} CUDA device(s) are visible.",
                           hint="Use device: auto or cpu, or run on a machine with that GPU.")
    return device


def run_key(point: SweepPoint, fingerprint: str, metrics: list[str], weights_sha: str | None) -> str:
    """What a finished run must match to be reused instead of redone."""
    blob = json.dumps({"point": point.identity(), "data": fingerprint, "metrics": sorted(metrics),
                       "weights": weights_sha, "scoring": SCORING_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_experiment(spec_path: str | Path, *, tracking_uri: str | None = None, force: bool = False,
                   progress: bool = True, loaded: LoadedSpec | None = None) -> Outcome:
    """Run every sweep point of a spec into MLflow; see the module docstring."""
    from harness.data import build_dataset
    from harness.models.registry import get_model_class
    from harness.runner import evaluate
    from harness.tracking import Tracker, quiet_mlflow

    loaded = loaded or load_spec(spec_path)
    spec = loaded.spec
    device = resolve_device(spec.device)
    datasets = {split: _dataset(build_dataset, spec, split) for split in dict.fromkeys(p.split for p in loaded.points)}
    ready = _preflight_all(loaded.points, get_model_class)
    with quiet_mlflow():
        tracker = Tracker(spec.name, tracking_uri)
        points_dump = [{"label": p.label, "model": p.model, "params": p.resolved, "split": p.split}
                       for p in loaded.points]
        parent = tracker.start_sweep(loaded.path, spec.model_dump(mode="json"), points_dump)
    outcomes: list[PointOutcome] = []
    children: list[str] = []
    status = "FINISHED"
    try:
        for point in loaded.points:
            outcome = _run_point(point, loaded, device, tracker, parent, datasets[point.split], force, progress,
                                 get_model_class, evaluate, ready)
            outcomes.append(outcome)
            if outcome.run_id:
                children.append(outcome.run_id)
                tracker.set_children(parent, children)
            _say(_describe(outcome))
    except BaseException:
        status = "KILLED"
        raise
    finally:
        with quiet_mlflow():
            runs = tracker.load_runs() if status == "FINISHED" else None
            if any(o.status == "failed" for o in outcomes) and status == "FINISHED":
                status = "FAILED"
            tracker.finish_sweep(parent, status, runs, outcomes=[
                {"label": o.point.label, "status": o.status, "run_id": o.run_id, "message": o.message}
                for o in outcomes])
    return Outcome(parent_run_id=parent, points=outcomes, tracking_uri=tracker.uri)


def _dataset(build_dataset, spec, split):
    dataset = build_dataset(spec.dataset, split)
    if len(dataset) == 0:
        raise HarnessError(f"Dataset{' split ' + split if split else ''} selects no images.",
                           hint="Check dataset paths, split definitions and limit in the spec.")
    return dataset


@dataclass
class _Ready:
    """What a model needs before it can run: its weights (and their hash) or why it cannot."""
    weights: Path | None = None
    sha256: str | None = None
    error: str | None = None


def _preflight_all(points: list[SweepPoint], get_model_class) -> dict[tuple, _Ready]:
    """Resolve (fetching where allowed) the weights of every point before any work starts.

    Each distinct model and weights setting is resolved once, so an unreachable download
    is tried once per model, not once per sweep point, and a point that cannot run is
    known before the others spend their time.
    """
    from harness.weights import file_sha256

    ready: dict[tuple, _Ready] = {}
    for point in points:
        cls = get_model_class(point.model)
        params = cls.Params.model_validate(point.resolved)
        key = _ready_key(point)
        if key in ready:
            continue
        try:
            weights = cls.preflight(params)
        except HarnessError as exc:
            ready[key] = _Ready(error=str(exc))
            _say(f"[failed] {point.model}: {exc}")
            continue
        ready[key] = _Ready(weights, file_sha256(Path(weights)) if weights is not None else None)
    return ready


def _ready_key(point: SweepPoint) -> tuple:
    return point.model, str(point.resolved.get("weights"))


def _run_point(point, loaded, device, tracker, parent, dataset, force, progress,
               get_model_class, evaluate, ready: dict[tuple, _Ready]) -> PointOutcome:
    spec = loaded.spec
    cls = get_model_class(point.model)
    params = cls.Params.model_validate(point.resolved)
    state = ready[_ready_key(point)]
    if state.error is not None:
        return PointOutcome(point, "failed", message=state.error, reported=True)
    weights_sha = state.sha256
    key = run_key(point, dataset.fingerprint, spec.metrics, weights_sha)
    if not force:
        reused = tracker.reuse_or_clear(key)
        if reused:
            return PointOutcome(point, "reused", reused)
    from harness.runner import metrics_impl

    model = cls(params, device=device)
    impl = metrics_impl(spec.metrics_impl, device)
    run_params: dict[str, Any] = {
        "model": point.model, "label": point.label, **point.resolved,
        **{f"dataset.{k}": v for k, v in dataset.info.items()}, "dataset.split": point.split,
        "dataset.fingerprint": dataset.fingerprint[:16], "seed": getattr(spec.dataset, "seed", 0),
        "metrics": ",".join(spec.metrics), "batch_size": spec.batch_size, "harness_version": __version__,
        "weights_sha256": weights_sha, **model.describe(), "device": device, "metrics_impl": impl,
    }
    from harness.tracking import git_commit

    run_params["git_commit"] = git_commit() or "unknown"
    run_id = tracker.start_point(parent, key, point, run_params)
    try:
        result = evaluate(dataset, model, spec.metrics, label=point.label, batch_size=spec.batch_size,
                          grid_count=spec.grids.count, seed=getattr(spec.dataset, "seed", 0), progress=progress,
                          impl=impl, workers=spec.workers)
        logging_start = time.perf_counter()
        tracker.log_point(run_id, result, dataset)
        tracker.log_metrics(run_id, {"seconds_logging": time.perf_counter() - logging_start})
    except HarnessError as exc:
        tracker.end_point(run_id, "FAILED")
        return PointOutcome(point, "failed", run_id=None, message=str(exc))
    except BaseException:
        tracker.end_point(run_id, "KILLED")
        raise
    finally:
        model.close()
    tracker.end_point(run_id, "FINISHED")
    return PointOutcome(point, "done", run_id, summary=result.summary)


def _describe(outcome: PointOutcome) -> str:
    label = outcome.point.label
    if outcome.status == "failed":
        if outcome.reported:
            return f"[failed] {label}: {outcome.message.splitlines()[0].rstrip(':')} (details above)"
        return f"[failed] {label}: {outcome.message}"
    if outcome.status == "reused":
        return f"[reused] {label}: finished run {outcome.run_id} has the same run key (use --force to redo)"
    s = outcome.summary
    parts = [f"{k}={s[k]:.4g}" for k in ("psnr_mean", "ssim_mean", "delta_e_mean", "cf_delta") if k in s]
    counts = f"scored {int(s.get('n_scored', 0))}, excluded {int(s.get('n_excluded', 0))}, " \
             f"failed {int(s.get('n_failed', 0))}"
    return f"[done] {label}: {' '.join(parts)} ({counts}) run {outcome.run_id}"
