"""`harness data sample`: the datasets the harness writes itself, readable by its own sources."""

from __future__ import annotations

from harness.cli import main
from harness.config.schema import CocoData, CocoSplit, VideoData
from harness.data import build_dataset


def test_the_samples_are_a_coco_folder_and_a_clip_the_sources_read(tmp_path, capsys):
    assert main(["data", "sample", "--dest", str(tmp_path / "s")]) == 0
    assert "not for numbers to publish" in capsys.readouterr().out
    coco = CocoData(source="coco", images=tmp_path / "s/coco/images", annotations=tmp_path / "s/coco/instances.json",
                    splits={"all": CocoSplit(), "animals": CocoSplit(supercategories=["animal"])})
    assert len(build_dataset(coco, "all")) == 5 and [s.id for s in build_dataset(coco, "animals").samples] == ["2"]
    video = build_dataset(VideoData(source="video", path=tmp_path / "s/video"))
    assert len(video) == 48 and video.samples[0].load().shape == (240, 320, 3)
    frames = [video.samples[i].load().astype(int) for i in (0, 1)]
    assert abs(frames[0] - frames[1]).mean() > 1  # a pan: consecutive frames differ
    before = (tmp_path / "s/video/pan.mp4").stat().st_mtime_ns
    assert main(["data", "sample", "--dest", str(tmp_path / "s")]) == 0  # nothing rewritten
    assert (tmp_path / "s/video/pan.mp4").stat().st_mtime_ns == before
