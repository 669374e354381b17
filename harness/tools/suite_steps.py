"""The steps of `harness bench --suite gpu` (see `harness.tools.suite`): the environment, harness vs
upstream, the model alone against the device's peak, and one `harness run` end to end.

Speed is measured with `harness.tools.bench.bench`, the code `harness bench` runs (its model-only
time is the network's forward passes, synchronised, inside the same pass as the end-to-end time;
its FLOPs are torch's counter on a real image), on one weights file for the whole suite: the
official one when cached, else random weights of the architecture (speed does not depend on them).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.tools.suite_plan import Step, StepContext

#: dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets (half their
#: "with sparsity" figures); the first pattern that matches the device name wins
DENSE_BF16_PEAKS: tuple[tuple[str, float], ...] = (
    (r"H100.*PCIe", 756.0), (r"H100.*NVL", 835.0), (r"H200.*NVL", 835.0), (r"H100", 989.0), (r"H200", 989.0),
    (r"A100", 312.0), (r"L40S", 362.0), (r"\bL4\b", 121.0),
)


def dense_bf16_peak(device_name: str) -> float | None:
    """The device's dense bf16 peak (TFLOP/s) when it is in `DENSE_BF16_PEAKS`, else None."""
    return next((peak for pattern, peak in DENSE_BF16_PEAKS if re.search(pattern, device_name)), None)


def driver_version() -> str:
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def matmul_tflops(device: str, n: int, reps: int = 10) -> float:
    """A square bf16 matmul's rate: the device's practical tensor-core ceiling."""
    import torch

    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn_like(a)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return round(2 * n ** 3 * reps / (time.perf_counter() - start) / 1e12, 3)


def environment(ctx: StepContext) -> dict[str, Any]:
    import platform

    import torch

    from harness.device import cpu_cores, numerics

    cuda = ctx.device.startswith("cuda")
    facts: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                             "cuda": torch.version.cuda or "none", "cudnn": str(torch.backends.cudnn.version()),
                             "device": ctx.device, "cpu_cores": cpu_cores()}
    if cuda:
        props = torch.cuda.get_device_properties(torch.device(ctx.device))
        facts.update(device_name=props.name, memory_gib=round(props.total_memory / 2 ** 30, 1),
                     sm_count=props.multi_processor_count, compute_capability=f"{props.major}.{props.minor}",
                     driver=driver_version())
    else:
        facts.update(device_name=platform.processor() or platform.machine() or "cpu", driver="n/a (CPU)")
    peak = dense_bf16_peak(facts["device_name"]) if cuda else None
    facts["dense_bf16_peak_tflops"] = peak if peak is not None else "unknown"
    ctx.shared["peak"] = peak
    try:
        facts.update(numerics(ctx.device))
    except Exception as exc:  # noqa: BLE001 - torch may refuse the legacy TF32 flags; say so
        facts["numerics_error"] = f"{type(exc).__name__}: {exc}"
    facts["bf16_matmul_tflops"] = matmul_tflops(ctx.device, ctx.plan.matmul_size)
    if peak:
        facts["bf16_matmul_share_of_peak"] = round(facts["bf16_matmul_tflops"] / peak, 3)
    return facts


def weights_file(ctx: StepContext) -> Path:
    """One weights file for every step: the official one when cached, else random (written once)."""
    if "weights" not in ctx.shared:
        from harness.models.registry import get_model_class, parse_params
        from harness.tools.bench import bench_weights

        path, kind = bench_weights(get_model_class(ctx.plan.model), parse_params(ctx.plan.model, {}), ctx.workdir)
        ctx.shared["weights"], ctx.shared["weights_kind"] = path, kind
    return ctx.shared["weights"]


def _bench(ctx: StepContext, params: dict, batch: int, images: int, vs_upstream: bool) -> dict[str, Any]:
    from harness.tools.bench import bench

    result = bench(ctx.plan.model, {**params, "weights": str(weights_file(ctx))}, batch, images, vs_upstream,
                   ctx.device, ctx.plan.rounds)
    figures: dict[str, Any] = {k: round(float(v), 4) for k, v in result.figures.items()}
    figures.update(result.facts)  # forward_batch: a silent fallback to smaller passes shows here
    if result.warnings:
        figures["warnings"] = "; ".join(result.warnings)
    return figures


def vs_upstream(ctx: StepContext) -> dict[str, Any]:
    p = ctx.plan
    # the largest render factor first: the figure the goals are stated at is measured even if the budget runs out
    settings = [(rf, precision) for rf in sorted(p.render_factors, reverse=True) for precision in p.precisions]
    for rf, precision in ctx.each(settings, "settings (render factor, precision)"):
        ctx.measure({"render_factor": rf, "precision": precision, "upstream": "fp32", "batch": p.upstream_batch,
                     "images": p.upstream_images},
                    lambda: _bench(ctx, {"render_factor": rf, "precision": precision}, p.upstream_batch,
                                   p.upstream_images, True))
    return {f"ratio_rf{x['render_factor']}_{x['precision']}": x["ratio"] for x in ctx.parts if "ratio" in x}


