"""`harness bench --suite gpu --out DIR`: every figure docs/benchmarks.md asks of a GPU, in one command.

The suite is a list of steps (`harness.tools.suite_steps`), each with a time budget (`Plan.budgets`,
380 s in all on a GPU). A step measures in parts (one render factor and precision, one batch size)
and starts a part only while its budget allows (the first part always runs); a step that stops
early says after how many parts. A part that runs far past the budget is interrupted by a hard
limit (the budget + `GRACE_S`, SIGALRM in the main thread), so the suite ends within
`Plan.hard_limit()` seconds. A step or part that fails is recorded with its error; the suite goes
on. `DIR/bench.json` (everything measured) and `DIR/bench.md` (the same as tables) are rewritten
after every step, so a killed suite leaves what finished.

`--dry-run` prints the steps and their budgets anywhere. Without it the suite needs a CUDA device;
`HARNESS_SUITE_DEVICE=cpu` (for tests only) runs the same step code on the CPU at `TINY` sizes.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.tools.suite_plan import GPU, GRACE_S, TINY, Plan, Step, StepContext
from harness.tools.suite_report import markdown
from harness.tools.suite_steps import STEPS


class StepTimeout(BaseException):
    """Raised by the hard limit (a BaseException, so the harness's `except Exception` handlers let it through)."""


@contextmanager
def hard_limit(seconds: float):
    """Interrupt the block after `seconds` (main thread only; elsewhere the budget checks alone hold)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):
        raise StepTimeout

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def describe(plan: Plan, steps: list[Step] | None = None) -> list[str]:
    """The dry run: each step, its budget and what it measures."""
    steps = steps if steps is not None else default_steps()
    total = sum(plan.budgets[s.name] for s in steps)
    lines = [f"harness bench --suite gpu: {len(steps)} steps, time budget {total:.0f} s in all (a step starts no "
             f"measurement its budget cannot hold; a measurement is interrupted {GRACE_S:.0f} s past it, so the "
             f"suite ends within {total + GRACE_S * len(steps):.0f} s)"]
    for i, step in enumerate(steps, 1):
        lines.append(f"  {i}. {step.name:<12} {plan.budgets[step.name]:5.0f} s  {step.what(plan)}")
    lines.append("Writes DIR/bench.json (every figure) and DIR/bench.md (the same as tables), after each step.")
    return lines


def default_steps() -> list[Step]:
    return list(STEPS)


def run_suite(out_dir: Path, device: str, plan: Plan = GPU, steps: list[Step] | None = None) -> dict[str, Any]:
    """Run `steps` (default: the GPU suite's) on `device`, writing DIR/bench.json and DIR/bench.md."""
    steps = steps if steps is not None else default_steps()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"suite": "gpu", "device": device, "started": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "plan": asdict(plan), "steps": []}
    start, shared = time.perf_counter(), {}
    with tempfile.TemporaryDirectory(prefix="harness-suite-") as tmp:
        for step in steps:
            budget = plan.budgets[step.name]
            ctx = StepContext(device, plan, Path(tmp), budget, record["steps"], shared)
            entry: dict[str, Any] = {"name": step.name, "what": step.what(plan), "budget_s": budget}
            print(f"[suite] {step.name}: {entry['what']} (budget {budget:.0f} s)", flush=True)
            try:
                with hard_limit(budget + GRACE_S):
                    entry["figures"] = step.run(ctx) or {}
                entry["status"] = "stopped" if ctx.stopped else "ok"
            except StepTimeout:
                entry["status"] = "stopped"
                ctx.stopped = (f"interrupted by the hard limit ({budget + GRACE_S:.0f} s): a measurement ran past the "
                               f"budget; {len(ctx.parts)} part(s) finished")
            except Exception as exc:  # noqa: BLE001 - the step is recorded as failed, the suite goes on
                entry["status"] = "failed"
                entry["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
                entry["traceback"] = traceback.format_exc()[-3000:]
            entry.update(seconds=round(ctx.elapsed(), 2), parts=ctx.parts)
            if ctx.stopped:
                entry["note"] = ctx.stopped
            record["steps"].append(entry)
            print(f"[suite] {step.name}: {entry['status']} in {entry['seconds']:.1f} s"
                  + (f" ({entry.get('note') or entry.get('error')})" if entry["status"] != "ok" else ""), flush=True)
            record["seconds"] = round(time.perf_counter() - start, 2)
            write(out_dir, record)
            _release(device)
    return record


def _release(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def write(out_dir: Path, record: dict[str, Any]) -> None:
    (out_dir / "bench.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    (out_dir / "bench.md").write_text(markdown(record))


def suite_command(name: str | None, out_dir: Path | None, dry_run: bool, device: str) -> int:
    """`harness bench --suite NAME`: the dry run, or the suite with its files; exit 1 when a step failed."""
    if name is None:
        raise HarnessError("--dry-run goes with --suite (`harness bench --suite gpu --dry-run`).")
    forced = os.environ.get("HARNESS_SUITE_DEVICE")  # tests only: the real step code, on the CPU, at TINY sizes
    plan = TINY if forced == "cpu" else GPU
    if dry_run:
        print("\n".join(describe(plan)))
        return 0
    if out_dir is None:
        raise HarnessError(f"`harness bench --suite {name}` needs --out DIR (where bench.json and bench.md go).")
    if forced == "cpu":
        print("HARNESS_SUITE_DEVICE=cpu: a test run of the suite on the CPU at tiny sizes; its figures say nothing "
              "about a GPU", flush=True)
        device = "cpu"
    else:
        device = _cuda_device(device)
    record = run_suite(out_dir, device, plan)
    failed = [s["name"] for s in record["steps"] if s["status"] == "failed"]
    print(f"Wrote {Path(out_dir) / 'bench.json'} and {Path(out_dir) / 'bench.md'} in {record['seconds']:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else "") + ".")
    return 1 if failed else 0


def _cuda_device(device: str) -> str:
    import torch

    if not torch.cuda.is_available():
        raise HarnessError("No CUDA GPU is visible: `harness bench --suite gpu` measures a GPU, and this machine "
                           "has none (or CUDA_VISIBLE_DEVICES hides it).",
                           hint="`harness bench --suite gpu --dry-run` prints its steps and their time budgets "
                                "here; run the suite on a machine with an NVIDIA GPU.")
    if device == "cpu":
        raise HarnessError("`harness bench --suite gpu` measures a GPU; --device cpu does not go with it.",
                           hint="Leave --device out (the first GPU) or name one: --device cuda:1.")
    if device == "auto":
        return "cuda"
    from harness.device import resolve_device

    return resolve_device(device)
