"""End to end: a spec run through the CLI into a real MLflow store, read back through MLflow's API."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

import tests.fake_models  # noqa: F401
from harness.cli import main
from harness.tracking import layout

pytestmark = pytest.mark.slow

SPEC = """\
name: e2e
dataset:
  source: samples
  limit: 4
  seed: 3
models:
  - name: grayscale
  - name: fake-tint
    strength: [0.1, 0.3]
grids: {count: 3}
batch_size: 2
device: cpu
"""


@pytest.fixture
def finished_sweep(write_spec, tracking_uri, capsys):
    spec = write_spec(SPEC)
    code = main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return spec, tracking_uri, out


def sweep_runs(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("harness.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("harness.kind") == "point"]
    return parents, children


def test_run_logs_parent_children_and_artifacts(finished_sweep):
    _, uri, out = finished_sweep
    client = MlflowClient(uri)
    parents, children = sweep_runs(client, "e2e")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags[layout.PARENT] for c in children} == {parent.info.run_id}
    assert sorted(json.loads(parent.data.tags[layout.CHILDREN])) == sorted(c.info.run_id for c in children)
    parent_files = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"spec", "sweep.json", "plots", "comparison.csv"} <= parent_files
    assert [f.path for f in client.list_artifacts(parent.info.run_id, "spec")] == ["spec/spec.yaml"]

    labels = {c.data.tags["harness.label"] for c in children}
    assert labels == {"grayscale", "fake-tint[strength=0.1]", "fake-tint[strength=0.3]"}
    for child in children:
        assert child.info.status == "FINISHED"
        p, m = child.data.params, child.data.metrics
        assert p["dataset.source"] == "samples" and p["dataset.size"] == "4" and p["seed"] == "3"
        assert p["device"] == "cpu" and p["harness_version"] and p["git_commit"]
        assert p["model"] == child.data.tags["harness.model"]
        for key in ("psnr_mean", "psnr_p05", "psnr_p95", "psnr_ci95_low", "ssim_mean", "delta_e_mean",
                    "cf_delta", "n_scored", "n_failed", "n_excluded", "seconds_total", "images_per_second"):
            assert key in m, key
        assert not any(k.startswith(("astronaut", "chelsea", "coffee", "camera", "rocket")) for k in m)
        files = {f.path for f in client.list_artifacts(child.info.run_id)}
        assert {"per_image.json", "per_image.csv", "grids", "plots"} <= files
        grids = [f.path for f in client.list_artifacts(child.info.run_id, "grids")]
        assert grids == ["grids/samples.png"]
        plots = {f.path for f in client.list_artifacts(child.info.run_id, "plots")}
        assert "plots/psnr_distribution.png" in plots and "plots/ssim_distribution.png" in plots
        assert len(child.inputs.dataset_inputs) == 1
    tint = next(c for c in children if c.data.tags["harness.label"] == "fake-tint[strength=0.3]")
    assert tint.data.params["strength"] == "0.3" and tint.data.params["channel"] == "red"
    assert "[done] grayscale" in out.err


def test_per_image_table_reads_back(finished_sweep, tmp_path):
    import pandas as pd

    _, uri, _ = finished_sweep
    client = MlflowClient(uri)
    _, children = sweep_runs(client, "e2e")
    child = next(c for c in children if c.data.tags["harness.label"] == "grayscale")
    path = client.download_artifacts(child.info.run_id, "per_image.csv", str(tmp_path))
    table = pd.read_csv(path)
    assert len(table) == 4
    ok = table[table.status == "ok"]
    assert child.data.metrics["psnr_mean"] == pytest.approx(ok["psnr"].mean())
    assert child.data.metrics["n_scored"] == len(ok)


def test_rerun_reuses_finished_points(finished_sweep, capsys):
    spec, uri, _ = finished_sweep
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0
    assert capsys.readouterr().err.count("[reused]") == 3
    client = MlflowClient(uri)
    parents, children = sweep_runs(client, "e2e")
    assert len(parents) == 2 and len(children) == 3  # a new sweep, no duplicate point runs
    latest = max(parents, key=lambda r: r.info.start_time)
    assert sorted(json.loads(latest.data.tags[layout.CHILDREN])) == sorted(c.info.run_id for c in children)
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress", "--force"]) == 0
    _, children = sweep_runs(client, "e2e")
    assert len(children) == 6
    keys = [c.data.tags[layout.KEY] for c in children]
    assert len(set(keys)) == 3


def test_compare_and_check_on_the_store(finished_sweep, capsys, tmp_path):
    _, uri, _ = finished_sweep
    capsys.readouterr()
    assert main(["compare", "--tracking-uri", uri, "--metric", "psnr_mean", "--format", "csv"]) == 0
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table["rank"]) == [1, 2, 3]
    assert table["value"].is_monotonic_decreasing
    assert table.loc[table.label == "grayscale", "vs_baseline"].iloc[0] == pytest.approx(0.0)

    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("grayscale:\n  psnr_mean: {min: 1.0}\n  cf_delta: {max: 1000}\n")
    assert main(["check", str(thresholds), "--tracking-uri", uri]) == 0
    thresholds.write_text("grayscale:\n  psnr_mean: {min: 99.0}\n")
    assert main(["check", str(thresholds), "--tracking-uri", uri]) == 1
    assert "psnr_mean" in capsys.readouterr().out
    thresholds.write_text("deoldify-artistic:\n  psnr_mean: {min: 1.0}\n")
    assert main(["check", str(thresholds), "--tracking-uri", uri]) == 2


def test_dry_run_prints_points_and_logs_nothing(write_spec, tracking_uri, capsys, tmp_path):
    spec = write_spec(SPEC)
    assert main(["run", str(spec), "--dry-run", "--tracking-uri", tracking_uri]) == 0
    out = capsys.readouterr().out
    assert "3 sweep point(s)" in out and "fake-tint[strength=0.3]" in out
    assert not (tmp_path / "mlflow.db").exists()


def test_reused_points_show_under_the_latest_sweep(finished_sweep):
    """MLflow's UI nests runs by one parent tag: a reused point moves under the sweep reusing it,
    and keeps the sweep that produced it as harness.first_parent."""
    spec, uri, _ = finished_sweep
    client = MlflowClient(uri)
    first_parent = sweep_runs(client, "e2e")[0][0].info.run_id
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0
    parents, children = sweep_runs(client, "e2e")
    latest = max(parents, key=lambda r: r.info.start_time).info.run_id
    assert {c.data.tags[layout.PARENT] for c in children} == {latest}
    assert {c.data.tags["harness.first_parent"] for c in children} == {first_parent}
    exp = client.get_experiment_by_name("e2e")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_compare_and_check_say_which_experiment_and_sweep_they_read(finished_sweep, write_spec, capsys, tmp_path):
    spec, uri, _ = finished_sweep
    parent = sweep_runs(MlflowClient(uri), "e2e")[0][0].info.run_id
    other = write_spec(SPEC.replace("name: e2e", "name: other").replace("strength: [0.1, 0.3]", "strength: 0.2"),
                       "other.yaml")
    assert main(["run", str(other), "--tracking-uri", uri, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", "--tracking-uri", uri]) == 0
    err = capsys.readouterr().err
    assert "Experiment 'other'" in err and "latest sweep" in err and "--experiment" in err
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("experiment: e2e\n\"fake-tint[strength=0.3]\":\n  psnr_mean: {min: 1.0}\n")
    assert main(["check", str(thresholds), "--tracking-uri", uri]) == 0  # not the latest experiment: e2e's point
    err = capsys.readouterr().err
    assert f"Experiment 'e2e', sweep run {parent}" in err and "latest sweep" not in err
    thresholds.write_text("\"fake-tint[strength=0.3]\":\n  psnr_mean: {min: 1.0}\n")
    assert main(["check", str(thresholds), "--tracking-uri", uri]) == 2  # the latest experiment has no such point
    assert "Experiment 'other'" in capsys.readouterr().err


def test_compare_lists_failed_points_and_a_failing_point_fails_its_run(write_spec, tracking_uri, capsys):
    spec = write_spec("""\
