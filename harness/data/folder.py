"""A directory of colour photos as ground truth.

Every regular, non-hidden file is a candidate: one that is not a readable image becomes a
`failed:` row instead of vanishing, so a report always accounts for every file. A symlink
counts as the file it points to; a dangling one is a `failed:missing` row. A FIFO, a device or a
socket is a `failed:not_a_file` row (listed, never opened for reading, so it cannot block the run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.base import Dataset, Sample, file_identity, select
from harness.data.images import decode_rgb
from harness.errors import HarnessError
from harness.gray import to_gray

_SKIP = {"thumbs.db", "desktop.ini"}


def _candidates(root: Path, recursive: bool) -> list[Path]:
    walker = root.rglob("*") if recursive else root.glob("*")
    files = []
    for path in walker:
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.lower() in _SKIP:
            continue
        if path.is_file() or (path.is_symlink() and not path.exists()):  # a dangling link is still an entry
            files.append(path)
        elif path.exists() and not path.is_dir():  # a FIFO, device or socket: a failed row, never read
            files.append(path)
    return files


def _as_gray_rgb(path: Path) -> np.ndarray:
    """A scan without a colour original: its luma (what the model gets) as RGB, the stand-in truth that
    reference-free scores ignore (its colourfulness is 0)."""
    return np.repeat(to_gray(decode_rgb(path))[..., None], 3, axis=2)


def build(path: Path, *, recursive: bool = True, limit: int | None = None, seed: int = 0,
          reference: bool = True) -> Dataset:
    """The folder's files as samples; `reference=False`: scans without ground truth (`ground_truth: none`)."""
    root = Path(path).expanduser()
    if not root.exists():
        raise HarnessError(f"Dataset folder '{root}' does not exist.",
                           hint="Fix dataset.path in the spec (relative paths start at the working directory).")
    if not root.is_dir():
        raise HarnessError(f"Dataset path '{root}' is not a directory.", hint="Point dataset.path at a folder of photos.")
    files = {p.relative_to(root).as_posix(): p for p in _candidates(root, recursive)}
    if not files:
        raise HarnessError(f"Dataset folder '{root}' contains no files.",
                           hint="Put colour photos (JPEG, PNG, ...) in it or fix dataset.path.")
    ids = select(list(files), limit, seed)
    load = decode_rgb if reference else _as_gray_rgb
    samples = [Sample(id=i, loader=(lambda p=files[i]: load(p)), path=str(files[i]), reference=reference) for i in ids]
    info = {"source": "folder", "path": str(root.resolve()), "limit": limit, "seed": seed, "size": len(samples)}
    items = [file_identity(files[i], root) for i in ids]
    if not reference:  # other numbers from the same files: another identity (a colour folder's is unchanged)
        info["ground_truth"] = "none"
        items = [{"ground_truth": "none"}, *items]
    return Dataset(name=root.resolve().name, source="folder", samples=samples, info=info, fingerprint_items=items)
