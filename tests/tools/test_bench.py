"""`harness bench` measures both sides on random weights and ends with the ratio line."""

from __future__ import annotations

import re

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow


def test_bench_prints_figures(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))  # no cached official weights: random ones
    pytest.importorskip("deoldify", reason="upstream reference not installed")
    assert main(["bench", "--set", "render_factor=2", "--images", "2", "--rounds", "1", "--batch-size", "2",
                 "--vs-upstream", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("weights: random")
    assert "render_factor 2" in out[1] and "exact False" in out[1] and "batch 2" in out[1]
    assert any(re.match(r"harness model only: \d+\.\d+ images/s", line) for line in out)
    assert any("TFLOP/s" in line for line in out)
    assert re.fullmatch(r"outputs vs upstream: max \|diff\| \d+, p99\.9 \d+ grey levels, [\d.]+% of pixel channels "
                        r"differ", out[-2])
    assert re.fullmatch(r"ratio harness/upstream: \d+\.\d\d", out[-1])


def test_bench_exact_mode_matches_upstream_bit_for_bit(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    pytest.importorskip("deoldify", reason="upstream reference not installed")
    assert main(["bench", "--set", "render_factor=2", "--set", "exact=true", "--images", "2", "--rounds", "1",
                 "--batch-size", "2", "--vs-upstream", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("outputs vs upstream: max |diff| 0, p99.9 0 grey levels, 0.00%")


def test_bench_names_an_unknown_setting(capsys):
    assert main(["bench", "--set", "render_factr=2", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "render_factr" in err and "Did you mean 'render_factor'" in err


@pytest.mark.parametrize("model, settings, gflop", [
    ("zhang-eccv16", [], 83.5),  # the network always sees 256x256: docs/benchmarks.md's figure
    ("ddcolor", ["--set", "size=tiny", "--set", "input_size=64"], None),
    ("colorformer", ["--set", "input_size=64"], None),
], ids=["zhang-eccv16", "ddcolor-tiny", "colorformer-64"])
def test_bench_runs_each_peer_with_its_cost(capsys, tmp_path, monkeypatch, model, settings, gflop):
    """`harness bench --model NAME [--set ...]` for the peers: FLOPs per image beside images/s. (Their outputs
    against the reference code are the parity tests'; `--vs-upstream` is DeOldify's test above.)"""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))  # no cached official weights: random ones
    assert main(["bench", "--model", model, *settings, "--images", "1", "--rounds", "1", "--batch-size", "1",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("weights: random") and out[1].startswith(f"model {model} (")
    if model == "ddcolor":
        assert "size tiny" in out[1] and "input_size 64" in out[1] and "weights_variant paper_tiny" in out[1]
    if model == "colorformer":
        assert "input_size 64" in out[1] and "exact False" in out[1]
    flops = next(re.fullmatch(r"FLOPs per image: (\d+\.\d) GFLOP; achieved \d+\.\d+ TFLOP/s \(model only\)", line)
                 for line in out if line.startswith("FLOPs"))
    assert flops and float(flops.group(1)) > 0
    if gflop is not None:
        assert float(flops.group(1)) == pytest.approx(gflop, abs=0.1)
    assert re.fullmatch(r"harness end to end: \d+\.\d+ images/s \(outside the model: .*", out[-1])
