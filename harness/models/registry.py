"""Name table of colorization models, discoverable by name from a YAML spec.

A model is one `Colorizer` subclass decorated with `@register_model("name")`. Built-in
models live in modules named in `_BUILTIN` and are imported only when one of their names
is asked for, so listing names or running the grayscale baseline never imports torch.
Third-party models register the same way from modules named in `HARNESS_PLUGINS`
(comma-separated module names), imported on first lookup.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError, unknown_name
from harness.models.base import Colorizer

# name -> module that registers it (imported lazily)
_BUILTIN: dict[str, str] = {
    "grayscale": "harness.models.baselines",
    "deoldify-artistic": "harness.models.deoldify",
    "deoldify-stable": "harness.models.deoldify",
    "deoldify-video": "harness.models.deoldify",
}
_REGISTRY: dict[str, type[Colorizer]] = {}
_plugins_loaded = False


def register_model(name: str):
    """Class decorator: make a `Colorizer` subclass available under `name`."""

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


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get("HARNESS_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise HarnessError(
                f"HARNESS_PLUGINS names module '{module}', which cannot be imported ({exc}).",
                hint="Install it or remove it from HARNESS_PLUGINS.",
            ) from exc


def model_names() -> list[str]:
    """Every model name the registry knows, built-in and plugin."""
    _load_plugins()
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_model_class(name: str) -> type[Colorizer]:
    """The class registered under `name`; a `HarnessError` with suggestions if none is."""
    _load_plugins()
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("model", name, model_names()) from None


def build_model(name: str, params: dict[str, Any] | None = None, device: str = "cpu") -> Colorizer:
    """Instantiate model `name` with validated `params` on `device`."""
    cls = get_model_class(name)
    try:
        parsed = cls.Params.model_validate(params or {})
    except ValidationError as exc:
        raise HarnessError(f"Invalid parameters for model '{name}': {exc}") from exc
    return cls(parsed, device=device)
