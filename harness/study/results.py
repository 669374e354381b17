"""`harness study results | export`: a study's votes as CSV, ranked, printed and logged to MLflow.

The votes CSV (`rater,image_id,left,right,choice`) is the study's whole record: `results --votes FILE`
recomputes everything from it. The MLflow run is a child of the sweep (`harness.kind` = study), one per
study, updated by each `results`: a metric per point's strength and fooling rate, `study.json`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.study import stats
from harness.study.store import CHOICES, TRUTH, Study

COLUMNS = ["rater", "image_id", "left", "right", "choice"]


def study_votes(study: Study) -> pd.DataFrame:
    rows = [(rater, study.by_id[trial].image_id, study.by_id[trial].left, study.by_id[trial].right, choice)
            for rater, trial, choice in study.votes()]
    return pd.DataFrame(rows, columns=COLUMNS)


def read_votes(path: Path) -> pd.DataFrame:
    """A votes CSV, checked: its columns, and every choice left/right/tie."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise HarnessError(f"{path}: not a readable CSV ({exc}).") from exc
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise HarnessError(f"{path}: no column(s) {', '.join(missing)}.", hint=f"A votes file has {','.join(COLUMNS)}.")
    bad = frame[~frame["choice"].isin(CHOICES)]
    if len(bad):
        raise HarnessError(f"{path}: line {bad.index[0] + 2} has choice {bad['choice'].iloc[0]!r}.",
                           hint="choice is left, right or tie.")
    return frame[COLUMNS]


def analyse(votes: pd.DataFrame, kind: str, points: list[str], bootstrap: int = 1000, seed: int = 0) -> dict:
    """Everything `results` reports, as plain data."""
    labels = list(points) + ([TRUTH] if kind == "real-or-fake" else [])
    extra = sorted((set(votes["left"]) | set(votes["right"])) - set(labels))
    if extra:
        raise HarnessError(f"The votes name {', '.join(extra)}, not in this study's points ({', '.join(labels)}).")
    out = {"kind": kind, "votes": len(votes), "raters": int(votes["rater"].nunique()), "labels": labels}
    if votes.empty:
        return out
    wins = stats.win_counts(votes, labels)
    exact = stats.estimable(wins)
    theta = stats.bradley_terry(wins, prior=0.0 if exact else 0.01)
    intervals, over = stats.bootstrap(votes, labels, bootstrap, seed)
    out["strength"] = [{"label": lab, "strength": float(t), "ci_low": float(lo), "ci_high": float(hi)}
                       for lab, t, (lo, hi) in sorted(zip(labels, theta, intervals), key=lambda x: -x[1])]
    out["ci_over"] = over
    out["note"] = "" if exact else ("The exact maximum-likelihood fit does not exist (a point never won or never lost): "
                                    "strengths use a weak prior of 0.01 wins each way per pair.")
    out["win_rate"] = {a: {b: (None if np.isnan(r) else float(r)) for b, r in zip(labels, row)}
                       for a, row in zip(labels, stats.win_rates(wins))}
    out["agreement"] = stats.agreement(votes).replace({np.nan: None}).to_dict("records")
    if kind == "real-or-fake":
        out["fooling"] = stats.fooling(votes, list(points), TRUTH).replace({np.nan: None}).to_dict("records")
    return out


def _num(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_results(found: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(found, indent=2)
    if "strength" not in found:
        return f"No votes yet ({found['kind']} study)." if fmt == "table" else "label,strength,ci_low,ci_high"
    table = pd.DataFrame(found["strength"])
    if "fooling" in found:
        table = table.merge(pd.DataFrame(found["fooling"]).rename(columns={
            "point": "label", "ci_low": "fool_ci_low", "ci_high": "fool_ci_high"}), on="label", how="left")
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    lines = [f"{found['kind']} study: {found['votes']} vote(s) of {found['raters']} rater(s); Bradley-Terry log "
             f"strengths (mean 0), 95% bootstrap CI over {found['ci_over']}."]
    for row in found["strength"]:
        lines.append(f"  {row['label']:<32} {row['strength']:+.3f}  [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]")
    if found["note"]:
        lines.append(found["note"])
    labels = found["labels"]
    lines.append("Win rate of the row against the column:")
    lines.append("  " + " " * 32 + " ".join(f"{n + 1:>6}" for n in range(len(labels))))
    for n, a in enumerate(labels):
        lines.append(f"  {n + 1}. {a:<29} " + " ".join(f"{_num(found['win_rate'][a][b]):>6}" for b in labels))
    if "fooling" in found:
        lines.append("Fooling rate (taken for the real photo; 'cannot tell' counts half), Wilson 95% CI:")
        for row in found["fooling"]:
            lines.append(f"  {row['point']:<32} {_num(row['fooling_rate'])}  [{_num(row['ci_low'])}, "
                         f"{_num(row['ci_high'])}]  of {row['votes']}")
    lines.append("Agreement with the other raters' majority:")
    for row in found["agreement"]:
        lines.append(f"  {row['rater']:<32} {_num(row['agreement'])}  ({row['compared']} of {row['votes']} "
                     "vote(s) also judged by others)")
    return "\n".join(lines)


def metric_name(prefix: str, label: str) -> str:
    """An MLflow metric name for a point label (which may hold [, ], = and commas)."""
    return prefix + re.sub(r"[^\w./ :-]+", "_", label).strip("_")


def log_results(study: Study, found: dict, votes: pd.DataFrame, tracking_uri: str | None) -> str:
    """The study's run under its sweep (made on the first call, updated after): returns its id."""
    from harness.tracking import layout
    from harness.tracking.client import Tracker, quiet_mlflow

    with quiet_mlflow():
        tracker = Tracker(study.meta["experiment"], tracking_uri or study.meta["tracking_uri"], create=False)
        runs = tracker.search(f"tags.`{layout.STUDY}` = '{study.id}'", max_results=1)
        if runs:
            run_id = runs[0].info.run_id
        else:
            run_id = tracker.start_run(f"study {study.id}", {
                layout.KIND: layout.STUDY_KIND, layout.STUDY: study.id, layout.PARENT: study.meta["sweep"],
                layout.STUDY_TYPE: study.kind, layout.DESCRIPTION: f"{study.kind} study of "
                f"{', '.join(study.meta['points'])} over {len(study.meta['images'])} images."})
            tracker.log_params(run_id, {"kind": study.kind, "points": ",".join(study.meta["points"]),
                                        "images": len(study.meta["images"]), "seed": study.meta["seed"],
                                        "cap": study.meta.get("cap"), "ci_over": found.get("ci_over")})
        values: dict[str, float | None] = {"votes": found["votes"], "raters": found["raters"]}
        for row in found.get("strength", []):
            values[metric_name("bt.", row["label"])] = row["strength"]
            values[metric_name("bt_low.", row["label"])] = row["ci_low"]
            values[metric_name("bt_high.", row["label"])] = row["ci_high"]
        for row in found.get("fooling", []):
            values[metric_name("fooling.", row["point"])] = row["fooling_rate"]
        tracker.log_metrics(run_id, values)
        tracker.log_json(run_id, found, layout.STUDY_RESULTS)
        tracker.log_csv(run_id, votes, layout.STUDY_VOTES)
        tracker.end_run(run_id)
    return run_id
