"""Typed parameters: the strict base every config model uses, and one validator for parameter mappings.

Every section of a spec, every model's `Params` and every metric's options forbid unknown keys
(`Strict`). `validate_params` is the one place a mapping of values (a spec's model entry, a
metric's options, `--set KEY=VALUE` on the command line) is checked against such a model: an
unknown key gets a "did you mean", a bad value the validator's message and the value given. It
raises a `ParamError` naming the key; the caller says where the key was written (a spec file and
line, a command-line flag).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import did_you_mean


class Strict(BaseModel):
    """A config model whose unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


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
    try:
        return params.model_validate(dict(values or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else None
        raise ParamError(key, f"{err['msg']} (got {err.get('input')!r}).", hint) from None
