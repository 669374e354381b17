"""Reading a spec file into a validated `Spec`; every error names the file, the YAML line and the key path.

`spec_error` words an error at a key path of a loaded document, for the checks made later
against the model and metric registries (`harness.sweep.points`) as well as for the schema's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.config.schema import SOURCES, CocoSplit, GridSpec, SamplesData, Spec
from harness.config.yamlio import YamlDoc, format_loc, load_yaml
from harness.errors import HarnessError, did_you_mean


def spec_error(doc: YamlDoc, loc: tuple, message: str, hint: str | None = None) -> HarnessError:
    """'Invalid spec FILE, line N, key a.b[1]: message' with its hint."""
    return HarnessError(f"Invalid spec {doc.where(loc)}: {message}", hint=hint)


def _strip_tags(loc: tuple) -> tuple:
    """Drop pydantic's discriminator tag from a location ('dataset', 'folder', 'path')."""
    if len(loc) > 1 and loc[0] == "dataset" and loc[1] in SOURCES:
        return (loc[0],) + loc[2:]
    return loc


def _fields_at(loc: tuple, data: Any) -> list[str]:
    """Names of the keys allowed where `loc` points, for 'did you mean'."""
    parent = loc[:-1]
    if parent == ():
        return list(Spec.model_fields)
    if parent == ("dataset",):
        source = data.get("dataset", {}).get("source") if isinstance(data, dict) else None
        return list(SOURCES.get(source, SamplesData).model_fields)
    if parent == ("grids",):
        return list(GridSpec.model_fields)
    if len(parent) == 4 and parent[:2] == ("dataset", "splits"):
        return list(CocoSplit.model_fields)
    return []


def _pydantic_error(doc: YamlDoc, exc: ValidationError) -> HarnessError:
    errors = exc.errors()
    # a misspelt key shows up as both "unknown" and "missing": the unknown one says more
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = _strip_tags(tuple(err["loc"]))
    if err["type"] == "bool_as_number":  # raised for the model: the key at fault is in its context
        loc = loc + (err["ctx"]["key"],)
        return spec_error(doc, loc, f"{err['ctx']['reason']} (got {err['ctx']['value']!r}).")
    if err["type"] == "extra_forbidden":
        key = loc[-1]
        allowed = _fields_at(loc, doc.data)
        return spec_error(doc, loc, f"unknown key '{key}'.{did_you_mean(str(key), allowed)}",
                          hint=f"Allowed keys here: {', '.join(allowed)}." if allowed else None)
    if err["type"] == "missing":
        return spec_error(doc, loc, f"required key '{format_loc(loc)}' is missing.", hint="Add it to the spec.")
    if err["type"] == "union_tag_invalid" or (loc == ("dataset",) and "tag" in err["type"]):
        return spec_error(doc, ("dataset", "source"), f"{err['msg']}.",
                          hint="Use source: samples, folder, coco or video.")
    return spec_error(doc, loc, f"{err['msg']} (got {err.get('input')!r}).")


def read_spec(path: str | Path) -> tuple[Spec, YamlDoc]:
    """The spec at `path`, validated against the schema, and its document (for line numbers)."""
    doc = load_yaml(path, what="spec")
    if not isinstance(doc.data, dict):
        raise HarnessError(f"Spec '{doc.path}' must be a mapping of keys (name, dataset, models, ...), "
                           f"not {type(doc.data).__name__}.", hint="See experiments/quickstart.yaml for an example.")
    try:
        return Spec.model_validate(doc.data), doc
    except ValidationError as exc:
        raise _pydantic_error(doc, exc) from None
