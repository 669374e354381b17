"""Upstream reference implementations of the peer models, used as oracles, never as code.

ECCV16/SIGGRAPH17 (`colorizers`) and DDColor (`ddcolor`) are not installable packages; their
verbatim upstream code sits in a reference folder: wherever `HARNESS_REFERENCE_DIR` points,
else `../shared/reference` beside the checkout (this project's workspace), else `.reference/` in
the checkout, where `harness reference fetch` puts it (`harness.tools.upstream.fetch`). Parity tests and `harness bench --vs-upstream` import them from there. The harness's
own models never import them: only `harness.tools.upstream` and the tests do.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from harness.errors import HarnessError

#: package -> folder (inside the reference folder) that must be on sys.path to import it
PACKAGES = {"colorizers": ".", "ddcolor": "ddcolor_ref"}


CHECKOUT = Path(__file__).resolve().parents[3]
FETCH_HINT = "run `harness reference fetch` (the pinned upstream files, verified), or set HARNESS_REFERENCE_DIR"


def reference_dir() -> Path:
    """`$HARNESS_REFERENCE_DIR`, else `../shared/reference` beside the checkout where it exists, else the
    checkout's `.reference/` (where `harness reference fetch` writes)."""
    if os.environ.get("HARNESS_REFERENCE_DIR"):
        return Path(os.environ["HARNESS_REFERENCE_DIR"])
    shared = CHECKOUT.parent / "shared" / "reference"
    return shared if shared.is_dir() else CHECKOUT / ".reference"


def available(package: str) -> bool:
    return (reference_dir() / PACKAGES[package] / package).is_dir()


def load(package: str) -> ModuleType:
    """Import a reference package ('colorizers' or 'ddcolor') from the reference folder."""
    folder = reference_dir() / PACKAGES[package]
    if not (folder / package).is_dir():
        raise HarnessError(f"The upstream reference '{package}' is not available (looked in {folder}).",
                           hint=FETCH_HINT[0].upper() + FETCH_HINT[1:] + ".")
    path = str(folder.resolve())
    if path not in sys.path:
        sys.path.insert(0, path)  # first: ddcolor_ref's partial basicsr must win over an installed one
    sys.dont_write_bytecode = True  # leave the reference folder as it is
    return importlib.import_module(package)
