"""`harness bench --suite gpu`: the dry run, the refusal without a GPU, and the suite's real step code
run on the CPU at tiny sizes (`HARNESS_SUITE_DEVICE=cpu`, for tests only), with its budget stops,
its hard limit and a failing step recorded rather than raised."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
import torch

from harness.cli import main
from harness.tools import suite
from harness.tools.suite import GPU, TINY, Step, run_suite
from harness.tools.suite_steps import STEPS, dense_bf16_peak


def steps_named(*names):
    return [s for s in STEPS if s.name in names]


def check_markdown(text: str) -> None:
    """Every table: a header, a separator, and rows with the header's number of cells."""
    blocks, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks, current = blocks + [current], []
    assert blocks
    for block in blocks:
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in block}
        assert len(block) >= 3 and len(widths) == 1 and set(block[1]) <= set("|- "), block


def test_the_dry_run_prints_every_step_and_its_budget_within_8_minutes(capsys):
    assert main(["bench", "--suite", "gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("harness bench --suite gpu: 4 steps, time budget 380 s in all")
    for number, name in enumerate(["environment", "vs_upstream", "model_only", "end_to_end"], 1):
        line = next(x for x in out if re.match(rf"\s+{number}\. {name}\s+\d+ s  ", x))
        assert f"{GPU.budgets[name]:.0f} s" in line
    assert "render factor 35, 21, 10 x fp32, bf16" in "\n".join(out) and "bench.json" in out[-1]
    assert GPU.hard_limit() <= 8 * 60  # the budgets and the hard stops together fit in 8 minutes


def test_without_a_gpu_the_suite_says_so_and_suggests_the_dry_run(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_SUITE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "--suite", "gpu", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No CUDA GPU is visible" in err and "--suite gpu --dry-run" in err
    assert not (tmp_path / "out").exists()


def test_the_suite_needs_out_and_dry_run_needs_the_suite(capsys):
    assert main(["bench", "--suite", "gpu"]) == 2
    assert "--out DIR" in capsys.readouterr().err
    assert main(["bench", "--dry-run"]) == 2
    assert "--dry-run goes with --suite" in capsys.readouterr().err


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0), ("NVIDIA H200", 989.0),
    ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A100 80GB PCIe", 312.0), ("NVIDIA L4", 121.0),
    ("NVIDIA L40S", 362.0), ("NVIDIA L40", None), ("NVIDIA GeForce RTX 4090", None)])
def test_dense_bf16_peaks_of_known_devices(name, peak):
    assert dense_bf16_peak(name) == peak


@pytest.mark.slow
def test_the_suite_on_the_cpu_runs_every_step_and_writes_json_and_markdown(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_SUITE_DEVICE", "cpu")  # the real steps, at TINY sizes
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # no cached official weights: random ones
    monkeypatch.setenv("HARNESS_JOURNAL", str(tmp_path / "journal"))
    out = tmp_path / "out"
    assert main(["bench", "--suite", "gpu", "--out", str(out)]) == 0, capsys.readouterr().err[-3000:]
    record = json.loads((out / "bench.json").read_text())
    steps = {s["name"]: s for s in record["steps"]}
    assert list(steps) == ["environment", "vs_upstream", "model_only", "end_to_end"]
    assert all(s["status"] == "ok" for s in steps.values()), [s.get("error") for s in steps.values()]
    env = steps["environment"]["figures"]
    assert env["torch"] == torch.__version__ and env["dense_bf16_peak_tflops"] == "unknown"
    assert env["bf16_matmul_tflops"] > 0
    (upstream,) = steps["vs_upstream"]["parts"]
    assert upstream["render_factor"] == 2 and upstream["precision"] == "fp32"
    try:
        import deoldify  # noqa: F401
    except ImportError:
        assert "error" in upstream  # recorded, not raised
    else:
        assert upstream["ratio"] > 0 and upstream["upstream_ips"] > 0 and upstream["max_diff"] <= 8
    parts = steps["model_only"]["parts"]
    assert [p["batch"] for p in parts] == [1, 2] and all(p["tflops"] > 0 for p in parts)
    assert [p["forward_batch"] for p in parts] == ["1", "2"]  # one pass per batch: no silent fallback
    e2e = steps["end_to_end"]
    assert e2e["figures"]["images_scored"] == 4 and e2e["figures"]["images_per_second"] > 0
    assert {"decode", "colorize", "model", "score"} <= {p["stage"] for p in e2e["parts"]}
    md = (out / "bench.md").read_text()
    assert "## 1. environment: ok" in md and "## 4. end_to_end: ok" in md and "| stage | seconds |" in md
    check_markdown(md)


@pytest.mark.slow
def test_a_step_stops_at_its_budget_after_its_first_measurement(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(suite, "GRACE_S", 600.0)  # the budget checks alone, not the hard limit
    plan = dataclasses.replace(TINY, budgets={**TINY.budgets, "model_only": 0.01})
    record = run_suite(tmp_path / "out", "cpu", plan, steps_named("model_only"))
    (step,) = record["steps"]
    assert step["status"] == "stopped" and len(step["parts"]) == 1 and step["parts"][0]["tflops"] > 0
    assert step["note"].startswith("stopped at its budget (0 s) after 1 of 2 batch sizes; not measured: 2")
    assert "**stopped at its budget**" in (tmp_path / "out" / "bench.md").read_text()


def test_a_measurement_far_past_its_budget_is_interrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "GRACE_S", 0.3)
    slow = Step("environment", lambda p: "sleeps", lambda ctx: time.sleep(30))
    plan = dataclasses.replace(TINY, budgets={"environment": 0.2})
    start = time.perf_counter()
    record = run_suite(tmp_path, "cpu", plan, [slow])
    assert time.perf_counter() - start < 5
    (step,) = record["steps"]
    assert step["status"] == "stopped" and "hard limit" in step["note"]


def test_a_failing_step_is_recorded_with_its_error_and_the_suite_goes_on(tmp_path):
    def broken(ctx):
        raise RuntimeError("CUDA error: an illegal memory access")

    def fine(ctx):
        ctx.measure({"batch": 1}, lambda: {"x": 1.5})
        ctx.measure({"batch": 2}, lambda: 1 / 0)
        return {"done": True}

    plan = dataclasses.replace(TINY, budgets={"vs_upstream": 5, "model_only": 5})
    record = run_suite(tmp_path, "cpu", plan, [Step("vs_upstream", lambda p: "breaks", broken),
                                               Step("model_only", lambda p: "works", fine)])
    first, second = record["steps"]
    assert first["status"] == "failed" and first["error"] == "RuntimeError: CUDA error: an illegal memory access"
    assert "Traceback" in first["traceback"]
    assert second["status"] == "ok" and second["parts"][0]["x"] == 1.5
    assert second["parts"][1]["error"] == "ZeroDivisionError: division by zero"
    assert json.loads((tmp_path / "bench.json").read_text())["steps"][0]["status"] == "failed"
    md = (tmp_path / "bench.md").read_text()
    assert "## 1. vs_upstream: **failed**" in md and "illegal memory access" in md
    check_markdown(md)
