"""Every spec shipped in experiments/ validates, and the peers sweep names the four families."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec", sorted(p.name for p in (ROOT / "experiments").glob("*.yaml") if p.name != "thresholds.yaml"))
def test_shipped_specs_validate(spec):
    assert load_spec(ROOT / "experiments" / spec).points


def test_peers_compares_the_four_families_on_every_split():
    loaded = load_spec(ROOT / "experiments" / "peers.yaml")
    models = list(dict.fromkeys(p.model for p in loaded.points))
    assert models == ["grayscale", "deoldify-artistic", "deoldify-stable", "zhang-eccv16", "zhang-siggraph17",
                      "ddcolor"]
    assert {p.split for p in loaded.points} == {"all", "animals", "vehicles", "people"}
    ddcolor = next(p for p in loaded.points if p.model == "ddcolor")
    assert (ddcolor.params.size, ddcolor.params.weights_variant, ddcolor.params.input_size) == ("large", "modelscope",
                                                                                                 512)


def test_paper_spec_asks_for_the_papers_metrics_at_256():
    loaded = load_spec(ROOT / "experiments" / "paper.yaml")
    assert [m.name for m in loaded.metrics] == ["fid", "kid", "colorfulness", "psnr", "ssim", "lpips"]
    assert loaded.spec.protocol == "resize256"
    assert [p.model for p in loaded.points] == ["grayscale", "deoldify-artistic"]
