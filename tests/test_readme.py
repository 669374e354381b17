"""The README's two set-up commands stay true: CI runs the test one verbatim, the quickstart spec validates."""

from __future__ import annotations

import re
from pathlib import Path

from harness.sweep.points import load_spec

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_ci_runs_the_readme_test_command():
    blocks = bash_blocks()
    test_command = next(b for b in blocks if "pytest" in b)
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_quickstart_command_names_a_valid_spec():
    quick = next(b for b in bash_blocks() if "harness run" in b)
    spec = re.search(r"harness run (\S+)", quick).group(1)
    assert load_spec(ROOT / spec).points


def test_quickstart_colorizes_with_deoldify_beside_the_baseline():
    quick = next(b for b in bash_blocks() if "harness run" in b)
    loaded = load_spec(ROOT / re.search(r"harness run (\S+)", quick).group(1))
    assert loaded.spec.dataset.source == "samples"
    assert [(p.model, p.resolved.get("render_factor")) for p in loaded.points] == [
        ("grayscale", None), ("deoldify-artistic", 10), ("deoldify-artistic", 20), ("deoldify-artistic", 35)]
