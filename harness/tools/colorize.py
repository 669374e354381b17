"""`harness colorize`: batch-colorize files and folders with any registered model.

Writes one PNG per input image under the same relative name in the output folder, and a
colorized copy of each film (mp4, mkv, avi, mov, webm; `harness.tools.films`) under its
own name. A file that cannot be read is skipped and reported; nothing else stops the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.images import decode_rgb
from harness.errors import HarnessError, ImageError
from harness.gray import to_gray
from harness.pipeline.process import colorize_safely


@dataclass
class ColorizeReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a film's copy did differently (container, failed frames)


def is_film(path: Path) -> bool:
    from harness.data.video_decode import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES


def _inputs(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file, relative output name) for every file given or found under a folder given."""
    found: list[tuple[Path, Path]] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    found.append((f, f.relative_to(p)))
        elif p.exists():
            found.append((p, Path(p.name)))
        else:
            raise HarnessError(f"Input '{p}' does not exist.", hint="Give image files or folders of images.")
    return found


def colorize_paths(inputs: Sequence[Path], out_dir: Path, model, *, batch_size: int = 8,
                   progress: bool = True) -> ColorizeReport:
    """Colorize every readable image under `inputs` into `out_dir` as PNG."""
    from tqdm.auto import tqdm

    report = ColorizeReport()
    items = _inputs(inputs)
    if not items:
        raise HarnessError(f"No files to colorize in {', '.join(str(p) for p in inputs)}.",
                           hint="Give image files, or folders that contain some.")
    films = [(src, rel) for src, rel in items if is_film(src)]
    items = [(src, rel) for src, rel in items if not is_film(src)]
    for src, rel in films:
        _film(src, out_dir / rel, model, batch_size, progress, report)
    for start in tqdm(range(0, len(items), batch_size), desc="colorize", unit="batch",
                      disable=not progress or not items):
        grays, targets = [], []
        for src, rel in items[start:start + batch_size]:
            try:
                grays.append(to_gray(decode_rgb(src)))
                targets.append((src, out_dir / rel.with_suffix(".png")))
            except ImageError as exc:
                report.skipped.append((src, exc.reason))
        for (src, dest), out in zip(targets, colorize_safely(model, grays) if grays else []):
            if isinstance(out, ImageError):
                report.skipped.append((src, out.reason))
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(out), "RGB").save(dest)
            report.written.append(dest)
    return report


def _film(src: Path, dest: Path, model, batch_size: int, progress: bool, report: ColorizeReport) -> None:
    from harness.tools.films import colorize_film

    try:
        film = colorize_film(src, dest, model, batch_size=batch_size, progress=progress)
    except HarnessError as exc:
        report.skipped.append((src, exc.message))
        return
    report.written.append(film.output)
    if film.note:
        report.notes.append(f"{src}: {film.note}")
    if film.failed:
        report.notes.append(f"{src}: the model failed on {film.failed} of {film.frames} frames, written gray")
