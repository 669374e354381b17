"""Fixtures for the model tests: generated checkpoints in the official formats, and the measured-figures report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: lines reported at the end of the run (parity maxima, precision differences)
REPORT: list[str] = []

#: upstream's state-dict layout (name -> [shape, dtype]) per architecture, 'deep' and 'wide'
LAYOUT_FILE = Path(__file__).parent / "data" / "deoldify_layout.json"
#: the same for the peers: 'eccv16' and 'siggraph17'; 'tiny' and 'large'
ZHANG_LAYOUT_FILE = Path(__file__).parent / "data" / "zhang_layout.json"
DDCOLOR_LAYOUT_FILE = Path(__file__).parent / "data" / "ddcolor_layout.json"


def layout_of(state_dict) -> dict[str, list]:
    """name -> [shape, dtype] of a state dict, in its order (JSON-comparable)."""
    return {k: [list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state_dict.items()}


def reference_layout(listing: Path) -> dict[str, list]:
    """name -> [shape, dtype] from a reference folder's `keys_*.txt` (key, shape, dtype per line; '#' comments)."""
    layout = {}
    for line in listing.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, shape, dtype = line.split("\t")
            layout[key] = [[int(d) for d in shape.strip("()").split(",") if d.strip()], dtype]
    return layout


def write_layout(arch: str, layout: dict[str, list], path: Path = LAYOUT_FILE, about: str | None = None) -> None:
    """Rewrite one architecture's entry of a layout file, one tensor per line."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data[arch] = layout
    if about is not None:
        data["_about"] = about
    lines = ["{", f'"_about": {json.dumps(data.get("_about", ""))},']
    archs = [a for a in data if a != "_about"]
    for i, a in enumerate(archs):
        lines.append(f'"{a}": {{')
        items = list(data[a].items())
        lines += [f"  {json.dumps(k)}: {json.dumps(v)}{',' if j < len(items) - 1 else ''}"
                  for j, (k, v) in enumerate(items)]
        lines.append("}" + ("," if i < len(archs) - 1 else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("Model parity and precision (measured)")
        for line in REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def artistic_checkpoint(tmp_path_factory):
    from harness.models.deoldify.checkpoint import randomize_, save_fastai
    from harness.models.deoldify.unet import ARTISTIC, build

    return save_fastai(randomize_(build(ARTISTIC), seed=1), tmp_path_factory.mktemp("ck") / "artistic.pth")
