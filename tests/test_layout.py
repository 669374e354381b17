"""The package's shape: imports go one way through the layers of docs/architecture.md, no import cycle
anywhere in harness/ (imports inside functions count too), modules stay small, and the command line
starts without torch or MLflow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"
MAX_LINES = 320
#: The layers, lowest first (docs/architecture.md). A module may import its own unit (package or
#: foundation module group) and any unit of a lower layer; units of one layer never import each other.
LAYERS = [
    [("foundation", ["harness", "harness.errors", "harness.console", "harness.device", "harness.gray",
                     "harness.locks", "harness.paths"])],
    [("config", ["harness.config"]), ("assets", ["harness.assets"])],
    [("models", ["harness.models"]), ("metrics", ["harness.metrics"])],
    [("data", ["harness.data"])],
    [("pipeline", ["harness.pipeline"])],
    [("executors", ["harness.executors"])],
    [("report", ["harness.report"])],
    [("tracking", ["harness.tracking"])],
    [("sweep", ["harness.sweep"])],
    [("tools", ["harness.tools"]), ("study", ["harness.study"])],
    [("cli", ["harness.cli"])],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Harness modules `path` imports anywhere in its body: `from a.b import c` is a.b.c when that is a module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_the_package():
    known = set(modules())
    graph = {name: imports_of(path, known) for name, path in modules().items()}
    assert "harness.data.coco_report" in graph["harness.data.coco"]  # the parser sees function-level imports too
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def unit_of(module: str) -> tuple[int, str]:
    """(layer, unit) of a harness module: the longest prefix named in LAYERS."""
    best = None
    for level, units in enumerate(LAYERS):
        for unit, prefixes in units:
            for prefix in prefixes:
                inside = module == prefix or (prefix != "harness" and module.startswith(prefix + "."))
                if inside and (best is None or len(prefix) > best[2]):
                    best = (level, unit, len(prefix))
    assert best is not None, f"{module} is in no layer of LAYERS: add it"
    return best[0], best[1]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, deps in sorted(graph.items()):
        level, unit = unit_of(module)
        for dep in sorted(deps):
            dep_level, dep_unit = unit_of(dep)
            if dep_unit != unit and dep_level >= level:
                found.append(f"{module} ({unit}, layer {level}) imports {dep} ({dep_unit}, layer {dep_level})")
    return found


def test_imports_go_one_way_through_the_layers():
    known = set(modules())
    graph = {name: imports_of(path, known) for name, path in modules().items()}
    assert layer_violations(graph) == []


def test_the_layer_check_catches_an_upward_and_a_sideways_import():
    graph = {"harness.pipeline.process": {"harness.sweep.shards"}, "harness.models.base": {"harness.metrics"},
             "harness.sweep.shards": {"harness.pipeline.types"}, "harness.sweep": set(), "harness.metrics": set(),
             "harness.pipeline.types": set()}
    assert layer_violations(graph) == [
        "harness.models.base (models, layer 2) imports harness.metrics (metrics, layer 2)",
        "harness.pipeline.process (pipeline, layer 4) imports harness.sweep.shards (sweep, layer 8)"]


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_modules_stay_small():
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_cli_starts_without_torch_or_mlflow():
    code = ("import sys; from harness.cli import cli; from harness.sweep.points import load_spec; "
            "print(sorted(m for m in ('torch', 'mlflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
