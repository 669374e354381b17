"""The comparison report of a sweep, from the tracking store: read its points back, write `report.html`.

Each finished point contributes its `per_image.csv` and the thumbnails it kept
(`report/thumbs.zip`, `pipeline.thumbs`); the ranking and failed points are `compare`'s. The
report is logged as the sweep run's `report.html` at the end of every `harness run` (MLflow shows
HTML artifacts in place) and written anywhere by `harness report --out FILE`.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.pipeline.thumbs import unpack
from harness.report.compare import rank
from harness.report.html import ReportInput, ReportPoint, render_report
from harness.tracking import layout
from harness.tracking.client import Tracker
from harness.tracking.runs import SweepRuns, load_sweep

#: what the report may weigh; beyond it the gallery keeps fewer images and says so
SIZE_BUDGET = 20 * 2**20


def _point(tracker: Tracker, run: pd.Series) -> ReportPoint:
    table = tracker.read_bytes(run["run_id"], layout.PER_IMAGE_CSV)
    rows = pd.read_csv(io.BytesIO(table), dtype={"image_id": str}) if table else pd.DataFrame(columns=["image_id"])
    packed = tracker.read_bytes(run["run_id"], layout.THUMBS)
    params = {k[len("param."):]: v for k, v in run.items() if str(k).startswith("param.") and pd.notna(v)}
    clips = tracker.read_bytes(run["run_id"], layout.PER_CLIP_CSV)
    previews = {Path(name).name: tracker.read_bytes(run["run_id"], name) or b""
                for name in tracker.list_files(run["run_id"], "videos") if name.endswith(".mp4")}
    return ReportPoint(label=str(run["label"]), model=str(run["model"]),
                       split=None if pd.isna(run.get("split")) else str(run["split"]), run_id=str(run["run_id"]),
                       params=params, rows=rows, thumbs=unpack(packed) if packed else {},
                       clips=pd.read_csv(io.BytesIO(clips)) if clips else None, previews=previews)


def _rule(points: list[ReportPoint]) -> str:
    """Which images the gallery shows and why those (from what the points kept)."""
    kept = set().union(*(p.thumbs for p in points)) if points else set()
    listed = set().union(*(set(p.rows["image_id"].astype(str)) for p in points)) if points else set()
    if not kept:
        return "No gallery: the points kept no thumbnails (report.images: 0, or runs made before reports existed)."
    if kept >= listed:
        return f"Gallery: all {len(listed)} images of the sweep."
    return (f"Gallery: a seeded sample of {len(kept)} of the sweep's {len(listed)} images (the spec's report.images; "
            "the same images for every point).")


def build_input(tracker: Tracker, sweep_id: str | None = None, metric: str = "psnr_mean") -> ReportInput:
    """The report of the sweep `sweep_id` (default: the latest) of the tracker's experiment."""
    sweep: SweepRuns = load_sweep(tracker, sweep_id=sweep_id)
    if not sweep.parents:
        raise HarnessError(f"Experiment '{tracker.experiment_name}' has no sweep yet.",
                           hint="Run `harness run SPEC` first.")
    runs = sweep.runs
    points = [_point(tracker, run) for _, run in runs.iterrows()]
    ranking = rank(runs, metric) if not runs.empty and metric in runs else pd.DataFrame()
    return ReportInput(experiment=sweep.experiment, sweep=sweep.describe(), metric=metric, ranking=ranking,
                       failed=sweep.failed, points=points, runs=runs, rule=_rule(points))


def _trim(report: ReportInput, budget: int) -> str:
    """The page, with fewer gallery images (the first by id) while it weighs more than `budget` bytes."""
    page = render_report(report)
    ids = sorted(set().union(*(p.thumbs for p in report.points))) if report.points else []
    rule = report.rule
    while len(page.encode()) > budget and len(ids) > 1:
        ids = ids[: max(1, int(len(ids) * budget / len(page.encode()) * 0.9))]
        for point in report.points:
            point.thumbs = {i: t for i, t in point.thumbs.items() if i in set(ids)}
        report.rule = f"{rule} Cut to the first {len(ids)} of them by id to stay under {budget / 2**20:.0f} MB."
        page = render_report(report)
    return page


def write_report(tracker: Tracker, out: Path, sweep_id: str | None = None, metric: str = "psnr_mean",
                 budget: int = SIZE_BUDGET) -> Path:
    """Write the sweep's report to `out` and return it."""
    page = _trim(build_input(tracker, sweep_id, metric), budget)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    part.write_text(page, encoding="utf-8")
    part.replace(out)
    return out


def log_report(tracker: Tracker, sweep_id: str, metric: str = "psnr_mean") -> None:
    """The sweep run's `report.html` artifact."""
    page = _trim(build_input(tracker, sweep_id, metric), SIZE_BUDGET)
    tracker.log_bytes(sweep_id, page.encode("utf-8"), layout.REPORT)
