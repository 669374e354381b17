"""`DIR/bench.md` of `harness bench --suite gpu`: the suite's record (`bench.json`) as tables, a section per step."""

from __future__ import annotations

from typing import Any

#: long values kept in bench.json only
LEFT_OUT = ("batching", "traceback")


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return " ".join(str(value).split()).replace("|", "\\|")


def table(rows: list[dict[str, Any]]) -> list[str]:
    """A markdown table of `rows`, with the union of their keys as columns (in order of appearance)."""
    columns = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in LEFT_OUT]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return lines


def status(step: dict[str, Any]) -> str:
    took = f"{step.get('seconds', 0):.1f} s of its {step['budget_s']:.0f} s budget"
    return {"ok": f"ok ({took})", "stopped": f"**stopped at its budget** ({took})",
            "failed": f"**failed** ({took})"}.get(step.get("status", ""), str(step.get("status")))


def markdown(record: dict[str, Any]) -> str:
    env = next((s for s in record["steps"] if s["name"] == "environment"), {})
    name = (env.get("figures") or {}).get("device_name", "unknown")
    lines = ["# harness bench --suite gpu", "",
             f"Device {record['device']} ({name}); started {record['started']}; {record.get('seconds', 0):.0f} s in "
             f"all. Every figure is also in bench.json.", ""]
    for i, step in enumerate(record["steps"], 1):
        lines += [f"## {i}. {step['name']}: {status(step)}", "", step["what"] + ".", ""]
        if step.get("note"):
            lines += [f"Note: {cell(step['note'])}", ""]
        if step.get("error"):
            lines += [f"Error: `{cell(step['error'])}`", ""]
        figures = {k: v for k, v in (step.get("figures") or {}).items() if k not in LEFT_OUT}
        if figures:
            lines += table([{"figure": k, "value": v} for k, v in figures.items()]) + [""]
        if step.get("parts"):
            lines += table(step["parts"]) + [""]
    return "\n".join(lines)
