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

from pydantic import BaseModel

from harness.config.params import ParamError, validate_params
from harness.config.plugins import load_plugins
from harness.errors import HarnessError, unknown_name
from harness.models.base import Colorizer
from harness.models.variants import VARIANTS

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
    try:
        return validate_params(get_model_class(name).Params, values, owner=f"model '{name}'", what=where)
    except ParamError as exc:
        message = (exc.message[0].upper() + exc.message[1:] if exc.message.startswith("unknown ")
                   else f"Invalid {where} '{exc.key or 'parameters'}' for model '{name}': {exc.message}")
        raise HarnessError(message, hint=exc.hint) from None


def build_model(name: str, params: dict[str, Any] | None = None, device: str = "cpu") -> Colorizer:
    """Instantiate model `name` with validated `params` on `device` (weights fetched first where needed)."""
    return get_model_class(name)(parse_params(name, params), device=device)
