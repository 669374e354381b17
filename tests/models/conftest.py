"""Fixtures for the DeOldify tests: generated checkpoints in the official (fastai) format."""

from __future__ import annotations

import pytest

#: lines reported at the end of the run (parity maxima, precision differences)
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("DeOldify parity and precision (measured)")
        for line in REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def artistic_checkpoint(tmp_path_factory):
    from harness.models.deoldify.checkpoint import randomize_, save_fastai
    from harness.models.deoldify.unet import ARTISTIC, build

    return save_fastai(randomize_(build(ARTISTIC), seed=1), tmp_path_factory.mktemp("ck") / "artistic.pth")
