"""Integration on the real clip of ../shared/data/video-sample: the shipped video spec, offline."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from harness.cli import main
from tests.conftest import VIDEO_SAMPLE, decoded

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (VIDEO_SAMPLE / "bedroom.mp4").is_file(),
    reason="../shared/data/video-sample is absent (it exists only beside the dev checkout)")]


def test_shipped_video_spec_offline_runs_the_baseline_and_fails_deoldify_fast(tmp_path, tracking_uri, capsys,
                                                                                monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # no cached weights, whatever this machine has
    spec = yaml.safe_load((ROOT / "experiments" / "video.yaml").read_text())
    assert spec["dataset"]["path"][0] == "../shared/data/video-sample/" and spec["models"][1]["render_factor"] == 21
    spec["dataset"].update(path=str(VIDEO_SAMPLE), max_frames=10, preview_frames=4)  # the same, shorter
    path = tmp_path / "video.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--tracking-uri", tracking_uri, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "[failed] deoldify-video" in err and "ColorizeVideo_gen.pth" in err and "[done] grayscale" in err
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("video")
    (point,) = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("harness.kind") == "point"]
    metrics = point.data.metrics
    assert metrics["n_scored"] == 10 and metrics["n_clips"] == 1
    assert 0 < metrics["cdc_mean"] < 0.01 and 0 < metrics["warp_error_gt_mean"] < 0.01
    assert metrics["flicker_mean"] < 1e-3 < metrics["flicker_gt_mean"]  # gray output does not flicker
    local = Path(client.download_artifacts(point.info.run_id, "", str(tmp_path / "artifacts")))
    assert {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()} >= {
        "per_image.csv", "per_clip.csv", "videos/only_bedroom.mp4", "plots/chroma_over_time.png", "grids/samples.png"}
    rows = list(csv.DictReader(io.StringIO((local / "per_image.csv").read_text())))
    assert [(r["clip"], r["frame"]) for r in rows[:2]] == [("bedroom.mp4", "0"), ("bedroom.mp4", "1")]
    preview = decoded(local / "videos" / "only_bedroom.mp4")
    assert len(preview) == 4 and preview[0].shape[0] == 376  # 360 px panels under a 16 px caption

