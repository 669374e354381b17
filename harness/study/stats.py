"""The statistics of a study's votes: Bradley-Terry strengths, bootstrap CIs, win rates, agreement, fooling rates.

Votes are a table with columns `rater, image_id, left, right, choice` (`choice` in left/right/tie;
`left`/`right` are point labels, or `truth` in a real-or-fake study, where the choice names the
image the rater took for the real photo). Bradley-Terry: P(i beats j) = p_i / (p_i + p_j), fitted by
maximum likelihood (Newton's method on the log-likelihood); a tie counts half a win each way. Strengths
are reported as log p, centred on their mean (a difference of 1 is odds of e to 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def win_counts(votes: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """W[i, j]: the wins of labels[i] over labels[j], a tie counting half to each."""
    index = {label: n for n, label in enumerate(labels)}
    a = votes["left"].map(index).to_numpy(dtype=int)
    b = votes["right"].map(index).to_numpy(dtype=int)
    choice = votes["choice"].to_numpy()
    to_left = np.where(choice == "left", 1.0, np.where(choice == "right", 0.0, 0.5))
    wins = np.zeros((len(labels), len(labels)))
    np.add.at(wins, (a, b), to_left)
    np.add.at(wins, (b, a), 1.0 - to_left)
    return wins


def _loglik(theta: np.ndarray, w: np.ndarray) -> float:
    return float(-(w * np.logaddexp(0, theta[None, :] - theta[:, None])).sum())


def bradley_terry(wins: np.ndarray, prior: float = 0.0, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Log strengths (mean 0) maximising the Bradley-Terry likelihood of `wins`, by Newton's method with
    step halving; `prior` adds that many wins each way to every pair (a weak pull to equality that keeps
    the fit finite when a point never wins or never loses)."""
    w = wins + prior * (1 - np.eye(len(wins)))
    games = w + w.T
    theta = np.zeros(len(w))
    for _ in range(max_iter):
        s = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # s[i, j] = P(i beats j)
        grad = (w - games * s).sum(axis=1)
        hess = games * s * s.T
        hess[np.diag_indices_from(hess)] = -hess.sum(axis=1)
        step = np.zeros(len(w))
        step[:-1] = np.linalg.lstsq(hess[:-1, :-1], -grad[:-1], rcond=None)[0]  # the last strength fixed
        before, t = _loglik(theta, w), 1.0
        while t > 1e-8 and _loglik(theta + t * step, w) < before - 1e-12:
            t /= 2
        theta = theta + t * step
        if np.max(np.abs(t * step)) < tol:
            break
    return theta - theta.mean()


def estimable(wins: np.ndarray) -> bool:
    """Whether the MLE is finite: every point has a win and a loss (ties count) against a connected field."""
    games = wins + wins.T
    if len(wins) < 2 or (wins.sum(axis=1) == 0).any() or (wins.sum(axis=0) == 0).any():
        return False
    seen, todo = {0}, [0]
    while todo:
        i = todo.pop()
        for j in np.flatnonzero(games[i] > 0):
            if j not in seen:
                seen.add(int(j))
                todo.append(int(j))
    return len(seen) == len(wins)


