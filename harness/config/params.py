"""Typed parameters: the strict base every config model uses, and one validator for parameter mappings.

Every section of a spec, every model's `Params` and every metric's options forbid unknown keys
(`Strict`). `validate_params` is the one place a mapping of values (a spec's model entry, a
metric's options, `--set KEY=VALUE` on the command line) is checked against such a model: an
unknown key gets a "did you mean", a bad value the validator's message and the value given. It
raises a `ParamError` naming the key; the caller says where the key was written (a spec file and
line, a command-line flag). A boolean is never a number (pydantic alone reads `true` as 1): in a
`Strict` model and, through `validate_params`, in a plug-in's plain `BaseModel` too.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from harness.errors import did_you_mean


def _types(annotation: Any) -> list[Any]:
    """The alternatives of an annotation (`int | None` -> [int, NoneType]), Annotated unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _types(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return [t for a in typing.get_args(annotation) for t in _types(a)]
    return [annotation]


def bool_as_number(annotation: Any, value: Any) -> str | None:
    """Why `value` is refused for `annotation` when it is a boolean where a number is expected (pydantic
    would read `true` as 1), looking into lists, tuples and mappings; None when it is fine."""
    kinds = _types(annotation)
    if isinstance(value, bool):
        admits_bool = any(k in (bool, Any, object) or (typing.get_origin(k) is typing.Literal
                                                       and value in typing.get_args(k)) for k in kinds)
        numeric = any(k in (int, float) for k in kinds)
        return f"{str(value).lower()} is a boolean, not a number: write a number" if numeric and not admits_bool \
            else None
    for kind in kinds:
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin in (list, tuple, set, frozenset) and isinstance(value, (list, tuple, set)) and args:
            for item in value:
                if reason := bool_as_number(args[0], item):
                    return reason
        elif origin is dict and isinstance(value, Mapping) and len(args) == 2:
            for item in value.values():
                if reason := bool_as_number(args[1], item):
                    return reason
    return None


class Strict(BaseModel):
    """A config model whose unknown keys are errors, and where a boolean is never read as a number."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if field is not None and (reason := bool_as_number(field.annotation, value)):
                    raise PydanticCustomError("bool_as_number", "{reason}", {"key": key, "reason": reason,
                                                                            "value": value})
        return data


class NoParams(Strict):
    """The parameters (or options) of a model or metric that takes none."""


class ParamError(ValueError):
    """A parameter mapping that does not validate: the key at fault (None: the mapping), why, what to do."""

    def __init__(self, key: str | None, message: str, hint: str | None = None):
        super().__init__(message)
        self.key, self.message, self.hint = key, message, hint


def allowed(params: type[BaseModel]) -> str:
    return ", ".join(params.model_fields) or "none"


def validate_params(params: type[BaseModel], values: Mapping[str, Any] | None, *, owner: str,
                    what: str = "parameter") -> BaseModel:
    """`values` as a validated `params`; `owner` ("model 'x'", "metric 'lpips'") and `what`
    ("parameter", "option") word the errors."""
    fields = params.model_fields
    hint = f"{what.capitalize()}s of {owner}: {allowed(params)}."
    for key in values or {}:
        if key not in fields:
            raise ParamError(key, f"unknown {what} '{key}' for {owner}.{did_you_mean(key, fields)}", hint)
        if reason := bool_as_number(fields[key].annotation, values[key]):  # plug-ins' plain BaseModels too
            raise ParamError(key, f"{what} '{key}' of {owner}: {reason} (got {values[key]!r}).", hint)
    try:
        return params.model_validate(dict(values or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else None
        raise ParamError(key, f"{err['msg']} (got {err.get('input')!r}).", hint) from None
