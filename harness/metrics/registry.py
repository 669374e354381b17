"""One definition per metric, found by name from a spec.

A metric is a `Metric` subclass: its name, its direction, what it produces and how. Two
kinds:

- `image`: scores each (ground truth, output) pair. `score` is the per-image reference
  form on the CPU (numpy in, floats out); `score_batch`, when the metric has one, is the
  batched torch form the runner uses on the model's device. Its `columns` are the
  per-image columns it writes (`colorfulness` writes `colorfulness` and `colorfulness_gt`).
- `dataset`: run-level numbers over the whole set, such as FID. It maps each scored pair to
  a row of numbers (`states`, batch by batch, inside the streaming pipeline: Inception
  features of the ground truth and the output for FID) and reduces the rows of a set of
  pairs to its numbers (`reduce`). The rows are kept per image, so any subset of the images
  (a split served from shared rows, the shards of a resumed point) reduces exactly as one
  uninterrupted pass would.

Either kind may add `derived` run-level keys computed from the run's summary (`cf_delta`),
each with its own direction, and a `Params` model for its options in the spec
(`{name: lpips, net: vgg}`). A metric with a network names its official weights file
(`official_weights`); `preflight` fetches and verifies it like a model's, or takes the
file named by a `weights` option. Dataset metrics with the same `state_key` (FID and KID,
both on Inception features) share one computation of their rows per batch. The simple case
is one decorated function:

    @register_metric("mae", higher_is_better=False)
    def mae(gt, out) -> float: ...

Names are lower-case words joined by single underscores: `__` separates a summary key
from its category (`psnr_mean__animal`). Registering a taken name is an error, so a
plug-in cannot silently replace a built-in metric.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from harness.assets import weights as official
from harness.assets.weights import WeightsFile
from harness.config.params import NoParams
from harness.config.plugins import load_plugins
from harness.errors import HarnessError, unknown_name

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class Derived:
    """A run-level key computed from the run's summary, e.g. cf_delta from two colourfulness means."""

    higher_is_better: bool | None
    compute: Callable[[dict[str, float]], float]
    description: str = ""