def bootstrap(votes: pd.DataFrame, labels: list[str], resamples: int = 1000, seed: int = 0,
              prior: float = 0.01) -> tuple[np.ndarray, str]:
    """95% percentile intervals of the log strengths, resampling raters (votes when there is one rater):
    an array of (low, high) per label, and what was resampled."""
    raters = votes["rater"].astype(str).to_numpy()
    groups = [np.flatnonzero(raters == r) for r in pd.unique(raters)]
    over = "raters" if len(groups) > 1 else "votes"
    if over == "votes":
        groups = [np.array([i]) for i in range(len(votes))]
    per_group = np.stack([win_counts(votes.iloc[g], labels) for g in groups]) if over == "raters" else None
    if per_group is None:  # one vote per group: its matrix from the vote's sides and outcome
        index = {label: n for n, label in enumerate(labels)}
        a, b = votes["left"].map(index).to_numpy(dtype=int), votes["right"].map(index).to_numpy(dtype=int)
        choice = votes["choice"].to_numpy()
        to_left = np.where(choice == "left", 1.0, np.where(choice == "right", 0.0, 0.5))
        per_group = np.zeros((len(votes), len(labels), len(labels)))
        per_group[np.arange(len(votes)), a, b] += to_left
        per_group[np.arange(len(votes)), b, a] += 1.0 - to_left
    flat = per_group.reshape(len(groups), -1)
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, len(labels)))
    for n in range(resamples):  # a resample's wins are the sum of its groups' (drawn with replacement)
        times = np.bincount(rng.integers(0, len(groups), len(groups)), minlength=len(groups))
        draws[n] = bradley_terry((times @ flat).reshape(len(labels), len(labels)), prior=prior, tol=1e-8)
    return np.percentile(draws, [2.5, 97.5], axis=0).T, over


def win_rates(wins: np.ndarray) -> np.ndarray:
    """The share of their comparisons that labels[i] won against labels[j] (NaN where they never met)."""
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(games > 0, wins / np.where(games > 0, games, 1), np.nan)


def _outcome(left: str, right: str, choice: str) -> str:
    """A vote as what it says whatever the sides: the winner's label, or 'tie'."""
    return left if choice == "left" else right if choice == "right" else "tie"


def agreement(votes: pd.DataFrame) -> pd.DataFrame:
    """Per rater: the share of their votes that match the majority of the *other* raters on the same
    comparison (image and pair), over the votes where another rater judged it too (ties between the
    others' outcomes count half)."""
    frame = votes.assign(pair=[f"{i}|{'|'.join(sorted((a, b)))}" for i, a, b in
                               zip(votes["image_id"], votes["left"], votes["right"])],
                         outcome=[_outcome(a, b, c) for a, b, c in zip(votes["left"], votes["right"], votes["choice"])])
    total: dict[str, dict[str, int]] = {}
    mine: dict[tuple[str, str], dict[str, int]] = {}
    for rater, pair, outcome in zip(frame["rater"], frame["pair"], frame["outcome"]):
        total.setdefault(pair, {}).setdefault(outcome, 0)
        total[pair][outcome] += 1
        mine.setdefault((rater, pair), {}).setdefault(outcome, 0)
        mine[(rater, pair)][outcome] += 1
    rows = []
    for rater, own in frame.groupby("rater", sort=True):
        score, n = 0.0, 0
        for pair, outcome in zip(own["pair"], own["outcome"]):
            theirs = {o: c - mine[(rater, pair)].get(o, 0) for o, c in total[pair].items()}
            theirs = {o: c for o, c in theirs.items() if c > 0}
            if not theirs:
                continue
            top = [o for o, c in theirs.items() if c == max(theirs.values())]
            score += (outcome in top) / len(top)
            n += 1
        rows.append({"rater": rater, "votes": len(own), "compared": n, "agreement": score / n if n else np.nan})
    return pd.DataFrame(rows, columns=["rater", "votes", "compared", "agreement"])


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a binomial proportion."""
    if n <= 0:
        return (np.nan, np.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def fooling(votes: pd.DataFrame, points: list[str], truth: str) -> pd.DataFrame:
    """Per point of a real-or-fake study: how often its output was taken for the real photo (a tie, 'cannot
    tell', counts half), with Wilson's 95% interval."""
    rows = []
    for point in points:
        mine = votes[((votes["left"] == point) & (votes["right"] == truth)) |
                     ((votes["left"] == truth) & (votes["right"] == point))]
        outcomes = [_outcome(a, b, c) for a, b, c in zip(mine["left"], mine["right"], mine["choice"])]
        fooled = sum(o == point for o in outcomes) + 0.5 * sum(o == "tie" for o in outcomes)
        low, high = wilson(fooled, len(mine))
        rows.append({"point": point, "votes": len(mine), "fooled": fooled,
                     "fooling_rate": fooled / len(mine) if len(mine) else np.nan, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
