"""Threshold files: validated with line numbers; violations exit 1, missing targets exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.check import check, exit_code, format_result, load_thresholds
from harness.errors import HarnessError

RUNS = pd.DataFrame([
    {"run_id": "r1", "label": "grayscale", "model": "grayscale", "psnr_mean": 22.0, "cf_delta": 30.0},
    {"run_id": "r2", "label": "m[x=1]", "model": "m", "psnr_mean": 21.0, "cf_delta": 5.0},
    {"run_id": "r3", "label": "m[x=2]", "model": "m", "psnr_mean": 24.0, "cf_delta": np.nan},
])


def thresholds(tmp_path, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_thresholds(path)


def test_pass(tmp_path):
    result = check(RUNS, thresholds(tmp_path, "grayscale:\n  psnr_mean: {min: 20}\n  cf_delta: {max: 31}\n"))
    assert exit_code(result) == 0 and result.checked == 2 and "OK" in format_result(result)


def test_model_target_covers_every_point_and_nan_is_a_violation(tmp_path):
    result = check(RUNS, thresholds(tmp_path, "m:\n  psnr_mean: {min: 22.0}\n  cf_delta: {max: 8}\n"))
    assert exit_code(result) == 1
    broken = {(v.label, v.metric) for v in result.violations}
    assert broken == {("m[x=1]", "psnr_mean"), ("m[x=2]", "cf_delta")}
    text = format_result(result)
    assert "FAIL m[x=1] psnr_mean = 21.0000 < min 22.0 (run r2)" in text and "no value" in text


def test_label_target(tmp_path):
    result = check(RUNS, thresholds(tmp_path, '"m[x=2]":\n  psnr_mean: {min: 23.5}\n'))
    assert exit_code(result) == 0 and result.checked == 1


def test_missing_target_or_metric_is_2_violation_wins(tmp_path):
    assert exit_code(check(RUNS, thresholds(tmp_path, "other:\n  psnr_mean: {min: 1}\n"))) == 2
    assert exit_code(check(RUNS, thresholds(tmp_path, "grayscale:\n  ssim_mean: {min: 0.1}\n"))) == 2
    both = thresholds(tmp_path, "other:\n  psnr_mean: {min: 1}\ngrayscale:\n  psnr_mean: {min: 30}\n")
    assert exit_code(check(RUNS, both)) == 1


@pytest.mark.parametrize("text,expected", [
    ("grayscale:\n  psnr_mean: {mni: 1}\n", ["line 2", "mni", "Did you mean 'min'"]),
    ("grayscale:\n  psnr_mean: {min: high}\n", ["line 2", "must be a number"]),
    ("grayscale:\n  psnr_mean: {min: 5, max: 1}\n", ["greater than max"]),
    ("", ["must map"]),
    ("grayscale: 3\n", ["line 1", "give metric bounds"]),
])
def test_bad_files(tmp_path, text, expected):
    with pytest.raises(HarnessError) as info:
        thresholds(tmp_path, text)
    for part in expected:
        assert part in str(info.value)
