"""`harness study results | export` on a study's votes: the printed ranking, the CSV round trip, the MLflow run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.cli.main import main
from harness.study.store import open_study
from tests.study.conftest import POINTS

pytestmark = pytest.mark.slow


def test_results_rank_export_recompute_and_log_under_the_sweep(sweep, capsys, tmp_path):
    from mlflow.tracking import MlflowClient

    uri, _ = sweep
    assert main(["study", "create", "--tracking-uri", uri, "--points", ",".join(POINTS), "--seed", "21"]) == 0
    study = open_study(capsys.readouterr().out.split()[1].rstrip(":"), uri)
    assert main(["study", "results", study.id, "--tracking-uri", uri]) == 0
    assert "No votes yet" in capsys.readouterr().out
    rank = {label: n for n, label in enumerate(reversed(POINTS))}  # the strongest tint wins, gray loses
    for rater in ("ann", "bob"):
        for t in study.trials:
            study.vote(rater, t.id, "left" if rank[t.left] < rank[t.right] else "right")
    study.vote("cy", study.trials[0].id, "tie")
    assert main(["study", "results", study.id, "--tracking-uri", uri, "--format", "json", "--bootstrap", "50"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in found["strength"]] == POINTS[::-1] and found["ci_over"] == "raters"
    assert found["votes"] == 2 * len(study.trials) + 1 and found["raters"] == 3
    agree = {r["rater"]: r["agreement"] for r in found["agreement"]}
    n = len(study.trials)  # on the first trial ann's others are bob (agrees) and cy (a tie): half
    assert agree["ann"] == pytest.approx((n - 0.5) / n) and agree["cy"] == 0.0

    out = tmp_path / "votes.csv"
    assert main(["study", "export", study.id, "--tracking-uri", uri, "--out", str(out)]) == 0
    assert f"{found['votes']} vote(s) of 3 rater(s)" in capsys.readouterr().out
    votes = pd.read_csv(out, dtype=str)
    assert list(votes.columns) == ["rater", "image_id", "left", "right", "choice"] and len(votes) == found["votes"]
    assert main(["study", "results", study.id, "--tracking-uri", uri, "--format", "json", "--bootstrap", "50",
                 "--votes", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == found  # the CSV holds everything the results need

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("study-test")
    runs = client.search_runs([experiment.experiment_id], f"tags.`harness.study` = '{study.id}'")
    assert len(runs) == 1  # the second `results` updated the run the first one made
    run = runs[0]
    assert run.data.tags["harness.kind"] == "study" and run.data.tags["mlflow.parentRunId"] == study.meta["sweep"]
    assert run.data.metrics["votes"] == found["votes"]
    assert run.data.metrics["bt.fake-tint_strength_0.4"] == pytest.approx(found["strength"][0]["strength"])
    assert main(["study", "results", study.id, "--tracking-uri", uri, "--no-log"]) == 0
    assert "Bradley-Terry" in capsys.readouterr().out


def test_a_real_or_fake_study_reports_and_logs_each_points_fooling_rate(sweep, capsys):
    from mlflow.tracking import MlflowClient

    uri, _ = sweep
    assert main(["study", "create", "--tracking-uri", uri, "--points", ",".join(POINTS[1:]), "--kind",
                 "real-or-fake", "--seed", "3"]) == 0
    study = open_study(capsys.readouterr().out.split()[1].rstrip(":"), uri)
    for t in study.trials:  # the weak tint always passes for real, the strong one never does
        fooled = POINTS[1] in (t.left, t.right)
        point_side = "left" if t.left != "truth" else "right"
        study.vote("ann", t.id, point_side if fooled else ("right" if point_side == "left" else "left"))
    assert main(["study", "results", study.id, "--tracking-uri", uri, "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "Fooling rate" in out and "over votes" in out  # one rater: resampled by votes, and said
    run = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("study-test").experiment_id],
                                        f"tags.`harness.study` = '{study.id}'")[0]
    assert run.data.tags["harness.study_kind"] == "real-or-fake"
    assert run.data.metrics["fooling.fake-tint_strength_0.1"] == 1.0
    assert run.data.metrics["fooling.fake-tint_strength_0.4"] == 0.0
