"""What every dataset source yields: an ordered list of samples, a fingerprint, reporting hooks.

A `Sample` loads its ground truth on demand, so a dataset of any size costs memory only
for the images in flight. The fingerprint identifies the exact selection of images; the
resume logic uses it to tell a finished run on the same data from one on other data. A
source with more to say than the per-image metrics (COCO: scores inside object masks, a
breakdown per category) supplies a `Reporter`; the runner calls its hooks without knowing
which source it is.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ImageError


@dataclass(frozen=True)
class Sample:
    """One ground-truth image: an id, where it comes from, and how to load it.

    Samples with the same `group` (the frames of one video clip) are consecutive in a
    dataset and are never cut apart when work is divided (shards, workers): a reporter that
    looks at neighbouring samples (temporal metrics) sees a whole group, in order, in one place.
    """

    id: str
    loader: Callable[[], np.ndarray] = field(repr=False, compare=False)
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    group: str | None = None
    reference: bool = True  # False: a scan with no colour original; it loads as its gray input in RGB

    def load(self) -> np.ndarray:
        """H x W x 3 uint8 RGB, or `ImageError` with the reason."""
        try:
            return self.loader()
        except ImageError:
            raise
        except MemoryError:
            raise ImageError("too_large", self.path or self.id) from None
        except Exception as exc:  # a bad image never kills a run
            raise ImageError("unreadable", f"{self.path or self.id}: {type(exc).__name__}: {exc}") from None


@dataclass
class Report:
    """What a dataset's reporter adds to a finished run: summary keys, tables and figures."""

    summary: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)  # artifact file name -> pandas DataFrame (CSV)
    figures: dict[str, Any] = field(default_factory=dict)  # artifact path -> matplotlib Figure (PNG)
    #: artifact path -> a local file of the same name; files a reporter writes come in a `TempFiles`,
    #: which keeps their folder as long as the mapping lives (the runner hands the mapping on as it is)
    files: dict[str, Path] = field(default_factory=dict)


class TempFiles(dict):
    """Artifact path -> local file, the files in a temporary folder that lives as long as this mapping."""

    def __init__(self, prefix: str = "harness-"):
        super().__init__()
        self._folder = tempfile.TemporaryDirectory(prefix=prefix)  # removed when garbage collected

    @property
    def folder(self) -> Path:
        return Path(self._folder.name)


class Reporter:
    """Dataset-specific reporting, called by the runner for every dataset; the default adds nothing.

    `describe` and `score` depend on the sample alone, never on the split: the splits of one
    source share their rows (a model setting scores the union of its splits once), and a
    split's own reporter then `report`s over that split's rows."""

    #: identity columns this reporter adds to every row, placed before the scores
    columns: tuple[str, ...] = ()
    #: per-row values `score` writes for `report` to aggregate: not scores of their own (no
    #: distribution plot); the summary statistics come from `report`
    detail_columns: tuple[str, ...] = ()

    def describe(self, sample: Sample) -> dict[str, Any]:
        """Values of `columns` for one sample."""
        return {}

    def score(self, sample: Sample, gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
        """Extra per-image scores of a colorized sample (COCO: inside and outside the object masks).

        Called once per scored sample, in dataset order within a sample's `group`, from one
        thread at a time; a reporter may keep state across the samples of a group."""
        return {}

    def report(self, rows: Any, *, seed: int = 0) -> Report:
        """Extra run-level results from the finished per-image table (COCO: per-category breakdown)."""
        return Report()

    def grid_ids(self, rows: Any, count: int) -> list[tuple[str, str]] | None:
        """(sample id, tag) of the samples the sample grid shows; None for the default
        (best, median and worst by PSNR)."""
        return None

    def render(self, rows: Any, colorize: Callable[[list[np.ndarray]], list], *, batch_size: int = 8) -> Report:
        """Pictures that need the model again, made where the sample grid is made (video: side-by-side
        clips). `colorize` runs the model on a list of gray images (a failed one comes back as an
        `ImageError`), `batch_size` at a time."""
        return Report()


@dataclass
class Dataset:
    """An ordered selection of samples from one source (and split)."""

    name: str
    source: str
    samples: list[Sample]
    info: dict[str, Any]  # logged as run params (source, path, size, seed, limit ...)
    split: str | None = None
    fingerprint_items: list[Any] = field(default_factory=list, repr=False)
    reporter: Reporter = field(default_factory=Reporter, repr=False)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def fingerprint(self) -> str:
        """sha256 over the source, split and every selected item's identity."""
        blob = json.dumps([self.source, self.split, self.fingerprint_items], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def union(datasets: Sequence[Dataset]) -> Dataset:
    """One dataset holding every sample of `datasets` once, in the order they first appear (the
    splits of one source share their samples' ids), scored with the first one's reporter."""
    if len(datasets) == 1:
        return datasets[0]
    seen: dict[str, Sample] = {}
    for dataset in datasets:
        for sample in dataset.samples:
            seen.setdefault(sample.id, sample)
    first = datasets[0]
    return Dataset(first.name, first.source, list(seen.values()), dict(first.info),
                   "+".join(str(d.split) for d in datasets), [d.fingerprint for d in datasets], first.reporter)


def select(ids: Sequence[str], limit: int | None, seed: int) -> list[str]:
    """Deterministic subset: sort, draw `limit` with `seed`, return sorted."""
    ordered = sorted(ids)
    if limit is None or limit >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, limit))


def file_identity(path: Path, root: Path) -> list[Any]:
    """What identifies a file's content cheaply: relative path, size, mtime."""
    try:
        st = path.stat()
        return [path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns]
    except OSError:
        return [path.relative_to(root).as_posix(), None, None]
