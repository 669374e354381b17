"""The study's statistics against independent fits, on synthetic votes drawn from known strengths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.study import stats
from harness.study.results import analyse, format_results, read_votes

LABELS = ["a", "b", "c", "d"]
TRUE = np.array([1.0, 0.3, -0.2, -1.1])  # log strengths, mean 0


def synthetic(raters: int = 8, per_rater: int = 150, seed: int = 1, tie_rate: float = 0.1) -> pd.DataFrame:
    """Votes drawn from the Bradley-Terry model with strengths TRUE (some turned into ties)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(raters):
        for k in range(per_rater):
            i, j = rng.choice(len(LABELS), 2, replace=False)
            p = 1 / (1 + np.exp(TRUE[j] - TRUE[i]))
            choice = "tie" if rng.random() < tie_rate else ("left" if rng.random() < p else "right")
            rows.append((f"r{r}", f"img{k % 20}", LABELS[i], LABELS[j], choice))
    return pd.DataFrame(rows, columns=["rater", "image_id", "left", "right", "choice"])


def scipy_fit(wins: np.ndarray) -> np.ndarray:
    """The maximum of the log-likelihood sum_ij W_ij log(sigmoid(t_i - t_j)), by BFGS (t_0 fixed at 0)."""
    from scipy.optimize import minimize

    def nll(free):
        t = np.concatenate([[0.0], free])
        d = t[:, None] - t[None, :]
        return -(wins * -np.logaddexp(0, -d)).sum()

    t = np.concatenate([[0.0], minimize(nll, np.zeros(len(wins) - 1), method="BFGS", options={"gtol": 1e-10}).x])
    return t - t.mean()


def test_the_fit_matches_scipy_and_choix_and_recovers_the_strengths_within_their_cis():
    votes = synthetic()
    wins = stats.win_counts(votes, LABELS)
    theta = stats.bradley_terry(wins)
    assert stats.estimable(wins)
    np.testing.assert_allclose(theta, scipy_fit(wins), atol=1e-5)
    choix = pytest.importorskip("choix")
    doubled = []  # choix takes (winner, loser) pairs: a win twice, a tie once each way
    for left, right, choice in zip(votes["left"], votes["right"], votes["choice"]):
        a, b = LABELS.index(left), LABELS.index(right)
        doubled += [(a, b), (a, b)] if choice == "left" else [(b, a), (b, a)] if choice == "right" else [(a, b), (b, a)]
    reference = choix.ilsr_pairwise(len(LABELS), doubled, alpha=0.0, tol=1e-12)
    np.testing.assert_allclose(theta, reference - reference.mean(), atol=1e-5)
    # recovery: votes from the model itself (random ties, counted half each way, pull strengths to 0)
    found = analyse(synthetic(tie_rate=0.0, seed=2), "preference", LABELS, bootstrap=300, seed=3)
    assert found["ci_over"] == "raters" and [r["label"] for r in found["strength"]] == LABELS
    for row, true in zip(found["strength"], TRUE):
        assert row["ci_low"] <= true <= row["ci_high"], row
        assert row["ci_low"] <= row["strength"] <= row["ci_high"]


def test_ties_count_half_each_way_and_one_rater_is_resampled_by_votes():
    votes = pd.DataFrame([("x", "i", "a", "b", "tie")] * 4 + [("x", "i", "a", "b", "left")] * 2,
                         columns=["rater", "image_id", "left", "right", "choice"])
    wins = stats.win_counts(votes, ["a", "b"])
    assert wins[0, 1] == 4 and wins[1, 0] == 2
    theta = stats.bradley_terry(wins)
    assert theta[0] - theta[1] == pytest.approx(np.log(2))  # 4 to 2: odds 2
    found = analyse(votes, "preference", ["a", "b"], bootstrap=50)
    assert found["ci_over"] == "votes" and found["win_rate"]["a"]["b"] == pytest.approx(4 / 6)


def test_a_point_that_never_wins_gets_a_finite_strength_and_a_note():
    votes = pd.DataFrame([("x", "i", "a", "b", "left")] * 5, columns=["rater", "image_id", "left", "right", "choice"])
    found = analyse(votes, "preference", ["a", "b"], bootstrap=20)
    assert "does not exist" in found["note"] and all(np.isfinite(r["strength"]) for r in found["strength"])


def test_agreement_fooling_and_wilson():
    votes = pd.DataFrame([("r1", "i", "a", "truth", "left"), ("r2", "i", "truth", "a", "right"),
                          ("r3", "i", "a", "truth", "right"), ("r1", "j", "a", "truth", "tie")],
                         columns=["rater", "image_id", "left", "right", "choice"])
    agree = stats.agreement(votes).set_index("rater")
    assert agree.loc["r1", "agreement"] == 0.5  # on i the others split 1-1 (half), on j nobody else voted
    assert agree.loc["r1", "compared"] == 1 and agree.loc["r3", "agreement"] == 0.0
    fool = stats.fooling(votes, ["a"], "truth").iloc[0]
    assert fool["votes"] == 4 and fool["fooled"] == 2.5 and fool["ci_low"] < 0.625 < fool["ci_high"]
    from scipy.stats import binomtest

    reference = binomtest(32, 100).proportion_ci(method="wilson")  # Zhang et al.'s 32% fooling rate, 100 votes
    assert stats.wilson(32, 100) == pytest.approx((reference.low, reference.high), abs=1e-9)
    found = analyse(votes, "real-or-fake", ["a"], bootstrap=20)
    assert "Fooling rate" in format_results(found, "table") and "fool_ci_low" in format_results(found, "csv")


def test_a_votes_file_is_checked(tmp_path):
    from harness.errors import HarnessError

    path = tmp_path / "votes.csv"
    path.write_text("rater,image_id,left,right,choice\nx,i,a,b,up\n")
    with pytest.raises(HarnessError, match="line 2 has choice 'up'"):
        read_votes(path)
    path.write_text("rater,left\nx,a\n")
    with pytest.raises(HarnessError, match="no column"):
        read_votes(path)


def test_one_raters_votes_are_resampled_by_vote_and_still_cover_the_truth():
    found = analyse(synthetic(raters=1, per_rater=1200, tie_rate=0.0, seed=4), "preference", LABELS, bootstrap=300)
    assert found["ci_over"] == "votes"
    for row, true in zip(found["strength"], TRUE):
        assert row["ci_low"] <= true <= row["ci_high"], row
