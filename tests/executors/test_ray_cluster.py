"""The Ray executor on a local Ray: the same tables as the local executor, a dead worker's shard
handed out again, and clear refusals when Ray is absent or its cluster unreachable."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import tests.fake_models  # noqa: F401
from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
name: {name}
dataset: {{source: samples}}
models:
  - name: fake-crash
    marker: {marker}
    after: 1
    log: {log}
metrics: {metrics}
grids: {{count: 2}}
batch_size: 1
shard_size: 2
device: cpu
executor: {{kind: {kind}, workers: 2}}
"""


PIXEL = "[psnr, ssim, colorfulness]"


def only_point(uri: str, name: str):
    client = MlflowClient(uri)
    (run,) = [r for r in client.search_runs([client.get_experiment_by_name(name).experiment_id])
              if r.data.tags.get("harness.kind") == "point"]
    return run


def per_image(uri: str, run, dest: Path) -> pd.DataFrame:
    table = pd.read_csv(MlflowClient(uri).download_artifacts(run.info.run_id, "per_image.csv", str(dest)))
    return table.drop(columns=["seconds"])


@pytest.mark.slow
def test_ray_gives_the_local_tables_and_survives_a_worker_killed_mid_shard(write_spec, tracking_uri, tmp_path,
                                                                          monkeypatch, capsys, caplog, inception_file):
    pytest.importorskip("ray", reason="ray is a test dependency (the optional `ray` extra)")
    monkeypatch.setenv("HARNESS_PLUGINS", "tests.fake_models")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the workers import the plug-in from the checkout
    (tmp_path / "no-crash").touch()
    metrics = f"[psnr, ssim, colorfulness, {{name: fid, weights: {inception_file}}}, " \
              f"{{name: kid, weights: {inception_file}}}]"  # FID and KID too: their rows come from the workers
    local = write_spec(SPEC.format(name="local", marker=tmp_path / "no-crash", log=tmp_path / "local.log",
                                   kind="local", metrics=metrics), "local.yaml")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' numerics (cpus_per_worker 1): the thread count moves float32 sums
    try:  # of the Inception features (FID by ~2e-6 relative measured), so equal numbers need equal threads
        assert main(["run", str(local), "--tracking-uri", tracking_uri, "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)

    ray_log = tmp_path / "ray.log"
    remote = write_spec(SPEC.format(name="ray", marker=tmp_path / "crashed", log=ray_log, kind="local",
                                    metrics=metrics), "ray.yaml")
    code = main(["run", str(remote), "--tracking-uri", tracking_uri, "--no-progress", "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (tmp_path / "crashed").exists()  # a worker really was killed (SIGKILL) inside its first shard
    assert "a Ray worker died during shard" in caplog.text

    ours, theirs = only_point(tracking_uri, "local"), only_point(tracking_uri, "ray")
    assert theirs.data.params["executor"] == "ray" and ours.data.params["executor"] == "local"
    a, b = per_image(tracking_uri, ours, tmp_path / "a"), per_image(tracking_uri, theirs, tmp_path / "b")
    assert b["image_id"].is_unique and len(b) == 9  # every image once
    pd.testing.assert_frame_equal(a, b)
    for key in ("psnr_mean", "ssim_mean", "colorfulness_mean", "cf_delta", "n_scored", "n_excluded", "n_fid"):
        assert ours.data.metrics[key] == theirs.data.metrics[key], key
    for key in ("fid", "kid_mean", "kid_std"):  # reduced in the driver from the rows the workers sent
        assert abs(ours.data.metrics[key] - theirs.data.metrics[key]) <= 1e-9 * abs(ours.data.metrics[key]), key
    pids = {line.split()[0] for line in ray_log.read_text().splitlines()}
    assert len(pids) >= 2  # the work was spread over several worker processes
    assert theirs.data.metrics["n_model_images"] == 8  # counted once, although a shard was handed out twice


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_ray_address_is_a_clear_error_and_logs_nothing(write_spec, tracking_uri, tmp_path,
                                                                     monkeypatch, capsys):
    pytest.importorskip("ray", reason="ray is a test dependency (the optional `ray` extra)")
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    spec = write_spec(SPEC.format(name="unreachable", marker=tmp_path / "m", log=tmp_path / "l", kind="ray",
                                  metrics=PIXEL))
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"Cannot reach the Ray cluster at '{address}'" in err and "RAY_ADDRESS" in err
    assert MlflowClient(tracking_uri).get_experiment_by_name("unreachable") is None  # no run was logged


def test_without_ray_the_executor_says_how_to_install_it(write_spec, tracking_uri, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the package were not installed
    spec = write_spec(SPEC.format(name="noray", marker=tmp_path / "m", log=tmp_path / "l", kind="local", metrics=PIXEL))
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress", "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert "needs the `ray` package" in err and "pip install -e '.[ray]'" in err
