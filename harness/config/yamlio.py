"""YAML loading that remembers where every key came from.

Specs and threshold files are hand-written; an error must point at the line to fix.
`load_yaml` returns the plain data plus a map from key path (a tuple such as
`("models", 1, "render_factor")`) to its 1-based line number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError

Loc = tuple[Any, ...]


@dataclass
class YamlDoc:
    """Parsed YAML data with the source line of every key path."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[Any]) -> int | None:
        """Line of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())

    def where(self, loc: Sequence[Any]) -> str:
        """'FILE, line N, key a.b[1].c' for messages."""
        line = self.line_of(loc)
        at = f"{self.path}, line {line}" if line else str(self.path)
        return f"{at}, key '{format_loc(loc)}'" if loc else at


def format_loc(loc: Sequence[Any]) -> str:
    """('models', 1, 'render_factor') -> 'models[1].render_factor'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else key_node.value
            sub = loc + (key,)
            lines[sub] = key_node.start_mark.line + 1
            _walk(value_node, sub, lines)
            lines[sub] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines)


def load_yaml(path: str | Path, *, what: str = "YAML file") -> YamlDoc:
    """Read `path`; a missing file or malformed YAML is a `HarnessError` naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{what} '{path}' does not exist.", hint="Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"Cannot read {what} '{path}': {exc}.") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise HarnessError(
            f"{what} '{path}'{at} is not valid YAML: {problem}.",
            hint="Fix the indentation or quoting there.",
        ) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return YamlDoc(path=path, data=data, lines=lines)
