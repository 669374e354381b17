"""The command line: bad input is one clear paragraph and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_ok_and_bad(write_spec, capsys):
    good = write_spec("name: t\ndataset: {source: samples}\nmodels: [{name: grayscale}]\n")
    code, out, _ = run_cli(["validate", str(good)], capsys)
    assert code == 0 and "valid, 1 sweep point" in out
    bad = write_spec("name: t\ndataset: {source: samples}\nmodels: [{name: grayscale}]\nbatchsize: 4\n", "bad.yaml")
    code, _, err = run_cli(["validate", str(bad)], capsys)
    assert code == 2 and "line 4" in err and "batchsize" in err and "Traceback" not in err


def test_missing_dataset_folder_is_exit_2(write_spec, tracking_uri, capsys):
    spec = write_spec("name: t\ndataset: {source: folder, path: /nonexistent/photos}\nmodels: [{name: grayscale}]\n")
    code, _, err = run_cli(["run", str(spec), "--tracking-uri", tracking_uri], capsys)
    assert code == 2 and "/nonexistent/photos" in err and "dataset.path" in err


def test_unwritable_store_is_exit_2(write_spec, capsys):
    spec = write_spec("name: t\ndataset: {source: samples}\nmodels: [{name: grayscale}]\n")
    code, _, err = run_cli(["run", str(spec), "--tracking-uri", "sqlite:////nonexistent/dir/mlflow.db"], capsys)
    assert code == 2 and "/nonexistent/dir" in err and "--tracking-uri" in err


def test_unknown_command_and_option(capsys):
    code, _, err = run_cli(["runn"], capsys)
    assert code == 2 and "No such command" in err
    code, _, err = run_cli(["run", "--nope"], capsys)
    assert code == 2


def test_debug_shows_traceback(write_spec):
    spec = write_spec("name: t\ndataset: {source: samples}\nmodels: [{name: nope}]\n")
    from harness.errors import HarnessError

    with pytest.raises(HarnessError):
        main(["--debug", "validate", str(spec)])


def test_list_names_models_and_metrics(capsys):
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0 and "grayscale" in out and "deoldify-artistic" in out and "psnr (higher" in out
    # the spec-facing name says what it means: colourfulness has no better direction, cf_delta does
    assert "colorfulness (no better direction)" in out and "cf_delta (lower is better)" in out


def test_compare_without_store_is_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["compare", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"], capsys)
    assert code == 2 and "harness run" in err


def test_console_script_entry_point_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "--help"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "compare" in done.stdout and "check" in done.stdout


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    from harness.tracking.client import resolve_tracking_uri

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert resolve_tracking_uri("sqlite:///rel/x.db") == f"sqlite:///{tmp_path / 'rel' / 'x.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:////abs/x.db") == "sqlite:////abs/x.db"


def test_a_plugin_metric_is_usable_from_a_spec(write_spec, tmp_path):
    spec = write_spec("name: t\ndataset: {source: samples, limit: 2}\nmodels: [{name: grayscale}]\n"
                      "metrics: [psnr, plugin_mean_gap]\ndevice: cpu\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_PLUGINS": "tests.plugin_metric"}
    listed = subprocess.run([sys.executable, "-m", "harness.cli", "list"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert "plugin_mean_gap (lower is better): Absolute difference of the mean grey level" in listed.stdout
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(spec), "--no-progress", "--tracking-uri",
                          f"sqlite:///{tmp_path / 'm.db'}"], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    point = next(r for r in runs if r.data.tags.get("harness.kind") == "point")
    assert "plugin_mean_gap_mean" in point.data.metrics and point.data.params["metrics"] == "psnr,plugin_mean_gap"


def test_validate_knows_thresholds_files_and_specs(capsys):
    assert main(["validate", str(ROOT / "experiments" / "thresholds.yaml")]) == 0
    assert "a valid thresholds file" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "experiments" / "quickstart.yaml")]) == 0
    assert "valid, 4 sweep point(s)" in capsys.readouterr().out


@pytest.mark.parametrize("source, said", [
    ("{source: samples}", "only a video dataset (source: video) has temporal scores"),
    ("{source: video, path: clips}", "every video run computes cdc, warp_error and flicker"),
])
def test_a_temporal_score_named_as_a_metric_says_why_it_is_not_one(write_spec, capsys, source, said):
    spec = write_spec(f"name: t\ndataset: {source}\nmodels: [{{name: grayscale}}]\nmetrics: [psnr, cdc]\n")
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "line 4, key 'metrics[1]'" in err and "'cdc' is a temporal score" in err and said in err


def test_the_end_of_a_run_says_where_its_results_are(write_spec, tracking_uri, tmp_path, capsys):
    spec = write_spec("name: where\ndataset: {source: samples, limit: 1}\nmodels: [{name: grayscale}]\n"
                      "metrics: [psnr]\ngrids: {count: 0}\ndevice: cpu\n")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    assert f"Results: {tmp_path / 'mlruns' / 'where'}/<run id>/artifacts/" in capsys.readouterr().out
