"""`harness study create`: a study over finished points of a sweep, from the thumbnails they kept.

The images are the points' own `report/thumbs.zip` (the outputs that were scored, not a second
colorization). A preference study has one trial per image and pair of points; a real-or-fake study
one per image and point, against the truth. Trials come in seeded rounds that each hold every pair
once (so any prefix a capped rater sees is balanced), and each trial's sides are drawn with the seed too.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.errors import HarnessError, did_you_mean
from harness.pipeline.thumbs import unpack
from harness.study.store import TRUTH, Study, Trial, studies_folder, write_study
from harness.tracking import layout
from harness.tracking.client import Tracker
from harness.tracking.runs import load_sweep

KINDS = ("preference", "real-or-fake")
MIN_IMAGES = 2


@dataclass(frozen=True)
class StudyRequest:
    points: list[str]
    images: int | None = None
    kind: str = "preference"
    seed: int = 0
    cap: int | None = None


def _pick_points(runs: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    labels = [str(x) for x in runs["label"]] if not runs.empty else []
    for name in wanted:
        if name not in labels:
            raise HarnessError(f"The sweep has no finished point '{name}'.{did_you_mean(name, labels)}",
                               hint=f"Its points: {', '.join(labels) or 'none'} (give them to --points, comma-separated).")
    if len(set(wanted)) != len(wanted):
        raise HarnessError("--points names a point twice.", hint="Give each point once.")
    return runs.set_index(runs["label"].astype(str)).loc[wanted]


def _thumbs(tracker: Tracker, points: pd.DataFrame) -> dict[str, dict[str, dict[str, bytes]]]:
    """label -> image id -> {gray, output, truth} of the images that point kept with an output."""
    out = {}
    for label, run in points.iterrows():
        packed = tracker.read_bytes(str(run["run_id"]), layout.THUMBS)
        if not packed:
            raise HarnessError(f"Point '{label}' kept no thumbnails (report/thumbs.zip), so it has no images to judge.",
                               hint="Run the sweep with the spec's report.images above 0 (the default keeps 200), "
                                    "with --force when its runs predate reports.")
        out[label] = {i: t for i, t in unpack(packed).items() if {"gray", "output", "truth"} <= set(t)}
    return out


def _trials(labels: list[str], ids: list[str], kind: str, rng: np.random.Generator) -> list[Trial]:
    """Every (image, pair) once, in rounds: round k shows each pair once, pair p on the shuffled images'
    (k + p)-th (a Latin square, so a round spreads over images), the pairs in a fresh random order each
    round. Any first m rounds are balanced over pairs, which is what a rater stopped by the cap sees."""
    pairs = list(itertools.combinations(labels, 2)) if kind == "preference" else [(p, TRUTH) for p in labels]
    images = [ids[n] for n in rng.permutation(len(ids))]
    cells = []
    for k in range(len(images)):
        for p in rng.permutation(len(pairs)):
            cells.append((images[(k + int(p)) % len(images)], *pairs[int(p)]))
    trials = []
    for position, (image_id, a, b) in enumerate(cells):  # a trial's id is its place: it says nothing of its pair
        left, right = (a, b) if rng.random() < 0.5 else (b, a)
        trials.append(Trial(id=position + 1, position=position, image_id=image_id, left=left, right=right))
    return trials


def create_study(tracker: Tracker, request: StudyRequest, sweep_id: str | None = None) -> Study:
    """Build and store the study; its id says what it is and is the same for the same request."""
    if request.kind not in KINDS:
        raise HarnessError(f"Unknown study kind '{request.kind}'.", hint=f"Known kinds: {', '.join(KINDS)}.")
    need = 2 if request.kind == "preference" else 1
    if len(request.points) < need:
        raise HarnessError(f"A {request.kind} study needs at least {need} point(s) in --points.",
                           hint="Give point labels as `harness compare` prints them, comma-separated.")
    sweep = load_sweep(tracker, sweep_id=sweep_id, failures=False)
    if not sweep.parents:
        raise HarnessError(f"Experiment '{tracker.experiment_name}' has no sweep yet.", hint="Run `harness run SPEC`.")
    points = _pick_points(sweep.runs, request.points)
    thumbs = _thumbs(tracker, points)
    common = sorted(set.intersection(*(set(t) for t in thumbs.values())))
    wanted = request.images or len(common)
    if len(common) < max(MIN_IMAGES, wanted):
        kept = ", ".join(f"{label}: {len(t)}" for label, t in thumbs.items())
        raise HarnessError(f"Only {len(common)} image(s) have a kept output of every point ({kept}); this study "
                           f"needs {max(MIN_IMAGES, wanted)}.", hint="Choose points that scored the same images, lower --images, or "
                                                           "raise the spec's report.images and run the sweep again.")
    rng = np.random.default_rng(request.seed)
    ids = sorted(rng.choice(common, size=min(wanted, len(common)), replace=False).tolist())
    trials = _trials(list(request.points), ids, request.kind, rng)
    images = {}
    for n, image_id in enumerate(ids):
        first = thumbs[request.points[0]][image_id]
        images[f"{image_id}|gray"], images[f"{image_id}|{TRUTH}"] = first["gray"], first["truth"]
        for label in request.points:
            images[f"{image_id}|{label}"] = thumbs[label][image_id]["output"]
    what = f"{sweep.parents[0]}|{request.kind}|{','.join(request.points)}|{','.join(ids)}|{request.seed}"
    study_id = f"{request.kind}-{hashlib.sha256(what.encode()).hexdigest()[:10]}"
    folder = studies_folder(tracker.uri) / study_id
    if folder.exists():
        raise HarnessError(f"Study '{study_id}' already exists ({folder}).",
                           hint="Serve it with `harness study serve`, or change --seed or --images for another one.")
    meta = {"kind": request.kind, "points": list(request.points), "images": ids, "seed": request.seed,
            "cap": request.cap, "experiment": tracker.experiment_name, "sweep": sweep.parents[0],
            "tracking_uri": tracker.uri, "token": secrets.token_urlsafe(16), "requested_images": request.images}
    return write_study(folder, meta, trials, images)
