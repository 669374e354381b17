"""`harness study create`: a stored, seeded, balanced study from a sweep's thumbnails, and its errors."""

from __future__ import annotations

import collections

import pytest

from harness.cli.main import main
from harness.study.store import FILE, TRUTH, open_study
from tests.study.conftest import POINTS

pytestmark = pytest.mark.slow


def create(uri, capsys, *args) -> str:
    assert main(["study", "create", "--tracking-uri", uri, *args]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    return out.split()[1].rstrip(":")


def test_a_preference_study_has_every_pair_on_every_image_in_a_seeded_order(sweep, capsys):
    uri, root = sweep
    study_id = create(uri, capsys, "--points", ",".join(POINTS), "--images", "3", "--seed", "7")
    study = open_study(study_id, uri)
    assert (root / "harness-studies" / study_id / FILE).is_file() and study.kind == "preference"
    assert len(study.meta["images"]) == 3 and len(study.trials) == 3 * 3
    pairs = collections.Counter(frozenset((t.left, t.right)) for t in study.trials)
    assert set(pairs.values()) == {3} and len(pairs) == 3  # every pair once per image
    assert {t.image_id for t in study.trials} == set(study.meta["images"])
    assert len({(t.image_id, frozenset((t.left, t.right))) for t in study.trials}) == 9  # no cell twice
    for k in range(3):  # each round of 3 trials holds every pair once, on 3 different images
        round_ = study.trials[3 * k: 3 * k + 3]
        assert len({frozenset((t.left, t.right)) for t in round_}) == 3 and len({t.image_id for t in round_}) == 3
    lefts = collections.Counter(t.left for t in study.trials)
    assert len(lefts) > 1  # sides are drawn, not the order of --points
    for t in study.trials:  # every image a trial shows is in the study's own file
        for key in ("gray", t.left, t.right):
            assert study.image(f"{t.image_id}|{key}")[:2] == b"\xff\xd8"
    assert main(["study", "create", "--tracking-uri", uri, "--points", ",".join(POINTS), "--images", "3",
                 "--seed", "7"]) == 2
    assert "already exists" in capsys.readouterr().err
    again = open_study(create(uri, capsys, "--points", ",".join(POINTS), "--images", "3", "--seed", "8"), uri)
    assert [(t.image_id, t.left, t.right) for t in again.trials] != [(t.image_id, t.left, t.right)
                                                                      for t in study.trials]


def test_a_real_or_fake_study_pairs_each_point_with_the_truth(sweep, capsys):
    uri, _ = sweep
    study = open_study(create(uri, capsys, "--points", POINTS[2], "--kind", "real-or-fake"), uri)
    assert all(TRUTH in (t.left, t.right) and POINTS[2] in (t.left, t.right) for t in study.trials)
    assert len(study.trials) == len(study.meta["images"]) >= 2


@pytest.mark.parametrize("args, message", [
    (["--points", "grayscale,fake-tint[strength=0.3]"], "no finished point 'fake-tint[strength=0.3]'. Did you mean"),
    (["--points", "grayscale"], "needs at least 2 point(s)"),
    (["--points", ",".join(POINTS), "--images", "50"], "this study needs 50"),
    (["--points", "grayscale,grayscale"], "names a point twice"),
])
def test_bad_requests_are_refused_with_the_reason(sweep, capsys, args, message):
    uri, _ = sweep
    assert main(["study", "create", "--tracking-uri", uri, *args]) == 2
    assert message in capsys.readouterr().err
    assert main(["study", "serve", "nosuch", "--tracking-uri", uri]) == 2
    assert "No study 'nosuch'" in capsys.readouterr().err


def test_points_that_kept_no_thumbnails_are_refused(sweep, capsys, tmp_path):
    root = sweep[1]
    uri = f"sqlite:///{tmp_path / 'bare.db'}"  # a store of its own: the other tests read the latest sweep
    spec = tmp_path / "bare.yaml"
    spec.write_text(f"name: study-bare\ndataset: {{source: folder, path: {root / 'photos'}}}\n"
                    "models: [{name: grayscale}, {name: fake-tint, strength: 0.2}]\nmetrics: [psnr]\n"
                    "grids: {count: 0}\nreport: {images: 0}\n")
    assert main(["run", str(spec), "--tracking-uri", uri, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["study", "create", "--tracking-uri", uri, "--experiment", "study-bare",
                 "--points", "grayscale,fake-tint[strength=0.2]"]) == 2
    err = capsys.readouterr().err
    assert "Point 'grayscale' kept no thumbnails" in err and "report.images" in err
