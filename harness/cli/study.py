"""`harness study create | serve | results | export`: human judgement of a sweep's outputs."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import TRACKING_HELP
from harness.errors import HarnessError


@click.group("study")
def study_group() -> None:
    """Pairwise preference and "which is real?" studies of a sweep's points, ranked with Bradley-Terry."""


@study_group.command("create")
@click.option("--experiment", default=None, help="Experiment name (default: the one with the latest sweep).")
@click.option("--sweep", "sweep_id", default=None, help="Sweep run id (default: the experiment's latest sweep).")
@click.option("--points", required=True, help="Point labels, comma-separated (as `harness compare` prints them).")
@click.option("--images", type=int, default=None, help="Images to judge (default: every image all points kept).")
@click.option("--kind", type=click.Choice(["preference", "real-or-fake"]), default="preference", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the images, the order and the sides.")
@click.option("--cap", type=int, default=None, help="Most votes one rater may cast (default: every trial).")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def create(experiment, sweep_id, points, images, kind, seed, cap, tracking_uri) -> None:
    """Make a study of finished points of a sweep, stored beside the tracking store."""
    from harness.study.create import StudyRequest, create_study
    from harness.tracking.client import Tracker, latest_experiment, quiet_mlflow

    labels = [p.strip() for p in points.split(",") if p.strip()]
    if images is not None and images < 1 or cap is not None and cap < 1:
        raise HarnessError("--images and --cap must be at least 1.")
    with quiet_mlflow():
        name = experiment or latest_experiment(tracking_uri)
        study = create_study(Tracker(name, tracking_uri, create=False),
                             StudyRequest(labels, images, kind, seed, cap), sweep_id)
    click.echo(f"Study {study.id}: {len(study.trials)} trials ({kind}) over {len(study.meta['images'])} images "
               f"of {len(labels)} point(s) in {study.folder}.")
    click.echo(f"Serve it with `harness study serve {study.id}`" +
               (f" --tracking-uri {tracking_uri}`." if tracking_uri else "`."))


@study_group.command("serve")
@click.argument("study")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than 127.0.0.1 requires the study's token on every request.")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def serve(study, host, port, tracking_uri) -> None:
    """Serve STUDY's voting page (keys: left arrow / right arrow / down arrow for a tie)."""
    from harness.study.server import serve_study
    from harness.study.store import open_study

    serve_study(open_study(study, tracking_uri), host, port)


@study_group.command("results")
@click.argument("study")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--votes", "votes_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Rank the votes of this CSV (rater,image_id,left,right,choice) instead of the study's.")
@click.option("--log/--no-log", default=True, help="Log the results as an MLflow run under the sweep.")
@click.option("--bootstrap", type=click.IntRange(min=1), default=1000, show_default=True, help="Bootstrap resamples for the CIs.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def results(study, fmt, votes_file, log, bootstrap, tracking_uri) -> None:
    """Rank STUDY's points: Bradley-Terry strengths with 95% bootstrap CIs, win rates, rater agreement."""
    from harness.study.results import analyse, format_results, log_results, read_votes, study_votes
    from harness.study.store import open_study

    opened = open_study(study, tracking_uri)
    votes = read_votes(votes_file) if votes_file else study_votes(opened)
    found = analyse(votes, opened.kind, opened.meta["points"], bootstrap=bootstrap, seed=opened.meta["seed"])
    click.echo(format_results(found, fmt))
    if log and votes_file is None and len(votes):
        run_id = log_results(opened, found, votes, tracking_uri)
        click.echo(f"Logged as run {run_id} under sweep {opened.meta['sweep']}.", err=True)


@study_group.command("export")
@click.argument("study")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def export(study, out, tracking_uri) -> None:
    """Write STUDY's votes as CSV: rater,image_id,left,right,choice."""
    from harness.study.results import study_votes
    from harness.study.store import open_study

    votes = study_votes(open_study(study, tracking_uri))
    out.parent.mkdir(parents=True, exist_ok=True)
    votes.to_csv(out, index=False)
    click.echo(f"{out}: {len(votes)} vote(s) of {votes['rater'].nunique()} rater(s).")
