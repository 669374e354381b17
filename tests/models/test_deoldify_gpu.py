"""DeOldify on a CUDA device: the CPU's pixels within batching rounding, reduced precision
bounded, upstream on the same GPU agreeing, a whole run and `harness bench` on the GPU.

Skipped where no CUDA device is visible (CI machines have none); run them where one is:
`python -m pytest -m gpu`. Convolutions run without TF32 in the comparisons: TF32 keeps 10
mantissa bits, and random weights amplify rounding far more than trained ones (see the bf16
test in test_deoldify_parity.py), so TF32 against the CPU's fp32 would measure the weights.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from harness.cli import main
from harness.models.registry import build_model
from tests.models.conftest import REPORT

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is visible")]


def grays() -> list[np.ndarray]:
    import skimage.data
    from PIL import Image

    rgb = [skimage.data.astronaut()[::4, ::4], skimage.data.chelsea()[::2, ::2], skimage.data.coffee()[::3, ::2]]
    return [np.asarray(Image.fromarray(p).convert("L")) for p in rgb]


def differences(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[int, int, int]:
    """(max |diff|, pixels that differ, pixels)."""
    assert [x.shape for x in a] == [y.shape for y in b]
    worst = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b))
    differ = sum(int((x != y).any(axis=2).sum()) for x, y in zip(a, b))
    return worst, differ, sum(x.shape[0] * x.shape[1] for x in a)


def test_batched_cuda_engine_matches_the_cpu(artistic_checkpoint, exact_fp32):
    params = {"weights": str(artistic_checkpoint), "render_factor": 8}
    cpu = build_model("deoldify-artistic", params, "cpu").colorize(grays())
    model = build_model("deoldify-artistic", params, "cuda")
    assert model._engine.batch_cap is None  # one forward pass for the whole batch
    worst, differ, pixels = differences(model.colorize(grays()), cpu)
    REPORT.append(f"CUDA fp32 (no TF32), one batched pass vs CPU: max |diff| {worst} ({differ} of {pixels} pixels)")
    assert worst <= 8 and differ <= pixels // 100


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_cuda_is_bounded_by_the_networks_sensitivity(artistic_checkpoint, exact_fp32,
                                                                          precision):
    model = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 8,
                                              "precision": precision}, "cuda")
    net, dtype = model._engine.net, {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)).cuda()
    with torch.inference_mode():
        ref = net(x)
        rounded = net(x.to(dtype).float())
        low = model._engine.forward(x).float()  # the harness's own autocast path
    rel_low, rel_rounded = (((y - ref).norm() / ref.norm()).item() for y in (low, rounded))
    REPORT.append(f"CUDA {precision} vs fp32, raw generator: relative L2 {rel_low:.3f} "
                  f"(input rounded alone: {rel_rounded:.3f})")
    assert torch.isfinite(low).all()
    assert 0 < rel_low <= 4 * max(rel_rounded, 1e-3)


def test_upstream_on_the_same_gpu_agrees(artistic_checkpoint, exact_fp32):
    pytest.importorskip("deoldify", reason="upstream reference not installed")
    from harness.models.deoldify.checkpoint import safe_load
    from harness.tools.upstream.deoldify import colorize_upstream, upstream_filter

    flt = upstream_filter("deep", safe_load(artistic_checkpoint)["model"], "cuda")
    assert next(flt.learn.model.parameters()).is_cuda
    reference = [colorize_upstream(flt, g, 8) for g in grays()]
    ours = build_model("deoldify-artistic", {"weights": str(artistic_checkpoint), "render_factor": 8},
                       "cuda").colorize(grays())
    worst, differ, pixels = differences(ours, reference)
    REPORT.append(f"CUDA: harness (batched) vs upstream ColorizerFilter on the same GPU, rf 8: max |diff| {worst} "
                  f"({differ} of {pixels} pixels)")
    assert worst <= 8 and differ <= pixels // 100


def test_a_run_on_cuda_logs_device_and_memory(write_spec, tracking_uri, artistic_checkpoint, capsys):
    spec = write_spec(f"""\
name: gpu-run
dataset: {{source: samples, limit: 4}}
models:
  - name: deoldify-artistic
    render_factor: 8
    weights: {artistic_checkpoint}
batch_size: 4
device: cuda
""")
    assert main(["run", str(spec), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr().err
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("gpu-run")
    child = next(r for r in client.search_runs([exp.experiment_id]) if r.data.params.get("model"))
    assert child.data.params["device"].startswith("cuda") and child.data.params["metrics_impl"].startswith("torch")
    assert child.data.params["tf32_convolutions"] == str(torch.backends.cudnn.allow_tf32)
    assert child.data.metrics["peak_device_memory_mb"] > 0 and child.data.metrics["n_scored"] == 4
    assert child.data.params["forward_batch"] == "4"


def test_bench_vs_upstream_on_cuda(capsys, tmp_path, monkeypatch):
    pytest.importorskip("deoldify", reason="upstream reference not installed")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert main(["bench", "--set", "render_factor=8", "--images", "4", "--rounds", "1", "--batch-size", "4",
                 "--vs-upstream", "--device", "cuda"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    REPORT.append("CUDA bench rf 8: " + "; ".join(out[-3:]))
    assert re.fullmatch(r"ratio harness/upstream: \d+\.\d\d", out[-1])
