"""The system's Chromium for the browser tests (Debian's package, driven by Playwright; no browser is
downloaded), started as a sandboxed test machine needs: no GPU, no background network."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (Debian: `apt-get install "
                                                              "chromium`; .ci/run installs it)")


def launch(playwright):
    """A headless Chromium browser from `playwright` (a sync_playwright() context)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
