"""`harness colorize`: batch-colorize files and folders with any registered model.

Writes one PNG per input image under the same relative name in the output folder, and a
colorized copy of each film (mp4, mkv, avi, mov, webm; `harness.tools.films`) under its
own name. A file that cannot be read (not an image, over the pixel budget, a FIFO or other
non-regular file, a film that stops decoding) is skipped and listed; nothing else stops the batch.

Outputs never overwrite each other or an input: inputs that would share an output name
(`img.jpg` and `img.png`, or two inputs with one base name) get distinct names (the source's
extension kept, `img.jpg.png`, then `~2`, `~3`) and each renaming is reported; an `--out`
that is an input folder or inside one is refused. Every file is written to a temporary file in
its folder and renamed into place, so a symlink planted in the output folder is replaced, never
written through, and no half-written file is left behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.images import decode_rgb
from harness.errors import HarnessError, ImageError
from harness.gray import to_gray
from harness.paths import (
    OutsideRoot,
    distinct_names,
    inside_output,
    non_regular,
    refuse_output_in_inputs,
    refuse_overwriting,
    write_atomic,
)
from harness.pipeline.process import colorize_safely


@dataclass
class ColorizeReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a film's copy did differently; renamed outputs


def is_film(path: Path) -> bool:
    from harness.data.video_decode import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES


def _not_regular(path: Path, kind: str) -> str:
    return f"not_a_file ({path} is a {kind}; only regular files are read)"


def _inputs(paths: Sequence[Path], report: ColorizeReport) -> list[tuple[Path, Path]]:
    """(file, relative output name) for every file given or found under a folder given; a FIFO,
    device or socket (given or found) is listed as skipped, never opened."""
    found: list[tuple[Path, Path]] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if any(part.startswith(".") for part in f.relative_to(p).parts) or f.is_dir():
                    continue
                if f.is_file():
                    found.append((f, f.relative_to(p)))
                elif f.is_symlink() and not f.exists():
                    report.skipped.append((f, f"missing (a link to {f.readlink()}, which does not exist)"))
                elif kind := non_regular(f):
                    report.skipped.append((f, _not_regular(f, kind)))
        elif p.exists():
            kind = non_regular(p)
            if kind is not None:
                report.skipped.append((p, _not_regular(p, kind)))
            else:
                found.append((p, Path(p.name)))
        else:
            raise HarnessError(f"Input '{p}' does not exist.", hint="Give image files or folders of images.")
    return found


def output_names(items: Sequence[tuple[Path, Path]]) -> tuple[list[Path], list[str]]:
    """The output name of each (source, relative name), distinct (`harness.paths.distinct_names`), and a
    note for each one renamed."""
    suffixes = [None if is_film(src) else ".png" for src, _ in items]
    names = distinct_names([rel for _, rel in items], suffixes)
    wanted = [rel if suffix is None else rel.with_suffix(suffix) for (_, rel), suffix in zip(items, suffixes)]
    notes = []
    for (src, _), name, want in zip(items, names, wanted):
        if name != want:
            others = [str(s) for (s, _), w in zip(items, wanted) if w.as_posix().lower() == want.as_posix().lower()
                      and s != src]
            notes.append(f"{src}: written as {name.as_posix()} ({want.as_posix()} is also the output name of "
                         f"{', '.join(others) or 'another input'})")
    return names, notes


def _why(exc: ImageError) -> str:
    return f"{exc.reason} ({exc.detail})" if exc.detail and exc.reason in ("too_large", "not_a_file") else exc.reason


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def colorize_paths(inputs: Sequence[Path], out_dir: Path, model, *, batch_size: int = 8,
                   progress: bool = True) -> ColorizeReport:
    """Colorize every readable image under `inputs` into `out_dir` as PNG (see the module docstring)."""
    from tqdm.auto import tqdm

    report = ColorizeReport()
    refuse_output_in_inputs(out_dir, inputs)
    found = _inputs(inputs, report)
    if not found and not report.skipped:
        raise HarnessError(f"No files to colorize in {', '.join(str(p) for p in inputs)}.",
                           hint="Give image files, or folders that contain some.")
    names, report.notes = output_names(found)
    items = []
    for (src, _), name in zip(found, names):
        try:
            dest = inside_output(out_dir, name)
        except OutsideRoot as exc:
            report.skipped.append((src, f"output {exc}"))
            continue
        refuse_overwriting(src, dest)
        items.append((src, dest))
    for src, dest in [(s, d) for s, d in items if is_film(s)]:
        _film(src, dest, model, batch_size, progress, report, taken={d for _, d in items})
    items = [(src, dest) for src, dest in items if not is_film(src)]
    for start in tqdm(range(0, len(items), batch_size), desc="colorize", unit="batch",
                      disable=not progress or not items):
        grays, targets = [], []
        for src, dest in items[start:start + batch_size]:
            try:
                grays.append(to_gray(decode_rgb(src)))
                targets.append((src, dest))
            except ImageError as exc:
                report.skipped.append((src, _why(exc)))
        for (src, dest), out in zip(targets, colorize_safely(model, grays) if grays else []):
            if isinstance(out, ImageError):
                report.skipped.append((src, out.reason))
                continue
            report.written.append(write_atomic(dest, _png(out)))
    return report


def _film(src: Path, dest: Path, model, batch_size: int, progress: bool, report: ColorizeReport, *,
          taken: set[Path]) -> None:
    from harness.tools.films import colorize_film

    try:
        film = colorize_film(src, dest, model, batch_size=batch_size, progress=progress, taken=taken)
    except HarnessError as exc:
        report.skipped.append((src, exc.message))
        return
    report.written.append(film.output)
    if film.note:
        report.notes.append(f"{src}: {film.note}")
    if film.failed:
        report.notes.append(f"{src}: the model failed on {film.failed} of {film.frames} frames, written gray")
