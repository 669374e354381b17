"""The upstream references for parity tests: skipped with a reason where the reference folder is absent."""

from __future__ import annotations

import pytest

from harness.tools.upstream import reference


def require(package: str):
    """The reference package, or skip the test saying where it was looked for."""
    if not reference.available(package):
        pytest.skip(f"upstream reference '{package}' not found in {reference.reference_dir()}: "
                    f"{reference.FETCH_HINT}")
    return reference.load(package)
