"""Third-party models and metrics: modules named in `HARNESS_PLUGINS`, imported once, on first lookup.

`HARNESS_PLUGINS` is a comma-separated list of importable module names; importing one runs
its `@register_model` / `@register_metric` decorators. Both registries call `load_plugins`
before answering, so a plug-in's names work in specs and on the command line alike.
"""

from __future__ import annotations

import importlib
import os

from harness.errors import HarnessError

_loaded = False


def load_plugins() -> None:
    """Import every module named in `HARNESS_PLUGINS` (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get("HARNESS_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise HarnessError(
                f"HARNESS_PLUGINS names module '{module}', which cannot be imported ({exc}).",
                hint="Install it or remove it from HARNESS_PLUGINS.",
            ) from exc
