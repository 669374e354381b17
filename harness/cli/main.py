"""The `harness` command line: parses arguments, then calls the module that does the work.

Bad input (a `HarnessError`) prints one paragraph and exits 2 without a traceback unless
`--debug` is given; an interrupted run exits 130 after recording what finished.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness import __version__
from harness.cli.assets import data, reference, weights
from harness.cli.bench import bench_command
from harness.cli.options import SET_HELP, TRACKING_HELP
from harness.cli.options import settings as _settings
from harness.cli.report import report_command
from harness.cli.study import study_group
from harness.errors import HarnessError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
def cli(debug: bool) -> None:
    """Evaluate image colorization models: sweep, score, and track results in MLflow."""


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the sweep points and their model work (images x FLOPs), then exit.")
@click.option("--force", is_flag=True, help="Redo sweep points that already have a finished run.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
@click.option("--progress/--no-progress", default=True, help="Progress bars on stderr.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where shards run (default: the spec's `executor`, else local).")
@click.option("--ray-address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray).")
def run(spec: Path, dry_run: bool, force: bool, tracking_uri: str | None, progress: bool, executor: str | None,
        ray_address: str | None) -> None:
    """Run the experiment SPEC (a YAML file) and log it to MLflow."""
    from harness.sweep.experiment import run_experiment
    from harness.sweep.points import load_spec
    from harness.tracking.client import artifact_folder

    loaded = load_spec(spec)
    if dry_run:
        from harness.sweep.dryrun import report

        _print_points(loaded)
        click.echo("\n".join(report(loaded)))
        return
    if ray_address and executor is None:
        executor = "ray"
    outcome = run_experiment(spec, tracking_uri=tracking_uri, force=force, progress=progress, loaded=loaded,
                             executor=executor, ray_address=ray_address)
    done = sum(p.status == "done" for p in outcome.points)
    reused = sum(p.status == "reused" for p in outcome.points)
    failed = [p for p in outcome.points if p.status == "failed"]
    click.echo(f"Sweep run {outcome.parent_run_id}: {done} done, {reused} reused, {len(failed)} failed "
               f"(store: {outcome.tracking_uri}).")
    folder = artifact_folder(outcome.tracking_uri, loaded.spec.name)
    uri = "" if tracking_uri is None else f" --tracking-uri {tracking_uri}"
    report = folder / str(outcome.parent_run_id) / "artifacts" / "report.html" if folder is not None else None
    if report is not None and report.is_file():
        click.echo(f"Report: {report} (open it in a browser: every point side by side).")
    else:
        click.echo(f"Report: the sweep run's report.html artifact, or `harness report{uri} --out report.html`.")
    if folder is not None:
        click.echo(f"Results: {folder}/<run id>/artifacts/ (per_image.csv, grids/, plots/ of each point run).")
    click.echo(f"Browse it with `harness ui{uri}`; rank it with `harness compare{uri}`.")
    if failed:
        click.echo(f"{len(failed)} sweep point(s) failed; see the messages above.", err=True)
    without = sorted({m for p in outcome.points for m in p.without})
    if without:
        click.echo(f"Metric(s) {', '.join(without)} were not computed (weights missing or unusable; see above).",
                   err=True)
    sys.exit(outcome.exit_code)


def _print_points(loaded) -> None:
    click.echo(f"{loaded.spec.name}: {len(loaded.points)} sweep point(s)")
    for i, point in enumerate(loaded.points, 1):
        params = ", ".join(f"{k}={'official' if k == 'weights' and v is None else v}"
                           for k, v in point.resolved.items())
        split = f" split={point.split}" if point.split else ""
        click.echo(f"{i:3d}. {point.label}  ({params or 'no parameters'}){split}")


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
def validate(spec: Path) -> None:
    """Check SPEC (an experiment spec, or a thresholds file for `harness check`) without running it."""
    from harness.config.yamlio import load_yaml

    data = load_yaml(spec, what="file").data
    if isinstance(data, dict) and not {"name", "dataset", "models"} & set(data):
        from harness.report.check import load_thresholds

        bounds = load_thresholds(spec)
        count = sum(len(b) for b in bounds.bounds.values())
        click.echo(f"{spec}: a valid thresholds file, {count} bound(s) on {len(bounds.bounds)} model(s) or point(s).")
        return
    from harness.data import unavailable
    from harness.sweep.dryrun import weights_lines
    from harness.sweep.points import load_spec

    loaded = load_spec(spec)
    click.echo(f"{spec}: valid, {len(loaded.points)} sweep point(s).")
    problem = unavailable(loaded.spec.dataset)
    if problem is not None:  # a spec may be written before its data is there: a warning, not an error
        click.echo("warning: its data is not here: " + problem.replace("\n", "\n  "))
    for line in weights_lines(loaded):
        click.echo(line)




@cli.command()
@click.option("--experiment", default=None, help="Experiment name (default: the one with the latest sweep).")
@click.option("--metric", default="psnr_mean", show_default=True, help="Summary metric to rank by.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "markdown", "paper", "latex"]), default="table",
              show_default=True, help="A ranking (table, csv, markdown), or every point in a paper's columns "
                                      "(paper: markdown, latex).")
@click.option("--all", "all_parents", is_flag=True, help="Rank the runs of every sweep, not just the latest.")
@click.option("--robustness", is_flag=True, help="A degradation sweep's summary: each setting's mCE against the "
                                                 "grayscale baseline, then --metric against severity.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def compare(experiment: str | None, metric: str, fmt: str, all_parents: bool, robustness: bool,
            tracking_uri: str | None) -> None:
    """Rank sweep points by a metric, with 95% CIs and the difference to the grayscale baseline."""
    from harness.report.compare import fid_caveat, format_failed, format_ranking, rank

    sweep = _load_sweep(experiment, tracking_uri, all_parents)
    if robustness:
        from harness.report.robustness import format_robustness

        click.echo(format_robustness(sweep.runs, metric, "csv" if fmt == "csv" else "table"))
    elif fmt in ("paper", "latex"):
        from harness.report.paper_table import paper_table

        if sweep.runs.empty:
            raise HarnessError("There are no finished sweep-point runs to tabulate.", hint="Run `harness run SPEC`.")
        click.echo(paper_table(sweep.runs, fmt))
    else:
        click.echo(format_ranking(rank(sweep.runs, metric), fmt, metric))
        caveat = fid_caveat(sweep.runs, metric)
        if caveat:
            click.echo(caveat, err=fmt == "csv")
    failed = format_failed(sweep.failed)
    if failed:
        click.echo(failed, err=fmt == "csv")  # keep a CSV parseable


@cli.command()
@click.argument("thresholds", type=click.Path(path_type=Path))
@click.option("--experiment", default=None,
              help="Experiment name (default: the file's `experiment:` key, else the one with the latest sweep).")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def check(thresholds: Path, experiment: str | None, tracking_uri: str | None) -> None:
    """Fail (exit 1) when a run breaks a bound in THRESHOLDS; exit 2 when a named model or metric has no run."""
    from harness.report.check import check as run_check
    from harness.report.check import exit_code, format_result, load_thresholds

    bounds = load_thresholds(thresholds)
    sweep = _load_sweep(experiment or bounds.experiment, tracking_uri, False)
    result = run_check(sweep.runs, bounds.bounds)
    click.echo(format_result(result))
    sys.exit(exit_code(result))


def _load_sweep(experiment: str | None, tracking_uri: str | None, all_parents: bool):
    """The sweep to read, saying on stderr which experiment and sweep it is and why that one."""
    from harness.tracking.client import Tracker, latest_experiment, quiet_mlflow
    from harness.tracking.runs import load_sweep

    with quiet_mlflow():
        name = experiment or latest_experiment(tracking_uri)
        sweep = load_sweep(Tracker(name, tracking_uri, create=False), all_parents=all_parents)
    why = "" if experiment else " (the experiment with the latest sweep; choose another with --experiment)"
    click.echo(sweep.describe() + why, err=True)
    return sweep


@cli.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def ui(port: int, tracking_uri: str | None) -> None:
    """Start the MLflow UI on 127.0.0.1 against the harness's store."""
    from harness.tools.ui import serve_ui

    sys.exit(serve_ui(tracking_uri, port))


