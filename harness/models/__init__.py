"""Colorization models: the `Colorizer` interface, the registry and the built-in models."""

from harness.config.params import NoParams
from harness.models.base import Colorizer
from harness.models.registry import build_model, get_model_class, model_names, register_model

__all__ = ["Colorizer", "NoParams", "build_model", "get_model_class", "model_names", "register_model"]
