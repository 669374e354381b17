"""The harness's DDColor equals upstream's (piddnad/DDColor, the reference folder) on the same weights.

Per size, once per module: `DDColor.write_random_weights` draws random weights (converged
spectral norms, BatchNorm statistics from gray photos, ab scaled to a plausible colour
range) and saves them as the official files are, a raw state dict. Upstream's own loader
(`build_ddcolor_model`) reads that file (with strict=False, so the same state dict is then
loaded strictly, proving every tensor matched), and the harness loads it through its safe,
strict loader. Then: the raw network outputs, and the images `harness colorize` writes
against upstream's `ColorizationPipeline` on COCO photos. Measured maxima are printed at the
end of the run and recorded as junit properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cli import main
from harness.models.registry import build_model, get_model_class
from harness.tools.upstream import one_image
from tests.conftest import COCO_SAMPLE
from tests.models.conftest import REPORT
from tests.models.reference import require

pytestmark = [pytest.mark.upstream, pytest.mark.usefixtures("one_torch_thread")]

#: size -> input size the comparison runs at (tiny at the paper's 256; large small, to fit the CPU budget)
SIZES = {"tiny": 256, "large": 128}


@dataclass
class Pair:
    size: str
    input_size: int
    checkpoint: Path
    upstream: torch.nn.Module  # upstream's DDColor holding the checkpoint


@pytest.fixture(scope="module", params=list(SIZES))
def pair(request, tmp_path_factory) -> Pair:
    from harness.assets.checkpoint import safe_load
    from harness.models.ddcolor import engine

    ref = require("ddcolor")
    size = request.param
    cls = get_model_class("ddcolor")
    checkpoint = cls.write_random_weights(tmp_path_factory.mktemp(size) / f"ddcolor_{size}.bin",
                                          cls.Params(size=size), seed=3)
    model = ref.build_ddcolor_model(ref.DDColor, model_path=str(checkpoint), input_size=SIZES[size], model_size=size,
                                    device=torch.device("cpu"))
    model.load_state_dict(safe_load(checkpoint), strict=True)  # upstream's strict=False hides mismatches
    yield Pair(size, SIZES[size], checkpoint, model.eval())
    engine.clear_cache()


def harness_model(pair: Pair, **params):
    return build_model("ddcolor", {"size": pair.size, "input_size": pair.input_size, "weights": str(pair.checkpoint),
                                   **params}, "cpu")


def network_inputs(size: int) -> torch.Tensor:
    """Two different gray photos, prepared as the pipeline does: (2, 3, size, size) gray RGB."""
    import skimage.data
    from PIL import Image

    from harness.models.ddcolor.engine import prepare

    grays = [np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L")),
             np.asarray(Image.fromarray(skimage.data.coffee()).convert("L"))]
    return torch.from_numpy(np.stack([prepare(g, size)[1] for g in grays]))


def test_layout_is_upstreams(pair):
    from harness.models.ddcolor.network import build

    with torch.device("meta"):
        ours = build(pair.size).state_dict()
    theirs = pair.upstream.state_dict()
    assert [(k, tuple(v.shape), v.dtype) for k, v in ours.items()] == \
        [(k, tuple(v.shape), v.dtype) for k, v in theirs.items()]


def test_raw_outputs_match(pair, record_property):
    x = network_inputs(pair.input_size)
    net = harness_model(pair)._engine.net  # the network the harness loaded from the official-format file
    with torch.inference_mode():
        ref = pair.upstream(x)
        ref_maps = pair.upstream.decoder()  # the 100 query maps of that pass (upstream's hooks hold the features)
        ours = net(x)
        embeds, image = net.decoder(net.encoder((x - net.mean) / net.std))
        maps = torch.einsum("bqc,bchw->bqhw", embeds, image)
    # The comparison means something only if the outputs are finite, moderate and image-dependent
    # (fresh spectral-norm vectors would give ~1e12; an identity-like network the same ab everywhere).
    assert torch.isfinite(ref).all() and ref.abs().max() < 500 and ref.std() > 5
    assert (ref[0] - ref[1]).abs().mean() > 5 and ref[0].std(dim=(1, 2)).min() > 2
    maps_diff = (maps - ref_maps).abs().max().item()
    ab_diff = (ours - ref).abs().max().item()
    scale = ref.abs().max().item()
    REPORT.append(f"ddcolor {pair.size}: raw outputs vs upstream (fp32, CPU, 2x3x{pair.input_size}^2): 100 query maps "
                  f"max |diff| {maps_diff:.2g} (|maps| <= {ref_maps.abs().max().item():.1f}; limit 0); ab max |diff| "
                  f"{ab_diff:.2g} on |ab| <= {scale:.0f} (std {ref.std().item():.1f}), relative {ab_diff / scale:.2g} "
                  f"(limit 1e-4 absolute)")
    record_property("query_maps_max_abs_diff", maps_diff)
    record_property("ab_max_abs_diff", ab_diff)
    record_property("ab_max_rel_diff", ab_diff / scale)
    # Everything up to the query maps runs in upstream's layouts and order of operations: bit for bit.
    assert maps_diff == 0
    # The last 1x1 convolution is folded into the colour embeddings (the same sum in another order, without
    # the (N, 100, S, S) maps): fp32 rounding of Lab-scaled values, measured 6.1e-5 (tiny) and 7.6e-5 (large).
    assert ab_diff <= 1e-4


def test_end_to_end_images_match(pair, tmp_path, record_property):
    from PIL import Image

    from harness.data.images import decode_rgb
    from harness.gray import to_gray

    ref = require("ddcolor")
    images = COCO_SAMPLE / "images"
    if not images.is_dir():
        pytest.skip(f"COCO sample not found in {images}")
    paths = sorted(images.glob("*.jpg"))[:3]
    src = tmp_path / "in"
    src.mkdir()
    for p in paths:
        (src / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    assert main(["colorize", str(src), "--model", "ddcolor", "--set", f"size={pair.size}", "--set",
                 f"input_size={pair.input_size}", "--weights", str(pair.checkpoint), "--device", "cpu",
                 "--batch-size", "3", "--out", str(out)]) == 0
    pipeline = ref.ColorizationPipeline(pair.upstream, input_size=pair.input_size, device=torch.device("cpu"))
    worst, differ, total, colour = 0, 0, 0, []
    for p in paths:
        gray = to_gray(decode_rgb(p))  # what `harness colorize` feeds the model
        theirs = pipeline.process(np.repeat(gray[..., None], 3, axis=2))[:, :, ::-1]  # BGR in and out
        ours = np.asarray(Image.open(out / f"{p.stem}.png"))
        assert ours.shape == theirs.shape
        diff = np.abs(ours.astype(int) - theirs.astype(int))
        worst, differ, total = max(worst, int(diff.max())), differ + int((diff > 0).sum()), total + diff.size
        colour.append(np.abs(theirs.astype(int) - gray[..., None]).mean())
    REPORT.append(f"ddcolor {pair.size} input_size {pair.input_size}: `harness colorize` vs upstream pipeline on "
                  f"{len(paths)} COCO photos: max |diff| {worst} grey level(s) (limit 1), {100 * differ / total:.3f}% "
                  f"of pixel channels differ; colour added (mean |RGB - gray|) {np.mean(colour):.1f}")
    record_property("e2e_max_abs_diff", worst)
    assert min(colour) > 5  # the images carry colour, so equality is not trivial
    assert worst <= 1  # the default: torch operations on the model's device (models.imageops)
    grays = [to_gray(decode_rgb(p)) for p in paths]
    host = harness_model(pair, exact=True).colorize(grays)  # OpenCV on the host, upstream's order
    exact = max(int(np.abs(a.astype(int) - pipeline.process(np.repeat(g[..., None], 3, axis=2))[:, :, ::-1]).max())
                for a, g in zip(host, grays))
    REPORT.append(f"ddcolor {pair.size}: exact (OpenCV on the host) max |diff| vs upstream = {exact} (limit 1)")
    assert exact <= 1


@pytest.mark.parametrize("pair", ["tiny"], indirect=True)  # one size suffices: the hook does not depend on it
def test_upstream_hook_is_upstreams_pipeline(pair):
    """`harness bench --vs-upstream` times `harness.tools.upstream.one_image`: upstream's pipeline on the same file, RGB out."""
    import skimage.data
    from PIL import Image

    ref = require("ddcolor")
    cls = get_model_class("ddcolor")
    params = cls.Params(size=pair.size, input_size=pair.input_size, weights=pair.checkpoint)
    hook = one_image(cls, pair.checkpoint, params, "cpu")
    gray = np.ascontiguousarray(np.asarray(Image.fromarray(skimage.data.chelsea()).convert("L"))[::2, ::2])
    direct = ref.ColorizationPipeline(pair.upstream, input_size=pair.input_size).process(
        np.repeat(gray[..., None], 3, axis=2))[:, :, ::-1]
    assert np.array_equal(hook(gray), direct)


@pytest.mark.parametrize("pair", ["tiny"], indirect=True)
def test_upstream_accepts_a_damaged_file_the_harness_refuses(pair, tmp_path):
    """Upstream loads with strict=False: a checkpoint missing a tensor loads silently (keeping random
    init there); the harness names the key instead."""
    from harness.assets.checkpoint import safe_load
    from harness.errors import HarnessError

    ref = require("ddcolor")
    state = safe_load(pair.checkpoint)
    del state["decoder.color_decoder.query_embed.weight"]
    damaged = tmp_path / "damaged.bin"
    torch.save(state, damaged)
    ref.build_ddcolor_model(ref.DDColor, model_path=str(damaged), input_size=64, model_size="tiny",
                            device=torch.device("cpu"))  # no complaint
    with pytest.raises(HarnessError, match=r"1 missing key\(s\) \['decoder.color_decoder.query_embed.weight'\]"):
        harness_model(pair, weights=str(damaged))
