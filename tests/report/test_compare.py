"""Ranking honours each metric's direction, shows CIs, baseline deltas and non-significant orders."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import harness.metrics
from harness.errors import HarnessError
from harness.report.compare import COLUMNS, format_ranking, rank


def _directions(key: str) -> bool | None:
    """Stand-in for `harness.metrics.higher_is_better` while that is not there yet."""
    if key.endswith("_std"):
        return None
    if key.startswith(("delta_e", "cf_delta", "n_failed")):
        return False
    if key.startswith(("psnr", "ssim", "colorfulness")):
        return True
    return None


@pytest.fixture(autouse=True)
def directions(monkeypatch):
    if not hasattr(harness.metrics, "higher_is_better"):
        monkeypatch.setattr(harness.metrics, "higher_is_better", _directions, raising=False)


def run(run_id, label, model, psnr, lo, hi, delta_e, split=None):
    return {"run_id": run_id, "parent_run_id": "p", "label": label, "model": model, "split": split,
            "status": "FINISHED", "psnr_mean": psnr, "psnr_ci95_low": lo, "psnr_ci95_high": hi,
            "psnr_std": 2.0, "delta_e_mean": delta_e, "n_scored": 50.0, "param.render_factor": "35"}


def runs() -> pd.DataFrame:
    return pd.DataFrame([
        run("r1", "grayscale", "grayscale", 22.0, 21.5, 22.5, 9.0),
        run("r2", "m[x=1]", "m", 24.0, 23.0, 25.0, 6.0),
        run("r3", "m[x=2]", "m", 24.4, 23.8, 25.1, 7.0),
        run("r4", "m[x=3]", "m", np.nan, np.nan, np.nan, np.nan),
    ])


def test_higher_is_better_order_ci_and_baseline():
    table = rank(runs(), "psnr_mean")
    assert list(table.columns) == COLUMNS
    assert list(table["label"]) == ["m[x=2]", "m[x=1]", "grayscale", "m[x=3]"]  # NaN last
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert list(table["vs_baseline"][:3]) == pytest.approx([2.4, 2.0, 0.0])
    assert np.isnan(table["vs_baseline"][3])
    assert list(table["overlap"]) == [True, False, False, False]  # 23.8..25.1 overlaps 23.0..25.0 only
    assert (table.loc[0, "ci_low"], table.loc[0, "ci_high"], table.loc[0, "run_id"]) == (23.8, 25.1, "r3")


def test_lower_is_better_for_delta_e_and_no_ci_for_other_stats():
    table = rank(runs(), "delta_e_mean")
    assert list(table["label"]) == ["m[x=1]", "m[x=2]", "grayscale", "m[x=3]"]
    assert list(table["vs_baseline"][:3]) == pytest.approx([-3.0, -2.0, 0.0])
    assert table["ci_low"].isna().all() and not table["overlap"].any()  # no delta_e CI logged here


def test_baseline_is_per_split():
    parts = []
    for split, (gray, model) in {"all": (22.0, 24.0), "animals": (18.0, 21.0), None: (10.0, 11.0)}.items():
        tag = f"[split={split}]" if split else ""
        parts += [run(f"g{split}", f"grayscale{tag}", "grayscale", gray, np.nan, np.nan, 1.0, split),
                  run(f"m{split}", f"m{tag}", "m", model, np.nan, np.nan, 1.0, split)]
    parts.append(run("lonely", "m[split=people]", "m", 30.0, np.nan, np.nan, 1.0, "people"))
    table = rank(pd.DataFrame(parts), "psnr_mean")
    by = dict(zip(table["run_id"], table["vs_baseline"]))
    assert by["manimals"] == pytest.approx(3.0) and by["mall"] == pytest.approx(2.0)
    assert by["mNone"] == pytest.approx(1.0)
    assert np.isnan(by["lonely"])  # no grayscale run on that split
    assert table.loc[0, "run_id"] == "lonely"


def test_errors():
    with pytest.raises(HarnessError, match="Did you mean 'psnr_mean'") as info:
        rank(runs(), "psnr_maen")
    hint = info.value.hint
    assert "delta_e_mean" in hint and "n_scored" in hint and "run_id" not in hint and "param." not in hint
    with pytest.raises(HarnessError, match="no better direction"):
        rank(runs(), "psnr_std")
    with pytest.raises(HarnessError, match="no finished"):
        rank(pd.DataFrame(columns=["run_id", "label", "model"]), "psnr_mean")
    with pytest.raises(HarnessError, match="Did you mean 'markdown'"):
        format_ranking(rank(runs(), "psnr_mean"), "markdwn", "psnr_mean")


def test_csv_parses_back():
    table = rank(runs(), "psnr_mean")
    back = pd.read_csv(io.StringIO(format_ranking(table, "csv", "psnr_mean")))
    assert list(back.columns) == COLUMNS
    assert list(back["label"]) == list(table["label"])
    assert back["value"].tolist()[:3] == pytest.approx(table["value"].tolist()[:3])
    assert back["overlap"].tolist() == table["overlap"].tolist()


def test_markdown_is_a_github_table():
    df = runs()
    df.loc[1, "label"] = "m[x=a|b]"  # a pipe must not split the cell
    md = format_ranking(rank(df, "psnr_mean"), "markdown", "psnr_mean").splitlines()
    assert md[0] == "| rank | sweep point | psnr_mean | 95% CI | vs grayscale | overlap | run |"
    assert set(md[1]) <= set("|-") and md[1].count("|") == 8
    body = md[2:6]
    assert all(line.startswith("| ") and line.endswith(" |") for line in body)
    cells = [c.strip() for c in body[0].strip("|").split(" | ")]
    assert cells == ["1", "m[x=2]", "24.4000", "[23.8000, 25.1000]", "+2.4000", "≈ next", "r3"]
    assert "m[x=a\\|b]" in md[3]
    assert md[-1].startswith("≈ next:")


def test_plain_table_is_aligned_with_footnote():
    text = format_ranking(rank(runs(), "psnr_mean"), "table", "psnr_mean")
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["rank", "sweep", "point"] and "psnr_mean" in lines[0]
    assert "[23.8000, 25.1000]" in text and "+2.4000" in text and "+0.0000" in text
    assert "≈ next" in lines[1] and "≈ next" not in lines[2]
    col = lines[0].index("psnr_mean") + len("psnr_mean")
    assert all(line[:col].endswith(("0", "-")) for line in lines[1:5])  # values right-aligned under the header
    assert lines[-1].startswith("≈ next:") and "not significant" in lines[-1]
    no_overlap = format_ranking(rank(runs(), "delta_e_mean"), "table", "delta_e_mean")
    assert "≈" not in no_overlap


def test_a_failed_points_whole_reason_is_listed_indented():
    from harness.report.compare import format_failed

    reason = "Weights file ColorizeArtistic_gen.pth is not available from any of 2 URL(s):\n  https://a/x.pth\n" \
             "  https://b/x.pth\nFetch it with `harness weights fetch deoldify-artistic`."
    assert format_failed([("deoldify-artistic", reason)]).splitlines() == [
        "Not ranked: 1 point(s) failed in this sweep:",
        "  deoldify-artistic: Weights file ColorizeArtistic_gen.pth is not available from any of 2 URL(s):",
        "      https://a/x.pth", "      https://b/x.pth", "    Fetch it with `harness weights fetch deoldify-artistic`."]