def model_only(ctx: StepContext) -> dict[str, Any]:
    p = ctx.plan
    peak = ctx.shared.get("peak")
    for batch in ctx.each(p.peak_batches, "batch sizes"):
        part = ctx.measure({"render_factor": p.peak_render_factor, "precision": "bf16", "batch": batch},
                           lambda: _bench(ctx, {"render_factor": p.peak_render_factor, "precision": "bf16"}, batch,
                                          batch * p.peak_passes, False))
        if "tflops" in part:
            part["share_of_dense_bf16_peak"] = round(part["tflops"] / peak, 4) if peak else "unknown"
    figures: dict[str, Any] = {"dense_bf16_peak_tflops": peak if peak else "unknown"}
    best = max((x for x in ctx.parts if "tflops" in x), key=lambda x: x["tflops"], default=None)
    if best is not None:
        figures.update(best_batch=best["batch"], best_model_ips=best["model_ips"], best_tflops=best["tflops"],
                       best_share_of_dense_bf16_peak=best["share_of_dense_bf16_peak"])
    return figures


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """`count` JPEGs of `size` (width, height; every third one portrait) cut from the bundled colour photos."""
    from PIL import Image

    from harness.data import samples
    from harness.data.images import is_grayscale

    colour = [img for s in samples.build().samples if not is_grayscale(img := s.load())]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = colour[i % len(colour)]
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        width, height = size if i % 3 else size[::-1]
        Image.fromarray(img[y:y + ch, x:x + cw]).resize((width, height), Image.Resampling.BILINEAR).save(
            folder / f"photo{i:04d}.jpg", quality=90)
    return folder


SPEC = """\
name: bench-suite-end-to-end
dataset: {{source: folder, path: {photos}}}
models:
  - name: {model}
    render_factor: {rf}
    precision: bf16
    weights: {weights}
metrics: [psnr, ssim, colorfulness, delta_e]
grids: {{count: 0}}
batch_size: {batch}
device: {device}
"""


def end_to_end(ctx: StepContext) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    from harness.sweep.experiment import run_experiment
    from harness.tracking.client import quiet_mlflow

    p = ctx.plan
    photos = write_photos(ctx.workdir / "photos", p.e2e_images, p.e2e_size)
    spec = ctx.workdir / "end-to-end.yaml"
    spec.write_text(SPEC.format(photos=json.dumps(str(photos)), model=p.model, rf=p.e2e_render_factor,
                                weights=json.dumps(str(weights_file(ctx))), batch=p.e2e_batch, device=ctx.device))
    uri = f"sqlite:///{ctx.workdir / 'end-to-end' / 'mlflow.db'}"
    (ctx.workdir / "end-to-end").mkdir(exist_ok=True)
    outcome = run_experiment(spec, tracking_uri=uri, progress=False)
    (point,) = outcome.points
    if point.status != "done":
        raise RuntimeError(f"the run's point is {point.status}: {point.message}")
    with quiet_mlflow():
        run = MlflowClient(uri).get_run(point.run_id)
    metrics, params = run.data.metrics, run.data.params
    total = metrics.get("seconds_total", 0.0)
    for key in sorted(k for k in metrics if k.startswith("seconds_") and k not in ("seconds_total", "seconds_wall")):
        stage = key[len("seconds_"):]
        share = round(metrics[key] / total, 4) if total else "n/a"
        ctx.parts.append({"stage": stage, "seconds": round(metrics[key], 3),
                          "share_of_total": "after it (not in seconds_total)" if stage == "logging" else share})
    ips = metrics.get("images_per_second", 0.0)
    figures: dict[str, Any] = {
        "images_scored": int(metrics.get("n_scored", 0)), "images_per_second": round(ips, 3),
        "seconds_total": round(total, 2), "seconds_wall": round(metrics.get("seconds_wall", 0.0), 2),
        "outside_model_share": round(1 - metrics.get("seconds_model", 0.0) / total, 4) if total else "n/a",
        "peak_device_memory_mb": metrics.get("peak_device_memory_mb", "n/a"),
        "stages": "decode and score run in threads beside the model (their shares overlap colorize); "
                  "preprocess, model and postprocess are inside colorize",
        **{k: params[k] for k in ("device", "metrics_impl", "forward_batch", "batching") if k in params}}
    model_rate = next((x["model_ips"] for step in ctx.earlier if step["name"] == "model_only"
                       for x in step["parts"] if x.get("batch") == p.e2e_batch and "model_ips" in x
                       and x.get("render_factor") == p.e2e_render_factor), None)
    if model_rate:
        figures["share_of_model_only_rate"] = round(ips / model_rate, 4)
    return figures


STEPS = [
    Step("environment", lambda p: f"torch, CUDA, cuDNN, driver, the device and its dense bf16 peak (known devices, "
                                  f"else 'unknown'), a {p.matmul_size}² bf16 matmul", environment),
    Step("vs_upstream", lambda p: f"{p.model} vs upstream's one-image loop (fp32, same device): render factor "
                                  f"{', '.join(map(str, sorted(p.render_factors, reverse=True)))} x "
                                  f"{', '.join(p.precisions)}, "
                                  f"{p.upstream_images} images, batch {p.upstream_batch}, best of {p.rounds} rounds",
         vs_upstream),
    Step("model_only", lambda p: f"{p.model} alone, render factor {p.peak_render_factor} bf16: images/s, TFLOP/s and "
                                 f"the share of the dense bf16 peak at batch "
                                 f"{', '.join(map(str, p.peak_batches))}", model_only),
    Step("end_to_end", lambda p: f"one `harness run`: {p.model} render factor {p.e2e_render_factor} bf16, batch "
                                 f"{p.e2e_batch}, {p.e2e_images} photos {p.e2e_size[0]}x{p.e2e_size[1]}, psnr, ssim, "
                                 f"colorfulness, delta_e: images/s and each stage's share", end_to_end),
]

