"""`harness weights` and `harness data`: the commands that fetch and prepare what runs need.

Parsing only; each command calls the module that does the work. `harness.cli` attaches
these groups to the main command.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import HarnessError


@click.group()
def weights() -> None:
    """Official weights files: list, check, fetch, locate."""


@weights.command("list")
def weights_list() -> None:
    """The official files with their URLs."""
    from harness.assets.weights import mirrored
    from harness.tools.catalog import weights_files

    for name, item in weights_files().items():
        item = mirrored(item)
        size = f"{item.size:,} bytes" if item.size else "size unknown"
        click.echo(f"{name}: {item.filename} ({size}, sha256 {item.sha256 or 'unknown'}; from {item.source})")
        for url in item.urls:
            click.echo(f"    {url}")


@weights.command("status")
def weights_status() -> None:
    """Which official files are cached, and whether their sha256 matches the expected one."""
    from harness.assets.weights import cache_dir, status
    from harness.tools.catalog import weights_files

    click.echo(f"cache: {cache_dir()}")
    for name, item in weights_files().items():
        row = status(item)
        state = f"cached, sha256 {row['sha256']}" if row["cached"] else "not cached"
        if row["sha256"] == "MISMATCH":
            state += f" (actual {row['sha256_actual']}, expected {item.sha256}: delete it and fetch again)"
        click.echo(f"{name}: {row['filename']} {state}")


@weights.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download again even if cached.")
def weights_fetch(names: tuple[str, ...], force: bool) -> None:
    """Download the official weights NAME... (see `harness weights list`) into the cache, resumable and
    checksum verified."""
    from harness.assets.weights import fetch
    from harness.tools.catalog import weights_file

    files = [weights_file(name) for name in names]  # every name checked before any download
    for item in files:
        click.echo(str(fetch(item, force=force)))


@weights.command("path")
@click.argument("name")
def weights_path(name: str) -> None:
    """Where NAME's weights are (or will be) cached."""
    from harness.assets.weights import cached_path
    from harness.tools.catalog import weights_file

    click.echo(str(cached_path(weights_file(name))))


@click.group()
def reference() -> None:
    """The upstream code the parity tests compare the models with: fetch (pinned, verified), status."""


@reference.command("fetch")
@click.option("--dest", type=click.Path(path_type=Path), default=None,
              help="Folder (default: the checkout's .reference/, where the tests look).")
def reference_fetch(dest) -> None:
    """Download Zhang et al.'s and DDColor's upstream files at their pinned commits, checking each git blob id."""
    from harness.tools.upstream import fetch, reference

    dest = dest or reference.CHECKOUT / ".reference"
    written = fetch.fetch(dest)
    click.echo(f"{dest}: {len(written)} file(s) fetched, {len(fetch.MANIFEST) - len(written)} already there, all "
               f"verified. Point the tests elsewhere with HARNESS_REFERENCE_DIR={dest} if that is not the default.")


@reference.command("status")
@click.option("--dest", type=click.Path(path_type=Path), default=None, help="Folder (default: where the tests look).")
def reference_status(dest) -> None:
    """Each upstream file: ok, missing, or DIFFERS from the pinned commit."""
    from harness.tools.upstream import fetch, reference

    dest = dest or reference.reference_dir()
    click.echo(f"reference folder: {dest}")
    for item, state in fetch.status(dest):
        click.echo(f"  {item.dest}: {state} ({item.repo[0]}@{item.repo[1][:8]}:{item.path})")


@click.group()
def data() -> None:
    """Prepare and download datasets."""


@data.command("prepare")
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), help="Prepare the dataset (every split) of this spec.")
@click.option("--images", type=click.Path(path_type=Path), help="A folder of colour photos (or COCO images).")
@click.option("--annotations", type=click.Path(path_type=Path), help="COCO instances JSON for --images.")
@click.option("--split", default=None, help="Split name recorded in the manifest (with --images).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--degradation", default=None, help="Degrade the gray inputs (a name of docs/spec.md's catalogue); "
              "they go to gray_NAME_S/.")
@click.option("--severity", type=click.IntRange(1, 5), default=None, help="Severity 1..5 of --degradation.")
@click.option("--seed", type=int, default=None, help="Degradation seed (default: the spec's dataset seed, else 0).")
@click.option("--progress/--no-progress", default=True)
def data_prepare(spec_path, images, annotations, split, out, degradation, severity, seed, progress) -> None:
    """Write color/ (originals), gray/ (luma PNGs) and manifest.csv under --out; re-runs skip finished files.
    With --degradation and --severity, the degraded gray inputs a run gives the model, for inspection."""
    from harness.data import build_dataset
    from harness.data.prepare import prepare

    if (spec_path is None) == (images is None):
        raise HarnessError("Give either --spec SPEC or --images DIR.", hint="See `harness data prepare --help`.")
    if (degradation is None) != (severity is None) or degradation == "none":
        raise HarnessError("Give --degradation NAME and --severity S (1..5) together.",
                           hint="The clean gray inputs are written without either.")
    if spec_path is not None:
        from harness.sweep.points import load_spec

        spec = load_spec(spec_path).spec
        seed = getattr(spec.dataset, "seed", 0) if seed is None else seed
        splits = list(spec.dataset.splits) if spec.dataset.source == "coco" else [None]
        datasets = [build_dataset(spec.dataset, s) for s in splits]
    elif annotations is not None:
        from harness.config.schema import CocoData, CocoSplit

        name = split or "all"
        datasets = [build_dataset(CocoData(source="coco", images=images, annotations=annotations,
                                           splits={name: CocoSplit()}), name)]
    else:
        from harness.config.schema import FolderData

        ds = build_dataset(FolderData(source="folder", path=images))
        ds.split = split
        datasets = [ds]
    degraded = None if degradation is None else (degradation, severity)
    counts = prepare(datasets, out, progress=progress, degradation=degraded, seed=seed or 0)
    renamed = (f", {counts['renamed']} gray file(s) named with their source's extension (img.jpg.png) because "
               f"another image has the same name" if counts.get("renamed") else "")
    click.echo(f"{out}: {counts['written']} written, {counts['skipped']} already done, {counts['failed']} failed"
               f"{renamed} (see manifest.csv).")


@data.command("sample")
@click.option("--dest", type=click.Path(path_type=Path), default=Path("data/sample"), show_default=True)
def data_sample(dest) -> None:
    """Write small sample datasets from scikit-image's bundled photos: a COCO-format folder and a clip."""
    from harness.data.sample_data import write_samples

    written = write_samples(dest)
    click.echo(f"{dest}: COCO-format sample in {written['coco'].parent}, clip {written['video']} (from the photos "
               f"bundled with scikit-image; for trying the harness, not for numbers to publish).")


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
