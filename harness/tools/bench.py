"""`harness bench`: images/s of a model as `harness run` drives it, optionally against its upstream loop.

The model is built through the registry exactly as a spec builds it and given batches of
`batch_size` gray photos (one forward pass each), so the figure is the run's. Weights are
the official file when cached, else random weights of the same architecture written in
the official format (speed does not depend on weight values). With `vs_upstream`, rounds
alternate harness and upstream in one process so drift in machine load hits both; the
figure that matters is the ratio, stated with how far the outputs differ.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.assets import weights as official
from harness.data import samples
from harness.data.images import is_grayscale
from harness.device import resolve_device
from harness.errors import HarnessError
from harness.gray import to_gray
from harness.models.registry import build_model, get_model_class, parse_params
from harness.tools.upstream import one_image


@dataclass
class BenchResult:
    lines: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)  # how the batches went through the network
    warnings: list[str] = field(default_factory=list)  # fallbacks the model took (said, never silent)

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)


def _photos(n: int) -> list[np.ndarray]:
    colour = [img for s in samples.build().samples if not is_grayscale(img := s.load())]
    return [to_gray(colour[i % len(colour)]) for i in range(n)]


def bench_weights(cls, params, workdir: Path) -> tuple[Path, str]:
    """The file `params` name, else the official file when cached and intact, else random weights of
    the same architecture written under `workdir`."""
    if getattr(params, "weights", None) is not None:
        return Path(params.weights), "given"
    item = cls.variant.official_weights(params) if cls.variant is not None else None
    if item is not None:
        try:
            return official.ensure(item, fetch=False), "official"
        except HarnessError:
            pass
    return cls.write_random_weights(workdir / f"{cls.name}-random.pth", params, seed=0), "random"


def flops_per_image(model, gray: np.ndarray) -> float:
    """FLOPs of colorizing one image (torch's FLOP counter: 2 per multiply-add; the network dominates)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model.colorize([gray])
    return float(counter.get_total_flops())


def _deviation(ours: list[np.ndarray], theirs: list[np.ndarray]) -> tuple[int, float, float]:
    """(max, 99.9th percentile, share of pixel channels that differ) of |ours - theirs| in grey levels."""
    diff = np.concatenate([np.abs(a.astype(np.int16) - b.astype(np.int16)).ravel() for a, b in zip(ours, theirs)])
    return int(diff.max()), float(np.percentile(diff, 99.9)), float((diff > 0).mean())


def _checked(engine, grays: list[np.ndarray], model: str, what: str = "timed") -> list[np.ndarray]:
    """`engine.colorize(grays)`; a failure of the batch is a clear error, never a crash or a silent
    one-image fallback (which would time something else than the batch asked for)."""
    try:
        return engine.colorize(grays)
    except (HarnessError, KeyboardInterrupt):
        raise
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:300]
        raise HarnessError(f"{model} failed on a {what} batch of {len(grays)} images: {type(exc).__name__}: {first}",
                           hint="Try a smaller --batch-size or render size; if it fails at batch size 1 too, "
                                "the model cannot run here.") from exc


def bench(model: str = "deoldify-artistic", params: dict | None = None, batch_size: int = 4, images: int = 8,
          vs_upstream: bool = False, device: str = "auto", rounds: int = 2) -> BenchResult:
    """Time `model` with `params` (validated like a spec's) on `images` photos; see the module docstring."""
    out = BenchResult()
    device = resolve_device(device)
    cls = get_model_class(model)
    grays = _photos(images)
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        path, kind = bench_weights(cls, parse_params(model, params), Path(tmp))
        out.say(f"weights: {kind} {path.name}" if kind != "random"
                else "weights: random, same architecture (speed does not depend on weight values)")
        settings = {**(params or {}), "weights": str(path)}
        engine = build_model(model, settings, device)
        import torch

        described = ", ".join(f"{k} {v}" for k, v in engine.params.model_dump(mode="json").items() if k != "weights")
        batch = f"batch {min(batch_size, len(grays))}" + (f" (--batch-size {batch_size} is more than the images)"
                                                           if batch_size > len(grays) else "")
        out.say(f"model {model} ({described}), {batch}, {len(grays)} images, device {device}, "
                f"torch threads {torch.get_num_threads()}")
        _checked(engine, grays[:batch_size], model, "warm-up")  # (and first-call allocations)
        flops = flops_per_image(engine, grays[0])
        upstream = one_image(cls, path, engine.params, device) if vs_upstream else None
        if upstream is not None:
            upstream(grays[0])  # warm-up
        t_harness, t_model, t_upstream = [], [], []
        ours = theirs = None
        for _ in range(rounds):  # alternate, so load drift hits both sides
            before = engine.stage_seconds().get("model", 0.0)
            start = time.perf_counter()
            ours = [o for i in range(0, images, batch_size) for o in _checked(engine, grays[i:i + batch_size], model)]
            t_harness.append(time.perf_counter() - start)
            t_model.append(engine.stage_seconds().get("model", 0.0) - before)
            if upstream is not None:
                start = time.perf_counter()
                theirs = [upstream(g) for g in grays]
                t_upstream.append(time.perf_counter() - start)
        out.facts, out.warnings = engine.describe_run(), engine.warnings()
    for warning in out.warnings:
        out.say(f"warning: {warning}")
    best = t_harness.index(min(t_harness))
    ips_harness = images / t_harness[best]
    ips_model = images / t_model[best] if t_model[best] > 0 else float("nan")
    overhead = 1 - t_model[best] / t_harness[best]
    out.figures.update(model_ips=ips_model, harness_ips=ips_harness, gflop_per_image=flops / 1e9,
                       tflops=flops * ips_model / 1e12, overhead_share=overhead)
    out.say(f"FLOPs per image: {flops / 1e9:.1f} GFLOP; achieved {flops * ips_model / 1e12:.3f} TFLOP/s (model only)")
    out.say(f"harness model only: {ips_model:.3f} images/s")
    out.say(f"harness end to end: {ips_harness:.3f} images/s (outside the model: {100 * overhead:.1f}% of wall time, "
            f"measured within the same pass)")
    if upstream is not None:
        ips_up = images / min(t_upstream)
        worst, p999, share = _deviation(ours, theirs)
        out.figures.update(upstream_ips=ips_up, ratio=ips_harness / ips_up, max_diff=worst, p999_diff=p999,
                           differ_share=share)
        out.say(f"upstream one-image loop: {ips_up:.3f} images/s")
        out.say(f"outputs vs upstream: max |diff| {worst}, p99.9 {p999:.0f} grey levels, "
                f"{100 * share:.2f}% of pixel channels differ")
        out.say(f"ratio harness/upstream: {ips_harness / ips_up:.2f}")
    return out
