"""`harness bench`: images/s of the DeOldify engine, optionally against upstream's one-image loop.

Both sides colorize the same gray photos at the same render factor with the same weights
(the official file when cached, else random weights of the same architecture: speed does
not depend on weight values). With `vs_upstream`, rounds alternate harness and upstream in
one process so drift in machine load hits both; the figure that matters is the ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class BenchResult:
    lines: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)


def _photos(n: int) -> list[np.ndarray]:
    from harness.data import samples
    from harness.data.images import is_grayscale, to_gray

    colour = [img for s in samples.build().samples if not is_grayscale(img := s.load())]
    return [to_gray(colour[i % len(colour)]) for i in range(n)]


def _best_of(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def model_flops(net: torch.nn.Module, size: int, device: str) -> float:
    """FLOPs of one forward pass at size x size (torch's FLOP counter: 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, size, size, device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        net(x)
    return float(counter.get_total_flops())


def bench(model: str = "deoldify-artistic", render_factor: int = 35, batch_size: int = 4, precision: str = "fp32",
          images: int = 8, vs_upstream: bool = False, device: str = "auto", rounds: int = 2) -> BenchResult:
    from harness import weights as official
    from harness.experiment import resolve_device
    from harness.models.deoldify import engine as eng
    from harness.models.deoldify import unet
    from harness.models.deoldify.checkpoint import randomize_
    from harness.models.registry import get_model_class

    out = BenchResult()
    device = resolve_device(device)
    cls = get_model_class(model)
    arch = unet.ARTISTIC if getattr(cls, "arch_name", "") == "deep" else unet.STABLE
    try:
        path = official.ensure_weights(model, fetch=False)
        net = eng.load_generator(arch, path, device, model)
        out.say(f"weights: official {path.name}")
    except Exception:  # noqa: BLE001 - not cached: random weights, same architecture
        net = randomize_(unet.build(arch), seed=0).to(device)
        out.say("weights: random, same architecture (speed does not depend on weight values)")
    engine = eng.Engine(net, device, render_factor, precision, post_process=True)
    engine.max_batch = batch_size
    grays = _photos(images)
    size = engine.size
    out.say(f"model {model} ({arch.backbone}), render_factor {render_factor} ({size}x{size}), precision "
            f"{precision}, batch {batch_size}, {images} images, device {device}, torch threads "
            f"{torch.get_num_threads()}")
    engine.colorize(grays[:1])  # warm-up
    squares = eng.square_inputs(grays, size)

    def model_only():
        for start in range(0, len(squares), batch_size):
            eng.to_uint8(engine.forward(eng.to_model_input(squares[start:start + batch_size], device)))
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    flops = model_flops(net, size, device)
    upstream = None
    if vs_upstream:  # upstream in fp32 on the same device: its loop has no reduced precision
        from harness.models.deoldify.upstream import colorize_upstream, upstream_filter

        upstream = upstream_filter(arch.name, {k: v.cpu() for k, v in net.state_dict().items()}, device)
        colorize_upstream(upstream, grays[0], render_factor)  # warm-up
    t_model = _best_of(model_only, rounds)
    t_harness, t_upstream, shares = [], [], []
    for _ in range(rounds):  # alternate, so load drift hits both sides
        engine.seconds = dict.fromkeys(engine.seconds, 0.0)
        start = time.perf_counter()
        engine.colorize(grays)
        t_harness.append(time.perf_counter() - start)
        shares.append(1 - engine.seconds["model"] / t_harness[-1])
        if upstream is not None:
            start = time.perf_counter()
            for g in grays:
                colorize_upstream(upstream, g, render_factor)
            t_upstream.append(time.perf_counter() - start)
    ips_model, ips_harness = images / t_model, images / min(t_harness)
    out.figures.update(model_ips=ips_model, harness_ips=ips_harness, gflop_per_image=flops / 1e9,
                       tflops=flops * ips_model / 1e12)
    out.say(f"FLOPs per image: {flops / 1e9:.1f} GFLOP; achieved {flops * ips_model / 1e12:.3f} TFLOP/s (model only)")
    out.say(f"harness model only: {ips_model:.3f} images/s")
    overhead = shares[t_harness.index(min(t_harness))]
    out.figures["overhead_share"] = overhead
    out.say(f"harness end to end: {ips_harness:.3f} images/s (outside the model: {100 * overhead:.1f}% of wall time, "
            f"measured within the same pass)")
    if upstream is not None:
        ips_up = images / min(t_upstream)
        out.figures.update(upstream_ips=ips_up, ratio=ips_harness / ips_up)
        out.say(f"upstream ColorizerFilter loop: {ips_up:.3f} images/s")
        out.say(f"ratio harness/upstream: {ips_harness / ips_up:.2f}")
    return out
