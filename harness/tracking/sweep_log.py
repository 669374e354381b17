"""What a sweep records in the tracking store: the parent run, each point's run and its artifacts.

Parent (one per `harness run`): the spec file, the resolved sweep (`sweep.json`), the list
of its points (`harness.children`, fresh and reused), `outcomes.json`, and a comparison
plot and table. Point (one per sweep point): params, summary metrics, the per-image table
(`per_image.json` as an MLflow table, `per_image.csv`), the sample grid, a distribution
plot per score column, whatever the dataset's reporter adds (tables, figures, files such as
video previews), the report's thumbnails (`report/thumbs.zip`), and the dataset as an input.
The sweep's `report.html` is written from these once its points are logged (`tracking.report_data`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from harness import __version__
from harness.console import say
from harness.pipeline.thumbs import pack as pack_thumbs
from harness.report.figures import comparison_plot, distribution_plot, sample_grid
from harness.report.robustness import CURVE_METRICS, curves, has_degradations, mce, mce_metrics, robustness_plot
from harness.tracking import layout
from harness.tracking.client import MAX_TAG, Tracker
from harness.tracking.provenance import git_commit, owner
from harness.tracking.report_data import log_report


def start_sweep(tracker: Tracker, spec_path: Path, spec_dump: dict[str, Any], points: list[dict[str, Any]]) -> str:
    run_id = tracker.start_run(f"{tracker.experiment_name} sweep",
                               {layout.KIND: layout.SWEEP, layout.VERSION: __version__, **owner()})
    tracker.log_params(run_id, {"spec": str(spec_path), "points": len(points), "harness_version": __version__,
                                "git_commit": git_commit() or "unknown"})
    tracker.log_file(run_id, spec_path, "spec")
    tracker.log_json(run_id, {"spec": spec_dump, "points": points}, layout.SWEEP_FILE)
    return run_id


def set_children(tracker: Tracker, parent_id: str, children: list[str]) -> None:
    """Record which point runs make up this sweep (fresh and reused), as soon as each is known."""
    tracker.set_tags(parent_id, {layout.CHILDREN: json.dumps(children)})


def adopt(tracker: Tracker, run_id: str, parent_id: str) -> None:
    """Show a reused point run under the sweep reusing it in the UI (MLflow nests by one parent tag);
    the sweep that first produced it stays recorded as `harness.first_parent`."""
    tags = tracker.get_run(run_id).data.tags
    update = {layout.PARENT: parent_id}
    if layout.FIRST_PARENT not in tags:
        update[layout.FIRST_PARENT] = tags.get(layout.PARENT, "")
    tracker.set_tags(run_id, update)


def finish_sweep(tracker: Tracker, parent_id: str, status: str, runs: pd.DataFrame | None,
                 outcomes: list[dict[str, Any]], metric: str = "psnr_mean") -> None:
    """Close the parent run; failures also go into its description, so the UI says why."""
    tracker.log_json(parent_id, outcomes, layout.OUTCOMES)
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        note = "\n\n".join(f"**{o['label']}** failed: {o['message']}" for o in failed)
        tracker.set_tags(parent_id, {layout.DESCRIPTION: f"{len(failed)} sweep point(s) failed.\n\n{note}"[:MAX_TAG],
                                     layout.FAILED: ", ".join(o["label"] for o in failed)[:MAX_TAG]})
    if runs is not None and not runs.empty and metric in runs:
        tracker.log_figure(parent_id, comparison_plot(runs, metric), f"plots/comparison_{metric}.png")
        tracker.log_csv(parent_id, runs, "comparison.csv")
    if runs is not None and has_degradations(runs):
        try:
            log_robustness(tracker, parent_id, runs, metric)
        except Exception as exc:  # noqa: BLE001 - the points' numbers are logged; a summary that fails must not lose them
            say(f"[warning] the sweep's robustness summary was not logged: {type(exc).__name__}: {exc}")
    if status != "KILLED":
        tracker.set_experiment_tag(layout.VIEW_STATE, ui_view(parent_id, runs, metric))
        try:
            log_report(tracker, parent_id, metric)
        except Exception as exc:  # noqa: BLE001 - the numbers are logged; a report that fails must not lose them
            say(f"[warning] the sweep's report.html was not written: {type(exc).__name__}: {exc}")
    tracker.end_run(parent_id, status)


def log_robustness(tracker: Tracker, parent_id: str, runs: pd.DataFrame, metric: str) -> None:
    """A degradation sweep's robustness summary on its sweep run (`harness.report.robustness`): the mCE of
    each setting as metrics and CSV, every metric against severity as CSV, a plot of `metric` per degradation."""
    curve, aggregate = curves(runs), mce(runs)
    tracker.log_metrics(parent_id, mce_metrics(aggregate))
    tracker.log_csv(parent_id, aggregate, "robustness/mce.csv")
    tracker.log_csv(parent_id, curve, "robustness/curves.csv")
    metric = metric if metric in runs else next((m for m in CURVE_METRICS if m in runs), "")  # scans: colourfulness
    for degradation in sorted(set(curve["degradation"]) - {"none"}) if metric else []:
        import matplotlib.pyplot as plt

        fig = robustness_plot(curve, metric, degradation)
        tracker.log_figure(parent_id, fig, f"robustness/{metric}_{degradation}.png")
        plt.close(fig)


#: summary metrics shown as columns in the UI's runs table, when the runs have them
UI_COLUMNS = ("psnr_mean", "ssim_mean", "delta_e_mean", "cf_delta", "lpips_mean", "fid", "kid_mean", "cdc_mean",
              "flicker_mean", "n_scored", "n_failed")


def ui_view(parent_id: str, runs: pd.DataFrame | None, metric: str) -> str:
    """The MLflow UI view of a sweep (layout.VIEW_STATE): its points, best `metric` first, their model,
    split and main metrics as columns."""
    present = [] if runs is None else [c for c in UI_COLUMNS if c in runs]
    columns = [f"params.`{p}`" for p in ("model", "dataset.split")] + [f"metrics.`{m}`" for m in present]
    return json.dumps({"searchFilter": f"tags.`{layout.PARENT}` = '{parent_id}'", "selectedColumns": columns,
                       "orderByKey": f"metrics.`{metric}`", "orderByAsc": False})


def start_point(tracker: Tracker, parent_id: str, key: str, point, params: dict[str, Any],
                identity: dict[str, Any]) -> str:
    tags = {layout.KIND: layout.POINT, layout.KEY: key, layout.LABEL: point.label, layout.MODEL: point.model,
            layout.PARENT: parent_id, layout.FIRST_PARENT: parent_id, **owner()}
    if point.split is not None:
        tags[layout.SPLIT] = point.split
    run_id = tracker.start_run(point.label, tags)
    tracker.log_params(run_id, params)
    tracker.log_json(run_id, identity, layout.RUN_KEY_FILE)  # what the key hashes, to see why a run was (not) reused
    return run_id


def log_point(tracker: Tracker, run_id: str, result, dataset) -> None:
    """Summary metrics, per-image table, grid, plots, the reporter's artifacts and the dataset of a point."""
    start = time.perf_counter()
    tracker.log_metrics(run_id, {**result.summary, **result.timings})
    table = result.rows
    tracker.log_table(run_id, table.astype({"status": str}), layout.PER_IMAGE_TABLE)
    tracker.log_csv(run_id, table, layout.PER_IMAGE_CSV)
    if result.grid:
        tracker.log_image(run_id, sample_grid(result.grid), layout.GRID)
    ok = table[table["status"] == "ok"]
    for column in result.metric_columns:
        if column in ok and ok[column].notna().any():
            fig = distribution_plot(ok[column], column, title=f"{result.label}: {column}")
            tracker.log_figure(run_id, fig, f"plots/{column}_distribution.png")
    for name, frame in result.tables.items():
        tracker.log_csv(run_id, frame, name)
    for name, fig in result.figures.items():
        tracker.log_figure(run_id, fig, name)
    for name, path in result.files.items():  # files the reporter wrote (video previews)
        folder = str(Path(name).parent)
        tracker.log_file(run_id, Path(path), None if folder == "." else folder)
    if result.thumbs:
        tracker.log_bytes(run_id, pack_thumbs(result.thumbs), layout.THUMBS)
    if result.warnings:  # also the run's description, so the UI shows them on the run's page
        text = "\n".join(result.warnings)
        tracker.set_tags(run_id, {layout.WARNINGS: text[:MAX_TAG],
                                  layout.DESCRIPTION: f"Fallbacks taken:\n\n{text}"[:MAX_TAG]})
    if result.notes:
        tracker.set_tags(run_id, {f"{layout.METRIC_NOTE}{k}": v[:MAX_TAG] for k, v in result.notes.items()})
    frame = pd.DataFrame({"image_id": [s.id for s in dataset.samples],
                          "path": [s.path or "" for s in dataset.samples]})
    tracker.log_dataset(run_id, frame, source=str(dataset.info.get("path", dataset.source)),
                        name=dataset.name if dataset.split is None else f"{dataset.name}:{dataset.split}",
                        digest=dataset.fingerprint[:16])
    tracker.log_metrics(run_id, {"seconds_logging": time.perf_counter() - start})
