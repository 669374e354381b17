"""Name table of colorization models, discoverable by name from a YAML spec.

Built-in names are the rows of `models/variants.py`; each names the family class that
implements it and the module that registers that class, imported only when one of its
names is asked for (so listing names or running the grayscale baseline never imports
torch). A family is one `Colorizer` subclass decorated with `@register_model("family")`;
the registry hands out its per-variant class (`Colorizer.bind`). Third-party models
register the same way, each under its own name, from modules named in `HARNESS_PLUGINS`
(comma-separated module names), imported on first lookup.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.errors import HarnessError, did_you_mean, unknown_name
from harness.models.base import Colorizer
from harness.models.variants import VARIANTS
from harness.plugins import load_plugins

_REGISTRY: dict[str, type[Colorizer]] = {}  # family or plugin name -> class
_BOUND: dict[str, type[Colorizer]] = {}  # variant name -> per-variant class


def register_model(name: str):
    """Class decorator: make a `Colorizer` subclass available as the family (or plugin model) `name`."""

    def decorate(cls: type[Colorizer]) -> type[Colorizer]:
        if not (isinstance(cls, type) and issubclass(cls, Colorizer)):
            raise TypeError(f"@register_model('{name}') must decorate a Colorizer subclass")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"model name '{name}' is already registered by {existing!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def model_names() -> list[str]:
    """Every model name a spec can use: the variants and the plugin models."""
    load_plugins()
    families = {v.family for v in VARIANTS.values()}
    return sorted(set(VARIANTS) | {n for n in _REGISTRY if n not in families})


def get_model_class(name: str) -> type[Colorizer]:
    """The class for model `name`; a `HarnessError` with suggestions if there is none."""
    load_plugins()
    variant = VARIANTS.get(name)
    if variant is None:
        if name in _REGISTRY and name not in {v.family for v in VARIANTS.values()}:
            return _REGISTRY[name]
        raise unknown_name("model", name, model_names())
    if name not in _BOUND:
        if variant.family not in _REGISTRY:
            importlib.import_module(variant.module)
        _BOUND[name] = _REGISTRY[variant.family].bind(variant)
    return _BOUND[name]


def parse_params(name: str, values: dict[str, Any] | None = None, *, where: str = "parameter") -> BaseModel:
    """`values` validated as model `name`'s parameters; an error names the key, with a suggestion."""
    cls = get_model_class(name)
    fields = cls.Params.model_fields
    for key in values or {}:
        if key not in fields:
            raise HarnessError(f"Unknown {where} '{key}' for model '{name}'.{did_you_mean(key, fields)}",
                               hint=f"Parameters of '{name}': {', '.join(fields) or 'none'}.")
    try:
        return cls.Params.model_validate(values or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"]) or "parameters"
        raise HarnessError(f"Invalid {where} '{key}' for model '{name}': {err['msg']} (got {err.get('input')!r}).",
                           hint=f"Parameters of '{name}': {', '.join(fields) or 'none'}.") from None


def build_model(name: str, params: dict[str, Any] | None = None, device: str = "cpu") -> Colorizer:
    """Instantiate model `name` with validated `params` on `device` (weights fetched first where needed)."""
    return get_model_class(name)(parse_params(name, params), device=device)