@cli.command("list")
def list_names() -> None:
    """List the models and metrics a spec can name, and what each metric's values mean."""
    from harness.metrics import get_metric, metric_names
    from harness.models.registry import model_names
    from harness.models.variants import VARIANTS

    click.echo("models:")
    for name in model_names():
        click.echo(f"  {name}" + (f": {VARIANTS[name].summary}" if name in VARIANTS else ""))
    click.echo("metrics:")
    for name in metric_names():
        metric = get_metric(name)
        direction = {True: "higher is better", False: "lower is better", None: "no better direction"}
        click.echo(f"  {name} ({direction[metric.higher_is_better]}): {metric.description}")
        for key, rule in metric.derived.items():
            click.echo(f"    -> {key} ({direction[rule.higher_is_better]}): {rule.description}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default=None,
              help="Model name (default: deoldify-video when every input is a film, else deoldify-artistic).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--weights", "weights_file", type=click.Path(path_type=Path), default=None,
              help="Weights file (default: the official file in the cache).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True, help="Images per forward pass.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def colorize(inputs, model_name, settings, weights_file, device, batch_size, out_dir) -> None:
    """Colorize image files or folders (one PNG per image under --out) and films (a colorized copy
    with the original frame rate, resolution and sound)."""
    from harness.device import resolve_device
    from harness.models.registry import build_model
    from harness.paths import refuse_output_in_inputs
    from harness.tools.colorize import colorize_paths, is_film

    refuse_output_in_inputs(out_dir, inputs)  # before the model (and maybe its weights) is fetched
    if model_name is None:
        model_name = "deoldify-video" if all(is_film(p) for p in inputs) else "deoldify-artistic"
    params = _settings(settings)
    if weights_file is not None:
        params["weights"] = weights_file
    model = build_model(model_name, params, resolve_device(device))  # fetches missing weights first
    report = colorize_paths(list(inputs), out_dir, model, batch_size=batch_size)
    for src, reason in report.skipped:
        click.echo(f"skipped {src}: {reason}", err=True)
    for note in report.notes:
        click.echo(note, err=True)
    noun = "file(s)" if any(is_film(p) for p in report.written) else "image(s)"
    click.echo(f"{len(report.written)} {noun} written to {out_dir}, {len(report.skipped)} skipped.")


cli.add_command(weights)
cli.add_command(bench_command)
cli.add_command(report_command)
cli.add_command(data)
cli.add_command(reference)
cli.add_command(study_group)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one paragraph and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except HarnessError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.message}" + (f"\n{exc.hint}" if exc.hint else ""), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("Interrupted: finished sweep points are saved; run the same command again to resume.", err=True)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:  # a full disk, a folder made read-only mid-run: the file and the fix, no traceback
        if debug:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        fix = ("free space there, or point --tracking-uri, HARNESS_JOURNAL or --out elsewhere"
               if exc.errno == 28 else "check that path and its permissions")
        click.echo(f"error: {exc.strerror or exc}{where}.\nFix: {fix}; finished sweep points are kept and the same "
                   f"command resumes.", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}\nRe-run with --debug for the traceback "
                   f"and report it.", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
