"""`harness report`: a sweep's comparison report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import TRACKING_HELP


@click.command("report")
@click.option("--experiment", default=None, help="Experiment name (default: the one with the latest sweep).")
@click.option("--sweep", "sweep_id", default=None, help="Sweep run id (default: the experiment's latest sweep).")
@click.option("--metric", default="psnr_mean", show_default=True, help="Summary metric the ranking uses.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def report_command(experiment: str | None, sweep_id: str | None, metric: str, out: Path,
                   tracking_uri: str | None) -> None:
    """Write a sweep's comparison report: one self-contained HTML file (ranking, plots, gallery)."""
    from harness.tracking.client import Tracker, latest_experiment, quiet_mlflow
    from harness.tracking.report_data import write_report

    with quiet_mlflow():
        name = experiment or latest_experiment(tracking_uri)
        path = write_report(Tracker(name, tracking_uri, create=False), out, sweep_id, metric)
    click.echo(f"{path}: the report of experiment '{name}' ({path.stat().st_size / 2**20:.1f} MB); open it in a "
               "browser, it needs no network.")
