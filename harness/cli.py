"""The `harness` command line: parses arguments, then calls the module that does the work.

Bad input (a `HarnessError`) prints one paragraph and exits 2 without a traceback unless
`--debug` is given; an interrupted run exits 130 after recording what finished.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness import __version__
from harness.errors import HarnessError

TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
def cli(debug: bool) -> None:
    """Evaluate image colorization models: sweep, score, and track results in MLflow."""


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the sweep points and exit.")
@click.option("--force", is_flag=True, help="Redo sweep points that already have a finished run.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
@click.option("--progress/--no-progress", default=True, help="Progress bars on stderr.")
def run(spec: Path, dry_run: bool, force: bool, tracking_uri: str | None, progress: bool) -> None:
    """Run the experiment SPEC (a YAML file) and log it to MLflow."""
    from harness.experiment import run_experiment
    from harness.spec import load_spec

    loaded = load_spec(spec)
    if dry_run:
        _print_points(loaded)
        return
    outcome = run_experiment(spec, tracking_uri=tracking_uri, force=force, progress=progress, loaded=loaded)
    done = sum(p.status == "done" for p in outcome.points)
    reused = sum(p.status == "reused" for p in outcome.points)
    failed = [p for p in outcome.points if p.status == "failed"]
    click.echo(f"Sweep run {outcome.parent_run_id}: {done} done, {reused} reused, {len(failed)} failed "
               f"(store: {outcome.tracking_uri}).")
    click.echo("Browse it with `harness ui`; rank it with `harness compare`.")
    if failed:
        click.echo(f"{len(failed)} sweep point(s) failed; see the messages above.", err=True)
    sys.exit(outcome.exit_code)


def _print_points(loaded) -> None:
    click.echo(f"{loaded.spec.name}: {len(loaded.points)} sweep point(s)")
    for i, point in enumerate(loaded.points, 1):
        params = ", ".join(f"{k}={v}" for k, v in point.resolved.items())
        split = f" split={point.split}" if point.split else ""
        click.echo(f"{i:3d}. {point.label}  ({params or 'no parameters'}){split}")


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
def validate(spec: Path) -> None:
    """Check SPEC without running it."""
    from harness.spec import load_spec

    loaded = load_spec(spec)
    click.echo(f"{spec}: valid, {len(loaded.points)} sweep point(s).")


@cli.command()
@click.option("--experiment", default=None, help="Experiment name (default: the one with the latest sweep).")
@click.option("--metric", default="psnr_mean", show_default=True, help="Summary metric to rank by.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "markdown"]), default="table", show_default=True)
@click.option("--all", "all_parents", is_flag=True, help="Rank the runs of every sweep, not just the latest.")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def compare(experiment: str | None, metric: str, fmt: str, all_parents: bool, tracking_uri: str | None) -> None:
    """Rank sweep points by a metric, with 95% CIs and the difference to the grayscale baseline."""
    from harness.compare import format_ranking, rank

    runs = _load_runs(experiment, tracking_uri, all_parents)
    click.echo(format_ranking(rank(runs, metric), fmt, metric))


@cli.command()
@click.argument("thresholds", type=click.Path(path_type=Path))
@click.option("--experiment", default=None, help="Experiment name (default: the one with the latest sweep).")
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def check(thresholds: Path, experiment: str | None, tracking_uri: str | None) -> None:
    """Fail (exit 1) when a run breaks a bound in THRESHOLDS; exit 2 when a named model or metric has no run."""
    from harness.check import check as run_check
    from harness.check import exit_code, format_result, load_thresholds

    bounds = load_thresholds(thresholds)
    result = run_check(_load_runs(experiment, tracking_uri, False), bounds)
    click.echo(format_result(result))
    sys.exit(exit_code(result))


def _load_runs(experiment: str | None, tracking_uri: str | None, all_parents: bool):
    from harness.tracking import Tracker, latest_experiment, quiet_mlflow

    with quiet_mlflow():
        name = experiment or latest_experiment(tracking_uri)
        return Tracker(name, tracking_uri, create=False).load_runs(all_parents=all_parents)


@cli.command()
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--tracking-uri", default=None, help=TRACKING_HELP)
def ui(port: int, tracking_uri: str | None) -> None:
    """Start the MLflow UI on 127.0.0.1 against the harness's store."""
    from harness.tracking import serve_ui

    sys.exit(serve_ui(tracking_uri, port))


@cli.command("list")
def list_names() -> None:
    """List the models and metrics a spec can name."""
    from harness.metrics import get_metric, metric_names
    from harness.models.registry import model_names

    click.echo("models:  " + ", ".join(model_names()))
    click.echo("metrics: " + ", ".join(f"{m} ({'higher' if get_metric(m).higher_is_better else 'lower'} is better)"
                                       for m in metric_names()))


@cli.group()
def weights() -> None:
    """Official DeOldify weights: list, check, fetch, locate."""


@weights.command("list")
def weights_list() -> None:
    """The official files with their URLs."""
    from harness.weights import OFFICIAL, entry

    for model in OFFICIAL:
        item = entry(model)
        size = f"{item.size:,} bytes" if item.size else "size unknown"
        click.echo(f"{model}: {item.filename} ({size}, sha256 {item.sha256 or 'unknown'})")
        for url in item.urls:
            click.echo(f"    {url}")


@weights.command("status")
def weights_status() -> None:
    """Which official files are cached, and whether their sha256 matches the reference."""
    from harness.weights import cache_dir, status

    click.echo(f"cache: {cache_dir()}")
    for row in status():
        state = f"cached, sha256 {row['sha256']}" if row["cached"] else "not cached"
        click.echo(f"{row['model']}: {row['filename']} {state}")


