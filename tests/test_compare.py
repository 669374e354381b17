"""Ranking honours each metric's direction, shows CIs, baseline deltas and non-significant orders."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from harness.compare import format_ranking, rank
from harness.errors import HarnessError


def runs() -> pd.DataFrame:
    return pd.DataFrame([
        {"run_id": "r1", "label": "grayscale", "model": "grayscale", "split": None, "psnr_mean": 22.0,
         "psnr_ci95_low": 21.5, "psnr_ci95_high": 22.5, "delta_e_mean": 9.0, "psnr_std": 2.0},
        {"run_id": "r2", "label": "m[x=1]", "model": "m", "split": None, "psnr_mean": 24.0,
         "psnr_ci95_low": 23.0, "psnr_ci95_high": 25.0, "delta_e_mean": 6.0, "psnr_std": 2.0},
        {"run_id": "r3", "label": "m[x=2]", "model": "m", "split": None, "psnr_mean": 24.4,
         "psnr_ci95_low": 23.8, "psnr_ci95_high": 25.1, "delta_e_mean": 7.0, "psnr_std": 2.0},
        {"run_id": "r4", "label": "m[x=3]", "model": "m", "split": None, "psnr_mean": np.nan,
         "psnr_ci95_low": np.nan, "psnr_ci95_high": np.nan, "delta_e_mean": np.nan, "psnr_std": 2.0},
    ])


def test_higher_is_better_order_ci_and_baseline():
    table = rank(runs(), "psnr_mean")
    assert list(table["label"]) == ["m[x=2]", "m[x=1]", "grayscale", "m[x=3]"]  # NaN last
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert list(table["vs_baseline"][:3]) == pytest.approx([2.4, 2.0, 0.0])
    assert list(table["overlap"]) == [True, False, False, False]  # 23.8..25.1 overlaps 23.0..25.0 only
    assert table.loc[0, "ci_low"] == 23.8


def test_lower_is_better_for_delta_e():
    table = rank(runs(), "delta_e_mean")
    assert list(table["label"][:3]) == ["m[x=1]", "m[x=2]", "grayscale"]
    assert table["ci_low"].isna().all()  # no CI logged for delta_e here


def test_baseline_is_per_split():
    df = runs().iloc[:2].copy()
    df2 = df.copy()
    df2["split"] = "animals"
    df2["run_id"] = ["a1", "a2"]
    df2["psnr_mean"] = [18.0, 21.0]
    table = rank(pd.concat([df.assign(split="all"), df2]), "psnr_mean")
    by = {(r.label, r.split): r.vs_baseline for r in table.itertuples()}
    assert by[("m[x=1]", "animals")] == pytest.approx(3.0) and by[("m[x=1]", "all")] == pytest.approx(2.0)


def test_errors():
    with pytest.raises(HarnessError, match="Did you mean 'psnr_mean'"):
        rank(runs(), "psnr_maen")
    with pytest.raises(HarnessError, match="no better direction"):
        rank(runs(), "psnr_std")
    with pytest.raises(HarnessError, match="no finished"):
        rank(pd.DataFrame(columns=["run_id", "label", "model"]), "psnr_mean")


def test_formats():
    table = rank(runs(), "psnr_mean")
    back = pd.read_csv(io.StringIO(format_ranking(table, "csv", "psnr_mean")))
    assert list(back["label"]) == list(table["label"])
    md = format_ranking(table, "markdown", "psnr_mean").splitlines()
    assert md[0].startswith("| rank | sweep point | psnr_mean") and set(md[1]) <= set("|-") and len(md) == 6
    text = format_ranking(table, "table", "psnr_mean")
    assert "≈ next" in text and "[23.8000, 25.1000]" in text and "+2.4000" in text
