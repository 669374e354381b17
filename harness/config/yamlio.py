"""YAML loading that remembers where every key came from.

Specs and threshold files are hand-written; an error must point at the line to fix.
`load_yaml` returns the plain data plus a map from key path (a tuple such as
`("models", 1, "render_factor")`) to its 1-based line number. A key given twice in one mapping
is an error naming both lines (YAML keeps the last silently), and a document whose aliases
expand beyond `MAX_NODES` nodes (an alias bomb) is refused before anything expands it.
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


#: The most nodes a document may hold once its aliases are expanded: a spec has a few hundred; an
#: alias bomb (nine levels of nine aliases each) has hundreds of millions, expanded by every reader.
MAX_NODES = 100_000


class _Refused(Exception):
    def __init__(self, line: int | None, message: str, hint: str):
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int]) -> int:
    """Nodes `node` stands for with every alias expanded, counted once per distinct node (memo), so
    counting costs the document's size, not the expansion's."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise _Refused(node.start_mark.line + 1, "an alias refers to the node that contains it (a recursive "
                                                 "structure)", "Remove the alias or the anchor it names.")
    open_.add(key)
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo, open_) + _expanded_size(v, memo, open_) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, memo, open_) for item in node.value)
    open_.discard(key)
    memo[key] = min(size, 1 << 62)
    return memo[key]


def _first_alias_line(text: str) -> int | None:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1
    return None


def _check_size(node: yaml.Node, text: str) -> None:
    """Refuse a document whose aliases expand beyond `MAX_NODES` nodes, before anything expands them."""
    size = _expanded_size(node, {}, set())
    if size > MAX_NODES:
        raise _Refused(_first_alias_line(text), f"its aliases (*name) expand to {size:,} nodes, more than the "
                                                f"{MAX_NODES:,} a spec may hold (an alias bomb?)",
                       "Write the values out, or use fewer nested aliases.")


def _key_of(key_node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else key_node.value


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _key_of(key_node)
            line = key_node.start_mark.line + 1
            if key_node.tag != "tag:yaml.org,2002:merge":  # '<<: *base' may repeat; its keys are overridable
                if key in seen:
                    where = f"{format_loc(loc)}: " if loc else ""
                    raise _Refused(line, f"{where}key '{key}' is given twice, on line {seen[key]} and on line {line} "
                                         f"(YAML would silently keep the last)", "Remove one of them.")
                seen[key] = line
            sub = loc + (key,)
            lines[sub] = line
            _walk(value_node, sub, lines)
            lines[sub] = line
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
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict[Loc, int] = {}
        if node is not None:
            _check_size(node, text)  # before anything (the walk below, the schema) expands an alias
            _walk(node, (), lines)
        data = yaml.safe_load(text)
    except _Refused as exc:
        at = f", line {exc.line}" if exc.line else ""
        raise HarnessError(f"{what} '{path}'{at} is refused: {exc.message}.", hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise HarnessError(
            f"{what} '{path}'{at} is not valid YAML: {problem}.",
            hint="Fix the indentation or quoting there.",
        ) from None
    return YamlDoc(path=path, data=data, lines=lines)