@weights.command("fetch")
@click.argument("model")
@click.option("--force", is_flag=True, help="Download again even if cached.")
def weights_fetch(model: str, force: bool) -> None:
    """Download MODEL's official weights into the cache (resumable, checksum verified)."""
    from harness.weights import fetch

    click.echo(str(fetch(model, force=force)))


@weights.command("path")
@click.argument("model")
def weights_path(model: str) -> None:
    """Where MODEL's weights are (or will be) cached."""
    from harness.weights import cached_path

    click.echo(str(cached_path(model)))


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="deoldify-artistic", show_default=True)
@click.option("--render-factor", type=int, default=None, help="DeOldify render factor (model default if omitted).")
@click.option("--weights", "weights_file", type=click.Path(path_type=Path), default=None)
@click.option("--no-post-process", is_flag=True, help="Keep the model's own luminance.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def colorize(inputs, model_name, render_factor, weights_file, no_post_process, precision, device, batch_size,
             out_dir) -> None:
    """Colorize image files or folders, writing one PNG per input under --out."""
    from harness.colorize_files import colorize_paths
    from harness.experiment import resolve_device
    from harness.models.registry import build_model, get_model_class

    params = {k: v for k, v in {"render_factor": render_factor, "weights": weights_file,
                                "precision": precision}.items() if v is not None}
    if no_post_process:
        params["post_process"] = False
    cls = get_model_class(model_name)
    cls.preflight(cls.Params.model_validate(params))
    model = build_model(model_name, params, resolve_device(device))
    report = colorize_paths(list(inputs), out_dir, model, batch_size=batch_size)
    for src, reason in report.skipped:
        click.echo(f"skipped {src}: {reason}", err=True)
    click.echo(f"{len(report.written)} image(s) written to {out_dir}, {len(report.skipped)} skipped.")


@cli.command("bench")
@click.option("--model", "model_name", default="deoldify-artistic", show_default=True)
@click.option("--render-factor", type=int, default=35, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--images", type=int, default=8, show_default=True)
@click.option("--rounds", type=int, default=2, show_default=True, help="Timed rounds per side (best is kept).")
@click.option("--device", default="auto", show_default=True)
@click.option("--vs-upstream", is_flag=True, help="Also time upstream's one-image ColorizerFilter loop (fp32, same device).")
def bench_command(model_name, render_factor, batch_size, precision, images, rounds, device, vs_upstream) -> None:
    """Images/s of the DeOldify engine (end to end and model only), TFLOP/s, and the ratio to upstream."""
    from harness.bench import bench

    bench(model_name, render_factor, batch_size, precision, images, vs_upstream, device, rounds)


@cli.group()
def data() -> None:
    """Prepare and download datasets."""


@data.command("prepare")
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), help="Prepare the dataset (every split) of this spec.")
@click.option("--images", type=click.Path(path_type=Path), help="A folder of colour photos (or COCO images).")
@click.option("--annotations", type=click.Path(path_type=Path), help="COCO instances JSON for --images.")
@click.option("--split", default=None, help="Split name recorded in the manifest (with --images).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--progress/--no-progress", default=True)
def data_prepare(spec_path, images, annotations, split, out, progress) -> None:
    """Write color/ (originals), gray/ (luma PNGs) and manifest.csv under --out; re-runs skip finished files."""
    from harness.data import build_dataset
    from harness.data.prepare import prepare

    if (spec_path is None) == (images is None):
        raise HarnessError("Give either --spec SPEC or --images DIR.", hint="See `harness data prepare --help`.")
    if spec_path is not None:
        from harness.spec import load_spec

        spec = load_spec(spec_path).spec
        splits = list(spec.dataset.splits) if spec.dataset.source == "coco" else [None]
        datasets = [build_dataset(spec.dataset, s) for s in splits]
    elif annotations is not None:
        from harness.spec import CocoData, CocoSplit

        name = split or "all"
        datasets = [build_dataset(CocoData(source="coco", images=images, annotations=annotations,
                                           splits={name: CocoSplit()}), name)]
    else:
        from harness.spec import FolderData

        ds = build_dataset(FolderData(source="folder", path=images))
        ds.split = split
        datasets = [ds]
    counts = prepare(datasets, out, progress=progress)
    click.echo(f"{out}: {counts['written']} written, {counts['skipped']} already done, {counts['failed']} failed "
               f"(see manifest.csv).")


@data.group("download")
def data_download() -> None:
    """Download public datasets."""


@data_download.command("coco")
@click.option("--split", type=click.Choice(["val2017", "train2017"]), default="val2017", show_default=True)
@click.option("--annotations", is_flag=True, help="Also fetch annotations_trainval2017.zip.")
@click.option("--ids", default=None, help="Comma-separated image ids: fetch only these images (by coco_url).")
@click.option("--limit", type=int, default=None, help="Fetch only a seeded sample of this many images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dest", type=click.Path(path_type=Path), default=Path("data/coco"), show_default=True)
def data_download_coco(split, annotations, ids, limit, seed, dest) -> None:
    """COCO 2017 images (whole archive or a subset) and annotations, resumable and checksum-verified."""
    from harness.data.coco_download import download_coco

    id_list = None
    if ids:
        try:
            id_list = [int(x) for x in ids.split(",") if x.strip()]
        except ValueError:
            raise HarnessError(f"--ids must be comma-separated integers, got '{ids}'.") from None
    counts = download_coco(split, dest, annotations=annotations, ids=id_list, limit=limit, seed=seed)
    click.echo(f"{dest}: {counts['images']} image file(s), {counts['annotation_files']} annotation file(s) "
               f"extracted or fetched.")


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
    except Exception as exc:  # noqa: BLE001
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}\nRe-run with --debug for the traceback "
                   f"and report it.", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
