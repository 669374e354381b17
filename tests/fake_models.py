"""Small test models registered through the plugin mechanism (HARNESS_PLUGINS=tests.fake_models).

They exercise the registry, sweep expansion, failure isolation and resume without any
weights: `fake-tint` adds a deterministic colour cast, optionally slowly (for kill tests);
`fake-fragile` fails on images narrower than a threshold; `fake-broken` misbehaves in a
chosen way; `fake-weighted` takes a weights file, for run-key tests.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.models.base import Colorizer
from harness.models.registry import register_model


class TintParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strength: float = Field(0.5, ge=0.0, le=1.0)
    channel: Literal["red", "green", "blue"] = "red"
    delay: float = Field(0.0, ge=0.0)


@register_model("fake-tint")
class FakeTint(Colorizer):
    """Gray to RGB, then push one channel by `strength` of its headroom."""

    Params = TintParams
    calls: list[int] = []

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        FakeTint.calls.append(len(grays))
        if self.params.delay:
            time.sleep(self.params.delay)
        idx = ["red", "green", "blue"].index(self.params.channel)
        outs = []
        for g in grays:
            rgb = np.repeat(g[..., None], 3, axis=2).astype(np.float64)
            rgb[..., idx] += (255 - rgb[..., idx]) * self.params.strength
            outs.append(np.clip(np.round(rgb), 0, 255).astype(np.uint8))
        return outs


class FragileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_width: int = 80


@register_model("fake-fragile")
class FakeFragile(Colorizer):
    """Like the grayscale baseline, but raises on narrow images (to test failure isolation)."""

    Params = FragileParams

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        for g in grays:
            if g.shape[1] < self.params.min_width:
                raise RuntimeError(f"image too narrow: {g.shape[1]} px")
        return [np.repeat(g[..., None], 3, axis=2) for g in grays]


class BrokenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["harness_error", "wrong_count", "bad_output"] = "harness_error"


@register_model("fake-broken")
class FakeBroken(Colorizer):
    """Misbehaves in one chosen way: a configuration error mid-run, too few outputs, or wrong outputs."""

    Params = BrokenParams

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        from harness.errors import HarnessError

        if self.params.mode == "harness_error":
            raise HarnessError("fake-broken: the model's configuration broke mid-run.")
        if self.params.mode == "wrong_count":
            return [np.repeat(g[..., None], 3, axis=2) for g in grays][:-1] or [np.zeros((1, 1, 3), np.uint8)] * 2
        return [np.zeros(g.shape, np.float32) for g in grays]  # gray-shaped floats, not H x W x 3 uint8


class WeightedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: Path | None = None


@register_model("fake-weighted")
class FakeWeighted(Colorizer):
    """The grayscale baseline with a weights file (its content is not read): for run-key tests."""

    Params = WeightedParams

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.repeat(g[..., None], 3, axis=2) for g in grays]


class CrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker: Path  # the process dies once: when this file does not exist yet (it is created first)
    after: int = Field(0, ge=0)  # images colorized by this process before it dies
    log: Path | None = None  # a file getting one line per image colorized, across processes


@register_model("fake-crash")
class FakeCrash(Colorizer):
    """fake-tint that kills its own process (SIGKILL, as a lost machine or the OOM killer would)
    once it has colorized `after` images, the first time only; logs every image it colorizes."""

    Params = CrashParams

    def __init__(self, params, device: str = "cpu"):
        super().__init__(params, device)
        self.done = 0
        self.tint = FakeTint(TintParams(strength=0.3), device)

    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        import os
        import signal

        if self.done + len(grays) > self.params.after and not self.params.marker.exists():
            self.params.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        self.done += len(grays)
        if self.params.log is not None:
            with open(self.params.log, "a") as fh:
                fh.writelines(f"{os.getpid()} {g.shape[0]}x{g.shape[1]} {int(g.sum())}\n" for g in grays)
        return self.tint.colorize(grays)
