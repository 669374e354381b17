"""`harness data prepare`: the preprocessing step of a colorization study, made reproducible.

Writes `color/` (the originals, unchanged bytes; bundled samples as PNG), `gray/`
(ITU-R 601 luma PNGs, exactly the model input the harness derives) and `manifest.csv`
(id, file, size, split, is_grayscale, sha256). Every file is written to a temporary name
and renamed, and each finished image is journaled, so an interrupted run loses nothing
and a re-run skips what is done. Writes go to a fresh temporary file and are renamed into place, so
a symlink planted under `--out` is replaced, never written through. Images whose gray files would
share a name (`img.jpg` and `img.png`) get distinct ones (`gray/img.jpg.png`), counted as
`renamed`; an `--out` that is the images folder or inside it is refused.

With a degradation (`--degradation NAME --severity S`) the gray inputs are the degraded ones a
run gives the model (`harness.data.degrade`: the same image id and seed give the same bytes),
written to `gray_NAME_S/` beside the clean `gray/`, and manifest.csv's gray_file names them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.base import Dataset, Sample
from harness.data.degrade import degrade, get_degradation
from harness.data.images import is_grayscale
from harness.errors import ImageError
from harness.gray import to_gray
from harness.paths import distinct_names, inside_output, refuse_output_in_inputs, temp_beside, write_atomic

FIELDS = ["id", "file", "gray_file", "width", "height", "size", "split", "is_grayscale", "sha256", "status"]
JOURNAL = "manifest.partial.jsonl"


def _atomic_write(out: Path, rel: str, data: bytes) -> None:
    write_atomic(inside_output(out, rel), data)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _relative_name(sample: Sample, dataset: Dataset) -> str:
    if sample.path and dataset.source in ("folder", "coco"):
        root = Path(dataset.info["path"])
        try:
            path = Path(sample.path)  # its folder resolved, not a link it is (a dataset of links keeps its names)
            return (path.parent.resolve() / path.name).relative_to(root).as_posix()
        except ValueError:
            return Path(sample.path).name
    return f"{sample.id}.png"


def gray_folder(degradation: tuple[str, int] | None) -> str:
    """Where the gray inputs go: `gray`, or `gray_NAME_S` for a degradation at severity S."""
    return "gray" if degradation is None else f"gray_{degradation[0]}_{degradation[1]}"


def _prepare_one(sample: Sample, dataset: Dataset, out: Path, names: tuple[str, str],
                 degradation: tuple[str, int] | None = None, seed: int = 0) -> dict:
    name, gray_name = names  # color/ and gray/ names, distinct across the datasets prepared together
    row = {"id": sample.id, "file": f"color/{name}", "gray_file": f"{gray_folder(degradation)}/{gray_name}"}
    try:
        rgb = sample.load()
    except ImageError as exc:
        return {**row, "status": f"failed:{exc.reason}"}
    if sample.path and dataset.source in ("folder", "coco"):
        data = Path(sample.path).read_bytes()
    else:
        data = _png(rgb)
    gray = to_gray(rgb)
    if degradation is not None:
        gray = degrade(gray, sample.id, degradation[0], degradation[1], seed)
    _atomic_write(out, row["gray_file"], _png(gray))
    _atomic_write(out, f"color/{name}", data)  # written last: its presence marks the image done
    return {**row, "width": rgb.shape[1], "height": rgb.shape[0], "size": len(data),
            "is_grayscale": bool(is_grayscale(rgb)), "sha256": hashlib.sha256(data).hexdigest(), "status": "ok"}


def _read_journal(out: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    for path in (out / "manifest.csv", out / JOURNAL):
        if not path.exists():
            continue
        if path.suffix == ".csv":
            with path.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    row["split"] = row.get("split", "")
                    done[row["id"]] = row
        else:
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: redo that image
                    continue
                done[row["id"]] = row
    return done


def prepare(datasets: Iterable[Dataset], out: Path, *, progress: bool = True,
            degradation: tuple[str, int] | None = None, seed: int = 0) -> dict[str, int]:
    """Prepare every image of `datasets` under `out` (gray inputs degraded by `degradation`, (name, severity),
    with `seed`, when given); returns counts of written, skipped and failed."""
    from tqdm.auto import tqdm

    datasets = list(datasets)
    if degradation is not None:
        get_degradation(degradation[0])  # an unknown name fails before anything is written
    refuse_output_in_inputs(out, [Path(d.info["path"]) for d in datasets if d.source in ("folder", "coco")])
    out.mkdir(parents=True, exist_ok=True)
    done = _read_journal(out)
    splits: dict[str, list[str]] = {}
    order: list[tuple[Sample, Dataset]] = []
    for dataset in datasets:
        for sample in dataset.samples:
            if sample.id not in splits:
                order.append((sample, dataset))
            splits.setdefault(sample.id, [])
            if dataset.split and dataset.split not in splits[sample.id]:
                splits[sample.id].append(dataset.split)
    names = [Path(_relative_name(sample, dataset)) for sample, dataset in order]
    colors = distinct_names(names, [None] * len(names))  # a link's basename can repeat another file's
    grays = distinct_names(names, [".png"] * len(names))
    counts = {"written": 0, "skipped": 0, "failed": 0}
    renamed = sum(g != n.with_suffix(".png") or c != n for c, g, n in zip(colors, grays, names))
    if renamed:  # said by the command, and listed in manifest.csv's gray_file
        counts["renamed"] = renamed
    rows = []
    if (out / JOURNAL).is_symlink():
        (out / JOURNAL).unlink()  # appended to, so never through a planted link
    with (out / JOURNAL).open("a") as journal:
        for (sample, dataset), color, gray in tqdm(list(zip(order, colors, grays)), desc="prepare", unit="img",
                                                   disable=not progress):
            row = done.get(sample.id)
            wanted = f"{gray_folder(degradation)}/{gray.as_posix()}"
            if row and row.get("status") == "ok" and row.get("gray_file") == wanted and (out / row["file"]).exists() \
                    and (out / wanted).exists():
                counts["skipped"] += 1
            else:
                row = _prepare_one(sample, dataset, out, (color.as_posix(), gray.as_posix()), degradation, seed)
                counts["written" if row["status"] == "ok" else "failed"] += 1
                journal.write(json.dumps(row) + "\n")
                journal.flush()
            rows.append({**row, "split": ";".join(splits[sample.id])})
    tmp = temp_beside(out / "manifest.csv")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "manifest.csv")
    (out / JOURNAL).unlink(missing_ok=True)
    return counts