name: broken
dataset: {source: samples, limit: 2}
models:
  - name: grayscale
  - name: fake-broken
    mode: harness_error
device: cpu
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "[failed] fake-broken[mode=harness_error]: fake-broken: the model's configuration broke" in err
    client = MlflowClient(tracking_uri)
    parents, children = sweep_runs(client, "broken")
    statuses = {c.data.tags["harness.label"]: c.info.status for c in children}
    assert statuses == {"grayscale": "FINISHED", "fake-broken[mode=harness_error]": "FAILED"}
    assert parents[0].info.status == "FAILED"
    assert main(["compare", "--tracking-uri", tracking_uri]) == 0
    out = capsys.readouterr().out
    assert "grayscale" in out and "Not ranked: 1 point(s) failed" in out
    assert "fake-broken[mode=harness_error]: fake-broken: the model's configuration broke mid-run." in out
    assert main(["compare", "--tracking-uri", tracking_uri, "--format", "csv"]) == 0
    both = capsys.readouterr()
    assert "Not ranked" in both.err and "Not ranked" not in both.out  # the CSV stays parseable


def test_a_fallback_is_a_warning_on_the_run_and_in_the_output(write_spec, tracking_uri, photo_dir, capsys):
    """A batch the model fails on is colorized image by image: said on stderr and on the run (tag, description)."""
    spec = write_spec(f"""\
name: fallback
dataset: {{source: folder, path: {photo_dir}}}
models:
  - name: fake-fragile
    min_width: 80
metrics: [psnr]
grids: {{count: 0}}
batch_size: 8
device: cpu
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    message = "the model failed on a batch of 4 images (RuntimeError: image too narrow: 71 px); they were " \
              "colorized one at a time"
    assert f"[warning] fake-fragile[min_width=80]: {message}" in capsys.readouterr().err
    client = MlflowClient(tracking_uri)
    (run,) = [r for r in client.search_runs([client.get_experiment_by_name("fallback").experiment_id])
              if r.data.tags.get(layout.KIND) == layout.POINT]
    assert run.data.tags[layout.WARNINGS] == message and message in run.data.tags[layout.DESCRIPTION]
