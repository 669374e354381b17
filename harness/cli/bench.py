"""`harness bench`: a model's speed (and the GPU suite), as docs/benchmarks.md reports it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.options import SET_HELP
from harness.cli.options import settings as _settings


@click.command("bench")
@click.option("--model", "model_name", default="deoldify-artistic", show_default=True)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--batch-size", type=int, default=4, show_default=True, help="Images per forward pass, as in a spec.")
@click.option("--images", type=int, default=8, show_default=True)
@click.option("--rounds", type=int, default=2, show_default=True, help="Timed rounds per side (best is kept).")
@click.option("--device", default="auto", show_default=True)
@click.option("--vs-upstream", is_flag=True, help="Also time the upstream reference's one-image loop (same device).")
@click.option("--suite", type=click.Choice(["gpu"]), default=None,
              help="Every figure docs/benchmarks.md asks of a GPU, in one run of at most ~7 minutes (needs --out).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="With --suite: the folder for bench.json and bench.md.")
@click.option("--dry-run", is_flag=True, help="With --suite: print its steps and their time budgets, then exit.")
def bench_command(model_name, settings, batch_size, images, rounds, device, vs_upstream, suite, out_dir,
                  dry_run) -> None:
    """Images/s of a model (end to end and model only), TFLOP/s, and the ratio to upstream."""
    if suite or dry_run:
        from harness.tools.suite import suite_command

        sys.exit(suite_command(suite, out_dir, dry_run, device))
    from harness.tools.bench import bench

    bench(model_name, _settings(settings), batch_size, images, vs_upstream, device, rounds)
