"""Experiment specs: the YAML schema and its expansion into sweep points.

A spec names a dataset, the models with their parameters, the metrics and how to run.
Any list-valued model parameter is a sweep axis; so are the dataset's splits (COCO).
Every error names the spec file, the YAML line and the key path, with a suggestion.
Model parameters and metric options are validated here, once, against each model's and
metric's own `Params`; a sweep point carries the validated object from then on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import HarnessError, did_you_mean
from harness.metrics import MetricChoice, get_metric, metric_names
from harness.models.registry import get_model_class, model_names
from harness.spec_data import (SOURCES, CocoData, CocoSplit, DatasetSpec, FolderData,  # noqa: F401 - re-exported
                               SamplesData, VideoData)
from harness.yamlio import YamlDoc, format_loc, load_yaml

DEFAULT_METRICS = ["psnr", "ssim", "colorfulness", "delta_e"]
DEFAULT_SHARD_SIZE = 256  # images per shard: a few minutes of work on a CPU, seconds on a GPU


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridSpec(_Strict):
    count: int = Field(6, ge=0, le=60, description="Images shown in the sample grid (best, median, worst by PSNR).")


class ExecutorSpec(_Strict):
    """Where the shards of a sweep point run: this process (`local`) or Ray workers (`ray`)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="Ray cluster to join (else RAY_ADDRESS, else a local Ray).")
    workers: int | None = Field(None, ge=1, description="Ray workers (default: one per GPU, else one per "
                                                         "cpus_per_worker CPUs).")
    gpus_per_worker: float | None = Field(None, ge=0, description="GPUs per Ray worker (default: 1 when the "
                                                                   "cluster has GPUs and device is not cpu, else 0).")
    cpus_per_worker: float = Field(1, gt=0, description="CPUs per Ray worker (its torch threads on the CPU).")


class ModelEntry(BaseModel):
    """`name` plus the model's own parameters; a list value is a sweep axis."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MetricEntry(BaseModel):
    """A metric with options: `{name: lpips, net: vgg}` (a bare name takes the defaults)."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Spec(_Strict):
    name: str = Field(min_length=1, description="MLflow experiment name.")
    dataset: DatasetSpec
    models: list[ModelEntry] = Field(min_length=1)
    metrics: list[str | MetricEntry] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)
    grids: GridSpec = Field(default_factory=GridSpec)
    batch_size: int = Field(8, ge=1, le=4096, description="Images per model call: one forward pass of a network.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    metrics_impl: Literal["auto", "skimage", "torch"] = Field(
        "auto", description="Scoring implementation: torch on the model's device, or the scikit-image reference.")
    protocol: Literal["native", "resize256", "center_crop256"] = Field(
        "native", description="Resolution every metric scores at: native, or a paper's 256x256 protocol.")
    workers: int = Field(2, ge=0, le=64, description="Threads decoding images ahead of the model.")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="Images per shard: the unit of work that is "
                                                                  "journaled, resumed and handed to a worker.")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, value: list[str | MetricEntry]) -> list[str | MetricEntry]:
        names = [m if isinstance(m, str) else m.name for m in value]
        if len(set(names)) != len(names):
            raise ValueError("metrics are listed more than once")
        return value


@dataclass(frozen=True, eq=False)
class SweepPoint:
    """One cell of the sweep: a model with validated parameters on one split."""

    model: str
    written: dict[str, Any]  # as written in the spec (one value per axis)
    params: BaseModel  # every model parameter, validated, defaults included
    split: str | None = None
    label: str = field(default="")

    @property
    def resolved(self) -> dict[str, Any]:
        """Every model parameter, defaults included (JSON-safe)."""
        return self.params.model_dump(mode="json")

    @property
    def setting(self) -> str:
        """The label of the model setting, without the split (the points of all splits share it)."""
        return _label(self.model, self.written, None)

    def identity(self) -> dict[str, Any]:
        """What makes this point this point (model, resolved params, split): feeds the run key."""
        return {"model": self.model, "params": self.resolved, "split": self.split}


def by_setting(points: list[SweepPoint]) -> list[list[SweepPoint]]:
    """Consecutive points of one model setting (same model and parameters, one per split): the
    unit a sweep computes together and the dry run prices."""
    return [list(g) for _, g in itertools.groupby(points, key=lambda p: (p.model, json.dumps(p.resolved,
                                                                                              sort_keys=True)))]


@dataclass
class LoadedSpec:
    spec: Spec
    doc: YamlDoc
    points: list[SweepPoint]
    metrics: list[MetricChoice]

    @property
    def path(self) -> Path:
        return self.doc.path

    def sha256(self) -> str:
        return hashlib.sha256(self.doc.path.read_bytes()).hexdigest()


def _error(doc: YamlDoc, loc: tuple, message: str, hint: str | None = None) -> HarnessError:
    return HarnessError(f"Invalid spec {doc.where(loc)}: {message}", hint=hint)


def _strip_tags(loc: tuple) -> tuple:
    """Drop pydantic's discriminator tag from a location ('dataset', 'folder', 'path')."""
    if len(loc) > 1 and loc[0] == "dataset" and loc[1] in SOURCES:
        return (loc[0],) + loc[2:]
    return loc


def _fields_at(loc: tuple, data: Any) -> list[str]:
    """Names of the keys allowed where `loc` points, for 'did you mean'."""
    parent = loc[:-1]
    if parent == ():
        return list(Spec.model_fields)
    if parent == ("dataset",):
        source = data.get("dataset", {}).get("source") if isinstance(data, dict) else None
        return list(SOURCES.get(source, SamplesData).model_fields)
    if parent == ("grids",):
        return list(GridSpec.model_fields)
    if len(parent) == 4 and parent[:2] == ("dataset", "splits"):
        return list(CocoSplit.model_fields)
    return []


