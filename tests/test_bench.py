"""`harness bench` measures both sides on random weights and ends with the ratio line."""

from __future__ import annotations

import re

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow


def test_bench_prints_figures(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))  # no cached official weights: random ones
    pytest.importorskip("deoldify", reason="upstream reference not installed")
    assert main(["bench", "--render-factor", "2", "--images", "2", "--rounds", "1", "--batch-size", "2",
                 "--vs-upstream", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("weights: random")
    assert any(re.match(r"harness model only: \d+\.\d+ images/s", line) for line in out)
    assert any("TFLOP/s" in line for line in out)
    assert re.fullmatch(r"ratio harness/upstream: \d+\.\d\d", out[-1])
