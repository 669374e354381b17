"""Threshold files: validated with line numbers; violations exit 1, missing targets exit 2, else 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report.check import Bound, CheckResult, Violation, check, exit_code, format_result, load_thresholds

RUNS = pd.DataFrame([
    {"run_id": "r1", "parent_run_id": "p", "label": "grayscale", "model": "grayscale", "split": None,
     "status": "FINISHED", "psnr_mean": 22.0, "cf_delta": 30.0, "param.render_factor": None},
    {"run_id": "r2", "parent_run_id": "p", "label": "m[x=1]", "model": "m", "split": None,
     "status": "FINISHED", "psnr_mean": 21.0, "cf_delta": 5.0, "param.render_factor": "1"},
    {"run_id": "r3", "parent_run_id": "p", "label": "m[x=2]", "model": "m", "split": None,
     "status": "FINISHED", "psnr_mean": 24.0, "cf_delta": np.nan, "param.render_factor": "2"},
])


def thresholds(tmp_path, text):
    """The bounds of a thresholds file written with `text`."""
    return parse(tmp_path, text).bounds


def parse(tmp_path, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_thresholds(path)


def test_parse(tmp_path):
    got = parse(tmp_path, 'm:\n  psnr_mean: {min: 22}\n  cf_delta: {max: 8.5}\n"m[x=2]":\n'
                          '  psnr_mean:\n    min: 1\n    max: 99\n')
    assert got.experiment is None
    assert got.bounds == {"m": [Bound("psnr_mean", 22, None), Bound("cf_delta", None, 8.5)],
                          "m[x=2]": [Bound("psnr_mean", 1, 99)]}


def test_the_file_may_name_its_experiment(tmp_path):
    got = parse(tmp_path, "experiment: quickstart\ngrayscale:\n  psnr_mean: {min: 20}\n")
    assert got.experiment == "quickstart" and list(got.bounds) == ["grayscale"]


def test_pass_is_0(tmp_path):
    result = check(RUNS, thresholds(tmp_path, "grayscale:\n  psnr_mean: {min: 20}\n  cf_delta: {max: 31}\n"))
    assert (exit_code(result), result.checked, result.violations, result.missing) == (0, 2, [], [])
    assert format_result(result).startswith("OK: 2 check")


def test_model_target_covers_every_point_and_nan_is_a_violation(tmp_path):
    result = check(RUNS, thresholds(tmp_path, "m:\n  psnr_mean: {min: 22.0}\n  cf_delta: {max: 8}\n"))
    assert exit_code(result) == 1 and result.checked == 4
    assert {(v.label, v.metric, v.bound) for v in result.violations} == {
        ("m[x=1]", "psnr_mean", "min 22.0"), ("m[x=2]", "cf_delta", "no value")}
    lines = format_result(result).splitlines()
    assert "FAIL m[x=1] psnr_mean = 21.00 < min 22.0 (run r2)" in lines
    assert "FAIL m[x=2] cf_delta: no value (run r3)" in lines
    assert lines[-1].startswith("FAILED: 4 check") and "2 violated" in lines[-1]


def test_label_target_only_checks_that_point(tmp_path):
    result = check(RUNS, thresholds(tmp_path, '"m[x=2]":\n  psnr_mean: {min: 23.5}\n'))
    assert exit_code(result) == 0 and result.checked == 1
    result = check(RUNS, thresholds(tmp_path, '"m[x=1]":\n  psnr_mean: {min: 23.5}\n'))
    assert exit_code(result) == 1 and [v.run_id for v in result.violations] == ["r2"]


def test_max_violation_and_precise_display():
    result = CheckResult([Violation("m", "m[x=1]", "r2", "ssim_mean", 0.8499, "min 0.85"),
                          Violation("m", "m[x=1]", "r2", "cf_delta", 9.5, "max 8")], [], 2)
    lines = format_result(result).splitlines()
    assert lines[0] == "FAIL m[x=1] ssim_mean = 0.8499 < min 0.85 (run r2)"  # 2 decimals would read 0.85
    assert lines[1] == "FAIL m[x=1] cf_delta = 9.50 > max 8 (run r2)"


def test_missing_target_or_metric_is_2_and_violation_wins(tmp_path):
    result = check(RUNS, thresholds(tmp_path, "grayscal:\n  psnr_mean: {min: 1}\n"))
    assert exit_code(result) == 2 and "Did you mean 'grayscale'" in result.missing[0]
    result = check(RUNS, thresholds(tmp_path, "grayscale:\n  psnr_maen: {min: 0.1}\n"))
    assert exit_code(result) == 2 and "Did you mean 'psnr_mean'" in result.missing[0]
    assert format_result(result).splitlines()[-1].startswith("INCOMPLETE")
    both = check(RUNS, thresholds(tmp_path, "other:\n  psnr_mean: {min: 1}\ngrayscale:\n  psnr_mean: {min: 30}\n"))
    assert exit_code(both) == 1 and len(both.missing) == 1
    text = format_result(both).splitlines()
    assert text[0].startswith("FAIL grayscale") and text[1].startswith("MISSING other")


def test_no_runs_at_all_is_2(tmp_path):
    empty = pd.DataFrame(columns=["run_id", "parent_run_id", "label", "model", "split", "status"])
    assert exit_code(check(empty, thresholds(tmp_path, "m:\n  psnr_mean: {min: 1}\n"))) == 2


@pytest.mark.parametrize("text,expected", [
    ("grayscale:\n  psnr_mean: {mni: 1}\n", ["t.yaml, line 2", "'mni'", "Did you mean 'min'"]),
    ("grayscale:\n  psnr_mean:\n    min: 1\n    maxx: 3\n", ["line 4", "'maxx'", "Did you mean 'max'"]),
    ("grayscale:\n  psnr_mean: {min: high}\n", ["line 2", "must be a number", "'high'"]),
    ("grayscale:\n  psnr_mean: {min: true}\n", ["line 2", "must be a number"]),
    ("a:\n  x: {min: 1}\ngrayscale:\n  psnr_mean: {min: 5, max: 1}\n", ["line 4", "greater than max"]),
    ("grayscale:\n  psnr_mean: 22\n", ["line 2", "min and/or max"]),
    ("", ["is empty"]),
    ("# only a comment\n", ["is empty"]),
    ("- grayscale\n", ["must map"]),
    ("grayscale: 3\n", ["line 1", "give metric bounds"]),
    ("grayscale:\n  psnr_mean: {min: 1\n", ["not valid YAML"]),
    ("experiment: [a, b]\ngrayscale:\n  psnr_mean: {min: 1}\n", ["line 1", "experiment must be an experiment name"]),
    ("experiment: quickstart\n", ["no bounds besides the experiment name"]),
])
def test_bad_files(tmp_path, text, expected):
    with pytest.raises(HarnessError) as info:
        thresholds(tmp_path, text)
    for part in expected:
        assert part in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        load_thresholds(tmp_path / "nope.yaml")


@pytest.mark.slow
def test_the_shipped_thresholds_hold_for_the_quickstart_run(tmp_path, monkeypatch, capsys):
    """The README's quickstart as a user without network runs it: `harness run experiments/quickstart.yaml`
    (DeOldify fails at once, the grayscale baseline runs with the default metrics on the bundled photos),
    then `harness check experiments/thresholds.yaml`. Pins the reference numbers that file quotes."""
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    from harness.cli import main

    root = Path(__file__).resolve().parents[2]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # no weights cached
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(root / "experiments" / "quickstart.yaml"), "--tracking-uri", uri, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("[failed] deoldify-artistic[render_factor=") == 3 and "[done] grayscale: " in err
    assert main(["check", str(root / "experiments" / "thresholds.yaml"), "--tracking-uri", uri]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("OK: 6 check(s) of a run against a bound")
    client = MlflowClient(uri)
    (run,) = [r for r in client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
              if r.data.tags.get("harness.label") == "grayscale"]
    m = run.data.metrics
    assert run.data.params["metrics"] == "psnr,ssim,colorfulness,delta_e"
    assert (m["n_scored"], m["n_excluded"], m["n_failed"]) == (8, 1, 0)
    # measured 2026-11-25 (scikit-image 0.26), quoted in thresholds.yaml; deterministic up to float rounding
    assert m["psnr_mean"] == pytest.approx(20.0707, abs=1e-3)
    assert m["ssim_mean"] == pytest.approx(0.8965, abs=1e-3)
    assert m["delta_e_mean"] == pytest.approx(13.3093, abs=1e-3)
    assert m["cf_delta"] == pytest.approx(52.5864, abs=1e-3)
