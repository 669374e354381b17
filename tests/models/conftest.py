"""Fixtures for the model tests: generated checkpoints in the official formats, and the measured-figures report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

#: lines reported at the end of the run (parity maxima, precision differences)
REPORT: list[str] = []

#: upstream's state-dict layout (name -> [shape, dtype]) per architecture, 'deep' and 'wide'
LAYOUT_FILE = Path(__file__).parent / "data" / "deoldify_layout.json"
#: the same for the peers: 'eccv16' and 'siggraph17'; 'tiny' and 'large'
ZHANG_LAYOUT_FILE = Path(__file__).parent / "data" / "zhang_layout.json"
DDCOLOR_LAYOUT_FILE = Path(__file__).parent / "data" / "ddcolor_layout.json"
COLORFORMER_LAYOUT_FILE = Path(__file__).parent / "data" / "colorformer_layout.json"


def gray(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A gray photo crop resized to h x w; different seeds give different crops (and so different images)."""
    import skimage.data
    from PIL import Image

    photo = np.asarray(Image.fromarray(skimage.data.coffee()).convert("L"))
    top, left = (seed * 37) % (photo.shape[0] - 200), (seed * 53) % (photo.shape[1] - 200)
    return np.asarray(Image.fromarray(photo[top:top + 200, left:left + 200]).resize((w, h)))


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


@pytest.fixture(scope="session")
def eccv16_checkpoint(tmp_path_factory):
    """Random, calibrated ECCV16 weights in the official format (what `harness bench` uses)."""
    from harness.models.registry import get_model_class

    return get_model_class("zhang-eccv16").write_random_weights(tmp_path_factory.mktemp("zhang") / "eccv16.pth")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Random DDColor-tiny weights in the official format (a raw state dict)."""
    from harness.models.registry import get_model_class

    cls = get_model_class("ddcolor")
    return cls.write_random_weights(tmp_path_factory.mktemp("ddcolor") / "tiny.bin", cls.Params(size="tiny"), seed=1)


@pytest.fixture(scope="session")
def colorformer_checkpoint(tmp_path_factory):
    """Random ColorFormer weights in the official format (BasicSR's {'params': state_dict})."""
    from harness.models.registry import get_model_class

    return get_model_class("colorformer").write_random_weights(tmp_path_factory.mktemp("cf") / "net_g.pth", seed=1)


@pytest.fixture
def exact_fp32():
    """TF32 off for the test (its 10 mantissa bits against the CPU's fp32 would measure the random weights;
    torch's flag objects compute these attributes: set and restored by hand)."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (two shared cores: a second OpenMP thread mostly waits); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