def _pydantic_error(doc: YamlDoc, exc: ValidationError) -> HarnessError:
    errors = exc.errors()
    # a misspelt key shows up as both "unknown" and "missing": the unknown one says more
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = _strip_tags(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        key = loc[-1]
        allowed = _fields_at(loc, doc.data)
        return _error(doc, loc, f"unknown key '{key}'.{did_you_mean(str(key), allowed)}",
                      hint=f"Allowed keys here: {', '.join(allowed)}." if allowed else None)
    if err["type"] == "missing":
        return _error(doc, loc, f"required key '{format_loc(loc)}' is missing.", hint="Add it to the spec.")
    if err["type"] == "union_tag_invalid" or (loc == ("dataset",) and "tag" in err["type"]):
        return _error(doc, ("dataset", "source"), f"{err['msg']}.", hint="Use source: samples, folder, coco or video.")
    return _error(doc, loc, f"{err['msg']} (got {err.get('input')!r}).")


def _expand_model(doc: YamlDoc, index: int, entry: ModelEntry) -> list[tuple[dict[str, Any], BaseModel]]:
    """[(params as written, validated params)] for every combination of the entry's axes."""
    loc = ("models", index)
    try:
        cls = get_model_class(entry.name)
    except HarnessError:
        names = model_names()
        raise _error(doc, loc + ("name",), f"unknown model '{entry.name}'.{did_you_mean(entry.name, names)}",
                     hint=f"Known models: {', '.join(names)}.") from None
    fields = cls.Params.model_fields
    params = entry.params
    for key, value in params.items():
        if key not in fields:
            hint = f"Parameters of '{entry.name}': {', '.join(fields) or 'none'}."
            raise _error(doc, loc + (key,), f"unknown parameter '{key}' for model '{entry.name}'."
                         f"{did_you_mean(key, fields)}", hint=hint)
        if isinstance(value, list) and not value:
            raise _error(doc, loc + (key,), "an empty list gives no sweep point.", hint="Give at least one value.")
        if isinstance(value, list) and len({json.dumps(v, sort_keys=True, default=str) for v in value}) != len(value):
            raise _error(doc, loc + (key,), "a value is repeated in this sweep axis.", hint="List each value once.")
    axes = [(k, v if isinstance(v, list) else [v]) for k, v in params.items()]
    combos = []
    for values in itertools.product(*(vals for _, vals in axes)):
        written = dict(zip((k for k, _ in axes), values))
        try:
            resolved = cls.Params.model_validate(written)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = err["loc"][0] if err["loc"] else None
            sub = loc + ((key,) if key is not None else ())
            if key is not None and isinstance(params.get(key), list):
                sub += (params[key].index(written[key]),)
            raise _error(doc, sub, f"{err['msg']} (got {err.get('input')!r}).") from None
        combos.append((written, resolved))
    return combos


def _label(model: str, written: dict[str, Any], split: str | None) -> str:
    parts = [f"{k}={v}" for k, v in written.items()]
    if split is not None:
        parts.append(f"split={split}")
    return f"{model}[{','.join(parts)}]" if parts else model


def expand(spec: Spec, doc: YamlDoc) -> list[SweepPoint]:
    """Every sweep point: models x each model's parameter axes x dataset splits."""
    splits: list[str | None] = list(spec.dataset.splits) if isinstance(spec.dataset, CocoData) else [None]
    points: list[SweepPoint] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(spec.models):
        for written, resolved in _expand_model(doc, index, entry):
            for split in splits:
                point = SweepPoint(entry.name, written, resolved, split, _label(entry.name, written, split))
                ident = json.dumps(point.identity(), sort_keys=True)
                if ident in seen:
                    raise _error(doc, ("models", index), f"sweep point '{point.label}' is already produced by "
                                 f"models[{seen[ident]}].", hint="Remove the duplicate entry or value.")
                seen[ident] = index
                points.append(point)
    return points


def _check_metrics(doc: YamlDoc, spec: Spec) -> list[MetricChoice]:
    """Each metric entry as a validated choice; unknown names and bad options name their line."""
    known = metric_names()
    chosen = []
    for i, entry in enumerate(spec.metrics):
        name, options = (entry, {}) if isinstance(entry, str) else (entry.name, entry.options)
        loc = ("metrics", i) if isinstance(entry, str) else ("metrics", i, "name")
        if name not in known:
            raise _error(doc, loc, f"unknown metric '{name}'.{did_you_mean(name, known)}",
                         hint=f"Known metrics: {', '.join(known)}.")
        fields = get_metric(name).Params.model_fields
        for key in options:
            if key not in fields:
                raise _error(doc, ("metrics", i, key), f"unknown option '{key}' for metric '{name}'."
                             f"{did_you_mean(key, fields)}", hint=f"Options of '{name}': {', '.join(fields) or 'none'}.")
        try:
            chosen.append(MetricChoice.parse(name, options))
        except ValidationError as exc:
            err = exc.errors()[0]
            sub = ("metrics", i) + ((err["loc"][0],) if err["loc"] else ())
            raise _error(doc, sub, f"{err['msg']} (got {err.get('input')!r}).") from None
    return chosen


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, validate and expand a spec; any problem is a `HarnessError` naming file, line and key."""
    doc = load_yaml(path, what="spec")
    if not isinstance(doc.data, dict):
        raise HarnessError(f"Spec '{doc.path}' must be a mapping of keys (name, dataset, models, ...), "
                           f"not {type(doc.data).__name__}.", hint="See experiments/quickstart.yaml for an example.")
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        raise _pydantic_error(doc, exc) from None
    metrics = _check_metrics(doc, spec)
    return LoadedSpec(spec=spec, doc=doc, points=expand(spec, doc), metrics=metrics)
