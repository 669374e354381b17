"""What every network family must hold, one test each, parametrized over the families.

- Its state dict has upstream's layout: every name, shape and dtype, in order (the committed
  listings, so this runs everywhere; the listings are checked against the reference folder's
  `keys_*.txt` here and against the upstream package by the DeOldify parity tests).
- Out of memory halves the forward pass and retries, keeping each output with its own input,
  says so after the run, and at batch size 1 is an error, never a gray image.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from harness.errors import HarnessError
from harness.models.engine import NetworkEngine
from harness.models.registry import build_model
from harness.tools.upstream import reference
from tests.models.conftest import (
    COLORFORMER_LAYOUT_FILE,
    DDCOLOR_LAYOUT_FILE,
    LAYOUT_FILE,
    ZHANG_LAYOUT_FILE,
    gray,
    layout_of,
    reference_layout,
    write_layout,
)


def _network(family: str, arch: str) -> torch.nn.Module:
    if family == "deoldify":
        from harness.models.deoldify.unet import ARCHITECTURES, build

        return build(ARCHITECTURES[arch])
    if family == "zhang":
        from harness.models.zhang.networks import NETWORKS

        return NETWORKS[arch]()
    if family == "colorformer":
        from harness.models.colorformer.network import build as build_colorformer

        return build_colorformer()
    from harness.models.ddcolor.network import build

    return build(arch)


LAYOUTS = [("deoldify", "deep", LAYOUT_FILE), ("deoldify", "wide", LAYOUT_FILE),
           ("zhang", "eccv16", ZHANG_LAYOUT_FILE), ("zhang", "siggraph17", ZHANG_LAYOUT_FILE),
           ("ddcolor", "tiny", DDCOLOR_LAYOUT_FILE), ("ddcolor", "large", DDCOLOR_LAYOUT_FILE),
           ("colorformer", "colorformer", COLORFORMER_LAYOUT_FILE)]


@pytest.mark.parametrize("family, arch, listing", LAYOUTS, ids=[f"{f}-{a}" for f, a, _ in LAYOUTS])
def test_layout_is_upstreams(family, arch, listing):
    expected = json.loads(listing.read_text())[arch]
    with torch.device("meta"):
        actual = layout_of(_network(family, arch).state_dict())
    assert sorted(set(expected) - set(actual)) == [] and sorted(set(actual) - set(expected)) == []
    assert actual == expected
    if family != "deoldify":  # weight-normed layers list weight_g/weight_v in another order than fastai's; loading
        assert list(actual) == list(expected)  # is by name, so only the peers' listings pin the order


LISTED = [("eccv16", "keys_eccv16.txt", ZHANG_LAYOUT_FILE), ("siggraph17", "keys_siggraph17.txt", ZHANG_LAYOUT_FILE),
          ("tiny", "keys_ddcolor_tiny.txt", DDCOLOR_LAYOUT_FILE),
          ("large", "keys_ddcolor_large.txt", DDCOLOR_LAYOUT_FILE),
          ("colorformer", "keys_colorformer.txt", COLORFORMER_LAYOUT_FILE)]


@pytest.mark.parametrize("arch, keys, listing", LISTED, ids=[a for a, _, _ in LISTED])
def test_layout_file_is_the_references(arch, keys, listing):
    path = reference.reference_dir() / keys
    if not path.is_file():
        pytest.skip(f"{path} not found (the reference folder holds upstream's state-dict listings)")
    listed = reference_layout(path)
    if os.environ.get("HARNESS_WRITE_LAYOUT") == "1":
        write_layout(arch, listed, listing)  # keeps the file's "_about"
    committed = json.loads(listing.read_text())[arch]
    assert committed == listed and list(committed) == list(listed)


#: model name, its cheapest parameters, the checkpoint fixture, the unit the out-of-memory message names
FAMILIES = [("deoldify-artistic", {"render_factor": 2}, "artistic_checkpoint", "render_factor 2, 32x32 pixels"),
            ("zhang-eccv16", {}, "eccv16_checkpoint", "one 256x256 image per pass"),
            ("ddcolor", {"size": "tiny", "input_size": 64}, "tiny_checkpoint", "input_size 64"),
            ("colorformer", {"input_size": 64}, "colorformer_checkpoint", "input_size 64")]


@pytest.fixture(params=FAMILIES, ids=[f[0] for f in FAMILIES])
def family(request):
    name, params, fixture, unit = request.param
    return name, {**params, "weights": str(request.getfixturevalue(fixture))}, unit


def test_out_of_memory_halves_the_batch_and_keeps_the_order(family, monkeypatch):
    name, params, _ = family
    grays = [gray(20 + 3 * i, 30, i) for i in range(5)]  # distinct images (and sizes): a misordered chunk shows
    assert len({g.tobytes() for g in grays}) == 5
    whole = build_model(name, params, "cpu").colorize(grays)  # one pass of 5, no out-of-memory
    model = build_model(name, params, "cpu")
    sizes = []
    real = NetworkEngine.forward

    def fake_forward(self, x):
        sizes.append(len(x))
        if len(x) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, x)

    monkeypatch.setattr(NetworkEngine, "forward", fake_forward)
    outs = model.colorize(grays)
    assert sizes[:2] == [5, 3] and max(sizes[2:]) <= 2 and sum(s for s in sizes if s <= 2) == 5
    assert [o.shape[:2] for o in outs] == [g.shape for g in grays]
    for i, out in enumerate(outs):  # each output is its own input's (another batch composition may move a level)
        diffs = [np.abs(out.astype(int) - ref.astype(int)).mean() if ref.shape == out.shape else 1e9 for ref in whole]
        assert int(np.argmin(diffs)) == i and diffs[i] < 1.0
    assert "lowered to 2 after out-of-memory" in model.describe_run()["batching"]
    assert model.warnings() == ["out of GPU memory: forward passes lowered to 2 images (the spec's batch_size asks "
                                "for more); the numbers are the same, the speed is not"]
    sizes.clear()
    assert len(model.colorize(grays[:3])) == 3 and max(sizes) <= 2  # the lowered cap holds for later batches


def test_out_of_memory_at_batch_one_is_an_error_not_gray(family, monkeypatch):
    name, params, unit = family

    def always(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    model = build_model(name, params, "cpu")
    monkeypatch.setattr(NetworkEngine, "forward", always)
    with pytest.raises(HarnessError, match=f"Out of GPU memory at batch size 1, {unit}"):
        model.colorize([gray(20, 30)])
