"""`pytest -m gpu` collects every test module, so none may import an optional package at its top.

A GPU machine's image need not hold PyAV (`av`), Ray or the upstream reference: a module that
imported one of them at the top would stop the collection there, and the GPU tests after it
would never run (issue #17, item 4). Optional packages are imported inside the tests that need
them (`pytest.importorskip` in the test or a fixture). This test collects the whole suite with
the GPU mark in a fresh interpreter where those packages cannot be imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: packages a GPU machine may lack (the device wheels leave out Ray; PyAV is a separate folder)
OPTIONAL = ("av", "ray", "deoldify", "fastprogress", "torchmetrics")

BLOCKER = f"""
import sys

class Blocker:
    names = {OPTIONAL!r}

    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in self.names:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the collection test)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
import pytest
sys.exit(pytest.main(['--collect-only', '-q', '-m', 'gpu', '-p', 'no:cacheprovider', 'tests']))
"""


@pytest.mark.slow
def test_gpu_collection_succeeds_without_the_optional_packages():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", BLOCKER], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    lines = done.stdout.splitlines()
    assert not any(line.startswith("ERROR") for line in lines) and " error" not in lines[-1], out[-4000:]
    collected = [line for line in lines if "::" in line]
    assert any("test_deoldify_gpu.py" in line for line in collected), out[-4000:]  # the GPU tests are there