class Metric:
    """A metric's definition (class attributes) and, instantiated for one run, its scorer."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool | None] = None
    kind: ClassVar[Literal["image", "dataset"]] = "image"
    columns: ClassVar[tuple[str, ...]] = ()
    derived: ClassVar[dict[str, Derived]] = {}
    Params: ClassVar[type[BaseModel]] = NoParams
    description: ClassVar[str] = ""

    def __init__(self, params: BaseModel | None = None, device: str = "cpu"):
        self.params = params if params is not None else self.Params()
        self.device = device

    @classmethod
    def has_device_form(cls) -> bool:
        """Whether the metric can score a batch on the model's device (`score_batch`)."""
        return cls.score_batch is not Metric.score_batch

    @classmethod
    def official_weights(cls, params: BaseModel) -> WeightsFile | None:
        """The official weights file these options use (None: the metric has no network)."""
        return None

    @classmethod
    def weights_files(cls) -> list[WeightsFile]:
        """Every official weights file of the metric (for `harness weights`)."""
        return []

    @classmethod
    def preflight(cls, params: BaseModel) -> Path | None:
        """Make sure the metric can run: its weights file (named by a `weights` option, else the
        official one, fetched where allowed and verified) and that the file loads into the metric's
        network (`check_weights`), or None for a metric without one. A HarnessError says why not."""
        path = official.resolve(getattr(params, "weights", None), cls.official_weights(params), f"metric {cls.name}")
        if path is None:
            return None
        stat = path.stat()
        checked = (cls, str(path.resolve()), stat.st_size, stat.st_mtime_ns, params.model_dump_json())
        if checked not in _CHECKED:  # once per file version and options, not once per sweep point
            cls.check_weights(path, params)
            _CHECKED.add(checked)
        return path

    @classmethod
    def check_weights(cls, path: Path, params: BaseModel) -> None:
        """Refuse, with the cause, a weights file the metric could not use: not a checkpoint, keys or
        shapes that do not fit its network, globals whose unpickling could run code. A metric with a
        network loads the file strictly into it on the CPU here, so a bad file stops the metric before
        any work instead of failing every image. The default (no network) accepts any file."""

    def state_key(self) -> str:
        """Dataset kind: the name of the per-pair rows the metric reduces. Metrics with equal keys
        (FID and KID on the same Inception weights) share one computation of the rows per batch."""
        return self.name

    def states(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Dataset kind: an N x D float array, one row per scored (ground truth, output) pair."""
        raise NotImplementedError(f"metric {self.name} is not a dataset metric")

    def reduce(self, states: np.ndarray) -> dict[str, float]:
        """Dataset kind: the run-level numbers of a set of pairs from their rows (dataset order).
        May set `self.note`: a caveat on the value, logged with the run."""
        raise NotImplementedError(f"metric {self.name} is not a dataset metric")

    def score(self, gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
        """Per-image reference form: H x W x 3 uint8 pair -> {column: value}."""
        raise NotImplementedError(f"metric {self.name} has no per-image form")

    def score_batch(self, gt, out) -> dict[str, Any]:
        """Batched device form: (B, H, W, 3) uint8 tensors of one size -> {column: (B,) tensor}."""
        raise NotImplementedError(f"metric {self.name} has no batched form")

    def close(self) -> None:
        """Release what the metric holds (networks, GPU memory)."""


class _FunctionMetric(Metric):
    """A metric defined by a plain function (and optionally its batched torch form)."""

    fn: ClassVar[Callable[..., Any]]
    batched: ClassVar[Callable[..., Any] | None] = None

    @classmethod
    def has_device_form(cls) -> bool:
        return cls.batched is not None

    def score(self, gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
        value = type(self).fn(gt, out)
        if isinstance(value, dict):
            return {k: float(v) for k, v in value.items()}
        return {self.name: float(value)}

    def score_batch(self, gt, out) -> dict[str, Any]:
        if type(self).batched is None:
            return super().score_batch(gt, out)
        value = type(self).batched(gt, out)
        return dict(value) if isinstance(value, dict) else {self.name: value}


_METRICS: dict[str, type[Metric]] = {}
#: weights files that passed `check_weights`: (metric class, path, size, mtime, options)
_CHECKED: set[tuple] = set()


def register_metric(name: str, *, higher_is_better: bool | None, columns: Sequence[str] | None = None,
                    batched: Callable[..., Any] | None = None, derived: dict[str, Derived] | None = None,
                    description: str = ""):
    """Decorator: make a metric available to specs under `name`.

    On a function `fn(gt, out) -> float` (or `-> {column: float}` with `columns` given):
    `batched` is its torch form over a batch. On a `Metric` subclass: the class is the
    metric. `higher_is_better` is the direction of its columns (None: neither).
    """
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r} must be lower-case words joined by single underscores")
    if name in _METRICS:
        raise ValueError(f"metric {name!r} is already registered")

    def decorate(obj):
        doc = (obj.__doc__ or "").strip().splitlines()
        attrs = {"name": name, "higher_is_better": higher_is_better,
                 "description": description or (doc[0] if doc else "")}
        if derived is not None:
            attrs["derived"] = dict(derived)
        if isinstance(obj, type) and issubclass(obj, Metric):
            for key, value in attrs.items():
                setattr(obj, key, value)
            obj.columns = tuple(columns or obj.columns or (name,))
            _METRICS[name] = obj
            return obj
        attrs.update(fn=staticmethod(obj), batched=staticmethod(batched) if batched else None,
                     columns=tuple(columns or (name,)), __module__=obj.__module__)
        _METRICS[name] = type(f"Metric[{name}]", (_FunctionMetric,), attrs)
        return obj

    return decorate


def metric_names() -> list[str]:
    """Registered metric names (built-in and plug-in), sorted."""
    load_plugins()
    return sorted(_METRICS)


def get_metric(name: str) -> type[Metric]:
    """The metric registered as `name`; a HarnessError suggesting the closest name otherwise."""
    load_plugins()
    try:
        return _METRICS[name]
    except KeyError:
        raise unknown_name("metric", name, metric_names()) from None


def derived_directions() -> dict[str, bool | None]:
    """Direction of every derived run-level key of every registered metric."""
    return {key: d.higher_is_better for cls in _METRICS.values() for key, d in cls.derived.items()}


@dataclass(frozen=True)
class MetricChoice:
    """A metric as a spec chooses it: its name and validated options."""

    name: str
    params: BaseModel

    @classmethod
    def parse(cls, name: str, options: dict[str, Any] | None = None) -> MetricChoice:
        """Validate `options` against the metric's `Params` (ValidationError on a bad one)."""
        return cls(name, get_metric(name).Params.model_validate(options or {}))

    @property
    def metric(self) -> type[Metric]:
        return get_metric(self.name)

    def identity(self) -> dict[str, Any]:
        """Name and every option, defaults included (JSON-safe): what the run key records."""
        return {"name": self.name, "params": self.params.model_dump(mode="json")}

    def label(self) -> str:
        """'psnr', or 'lpips[net=vgg]' for options given away from their defaults."""
        changed = {k: v for k, v in self.params.model_dump(mode="json").items()
                   if v != self.metric.Params().model_dump(mode="json").get(k)}
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in changed.items())}]" if changed else self.name


def choices(metrics: Sequence[str | MetricChoice]) -> list[MetricChoice]:
    """Metric names (default options) or choices -> choices; unknown names raise HarnessError."""
    out = []
    for m in metrics:
        if isinstance(m, MetricChoice):
            out.append(m)
            continue
        try:
            out.append(MetricChoice.parse(m))
        except ValidationError as exc:  # a metric whose options have no defaults
            raise HarnessError(f"Metric '{m}' needs options: {exc.errors()[0]['msg']}.") from None
    return out


def build_metrics(metrics: Sequence[str | MetricChoice], device: str = "cpu") -> list[Metric]:
    """Instances, ready to score on `device`, of the chosen metrics."""
    return [c.metric(c.params, device) for c in choices(metrics)]
