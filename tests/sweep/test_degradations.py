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
    text = BASE + "metrics: [psnr]\ngrids: {count: 0}\ndevice: cpu\n" \
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
