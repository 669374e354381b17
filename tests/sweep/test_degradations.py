"""The `degradations:` sweep axis: expansion and labels, validation naming the key, the run key, and a run
whose points log their degradation and whose PSNR falls with noise severity."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from harness.cli import main
from harness.errors import HarnessError
from harness.sweep.points import by_setting, load_spec

BASE = """\
name: degrade
dataset:
  source: samples
  limit: 3
models:
  - name: grayscale
"""


def test_points_labels_and_settings(write_spec):
    text = BASE + "degradations: [none, {name: gaussian_noise, severity: [1, 3]}, {name: jpeg, severity: 2}]\n"
    loaded = load_spec(write_spec(text))
    labels = [p.label for p in loaded.points]
    assert labels == ["grayscale", "grayscale[degradation=gaussian_noise/1]", "grayscale[degradation=gaussian_noise/3]",
                      "grayscale[degradation=jpeg/2]"]
    assert len(by_setting(loaded.points)) == 4  # a degradation changes the input: its own model setting
    assert loaded.points[0].identity() == {"model": "grayscale", "params": {}, "split": None}  # keys from before
    assert loaded.points[2].identity()["degradation"] == {"name": "gaussian_noise", "severity": 3}
    assert [p.label for p in load_spec(write_spec(BASE)).points] == ["grayscale"]  # default: [none]
    assert len(load_spec(write_spec(BASE + "degradations: [fade]\n")).points) == 5  # a bare name: all severities


@pytest.mark.parametrize("line, expected", [
    ("degradations: [gausian_noise]", ["degradations[0]", "Did you mean 'gaussian_noise'"]),
    ("degradations: [{name: jpg, severity: 1}]", ["degradations[0].name", "Did you mean 'jpeg'"]),
    ("degradations: [{name: jpeg, severity: [2, 6]}]", ["degradations[0].severity[1]", "out of 1..5"]),
    ("degradations: [{name: jpeg, severity: 0}]", ["degradations[0].severity", "out of 1..5"]),
    ("degradations: [none, none]", ["degradations[1]", "more than once"]),
    ("degradations: [{name: jpeg, sevrity: 1}]", ["sevrity"]),
])
def test_validation_names_the_key(write_spec, line, expected):
    with pytest.raises(HarnessError) as info:
        load_spec(write_spec(BASE + line + "\n"))
    message = str(info.value)
    assert "line 7" in message and all(e in message for e in expected), message


@pytest.mark.slow
def test_run_logs_degradation_and_psnr_falls_with_noise(write_spec, tracking_uri, capsys):
    text = BASE + "metrics: [psnr, ssim]\ngrids: {count: 0}\ndevice: cpu\n" \
                  "degradations: [none, {name: gaussian_noise, severity: [1, 2, 3, 4, 5]}]\n"
    spec = write_spec(text)
    assert main(["run", str(spec), "--dry-run", "--tracking-uri", tracking_uri]) == 0
    assert "6 sweep point(s)" in capsys.readouterr().out
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("degrade")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point"]
    by_severity = {int(r.data.params["degradation_severity"]): r for r in runs}
    assert by_severity[0].data.params["degradation"] == "none"
    assert by_severity[3].data.params["label"] == "grayscale[degradation=gaussian_noise/3]"
    psnr = [by_severity[s].data.metrics["psnr_mean"] for s in range(6)]
    assert all(a > b for a, b in zip(psnr, psnr[1:])), psnr
    keys = {r.data.tags.get("harness.run_key") for r in runs}
    assert len(keys) == 6
    capsys.readouterr()
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0  # deterministic: reused
    assert "0 done, 6 reused" in capsys.readouterr().out

    parent = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "sweep")
    assert parent.data.metrics["mce.grayscale"] == pytest.approx(100.0)  # the baseline against itself
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "robustness")}
    assert {"robustness/mce.csv", "robustness/curves.csv", "robustness/psnr_mean_gaussian_noise.png"} <= artifacts
    assert main(["compare", "--robustness", "--tracking-uri", tracking_uri]) == 0
    out = capsys.readouterr().out
    assert "mCE (ssim)" in out and "gaussian_noise" in out and "drop %" in out


def test_robustness_summary_and_mce_by_hand():
    import pandas as pd

    from harness.report.robustness import curves, mce, setting_of

    assert setting_of("m[rf=35,degradation=jpeg/2]") == "m[rf=35]" and setting_of("m[degradation=jpeg/2]") == "m"
    rows = []
    for model, label, clean, noisy in (("grayscale", "grayscale", 0.9, (0.8, 0.6)), ("m", "m[x=1]", 0.95, (0.9, 0.8))):
        rows.append({"label": label, "model": model, "split": None, "ssim_mean": clean,
                     "param.degradation": "none", "param.degradation_severity": "0", "run_id": label})
        for severity, value in zip((1, 3), noisy):
            rows.append({"label": label.rstrip("]") + f",degradation=jpeg/{severity}]" if "[" in label
                         else f"{label}[degradation=jpeg/{severity}]", "model": model, "split": None,
                         "ssim_mean": value, "param.degradation": "jpeg", "param.degradation_severity": str(severity),
                         "run_id": f"{label}{severity}"})
    runs = pd.DataFrame(rows)
    table = mce(runs).set_index("setting")
    assert table.loc["grayscale", "mce"] == pytest.approx(100.0)
    assert table.loc["m[x=1]", "mce"] == pytest.approx(100 * (10 + 20) / (20 + 40))  # errors 100 - 100 x SSIM
    assert table.loc["m[x=1]", "relative_mce"] == pytest.approx(100 * (5 + 15) / (10 + 30))
    curve = curves(runs, ["ssim_mean"]).set_index(["setting", "severity"])
    assert curve.loc[("m[x=1]", 3), "drop"] == pytest.approx(-0.15)
    assert curve.loc[("m[x=1]", 3), "drop_rel"] == pytest.approx(-0.15 / 0.95)


def test_scans_without_ground_truth_run_reference_free(write_spec, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from harness.sweep.evaluate import evaluate  # noqa: F401 - the same path as run

    scans = tmp_path / "scans"
    scans.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):  # gray and sepia-toned scans: no colour original
        gray = rng.integers(0, 255, (40, 48), dtype=np.uint8)
        toned = np.stack([gray, (gray * 0.85).astype(np.uint8), (gray * 0.6).astype(np.uint8)], axis=2)
        Image.fromarray(gray if i else toned).save(scans / f"scan{i}.png")
    head = f"name: scans\ndataset:\n  source: folder\n  path: {scans}\n  ground_truth: none\nmodels:\n  - name: grayscale\n"
    with pytest.raises(HarnessError) as info:
        load_spec(write_spec(head))  # the default metrics compare with a truth
    assert "metrics" in str(info.value) and "ground_truth is none" in str(info.value)
    with pytest.raises(HarnessError) as info:
        load_spec(write_spec(head + "metrics: [colorfulness, psnr]\n"))
    assert "metrics[1]" in str(info.value)
    spec = write_spec(head + "metrics: [colorfulness]\ngrids: {count: 2}\ndevice: cpu\n"
                             "degradations: [none, {name: scratches, severity: 3}]\n")
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("scans")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "point"]
    assert len(runs) == 2
    for run in runs:
        assert run.data.metrics["n_scored"] == 3  # none excluded as grayscale: they are the inputs
        assert run.data.metrics["colorfulness_mean"] == pytest.approx(0.0)  # the grayscale baseline adds no colour
        assert "psnr_mean" not in run.data.metrics
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("grayscale:\n  colorfulness_mean: {max: 1.0}\n")
    assert main(["check", str(thresholds), "--tracking-uri", uri]) == 0
