"""A spec's sweep: its points, each a model with validated parameters on one split.

Any list-valued model parameter is a sweep axis; so are the dataset's splits (COCO). Model
parameters and metric options are validated here, once, against each model's and metric's
own `Params` (`harness.config.params.validate_params`); a sweep point carries the validated
object from then on. Every error names the spec file, the YAML line and the key path.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.config.load import read_spec, spec_error
from harness.config.params import ParamError, validate_params
from harness.config.schema import CocoData, ModelEntry, Spec, VideoData
from harness.config.yamlio import YamlDoc
from harness.data.degrade import NONE, SEVERITIES, degradation_names
from harness.errors import HarnessError, did_you_mean
from harness.metrics import MetricChoice, get_metric, metric_names
from harness.metrics.temporal import SCORES as TEMPORAL
from harness.models.registry import get_model_class, model_names

#: the metrics a photo without ground truth can have (`dataset: {source: folder, ground_truth: none}`): the
#: output's colourfulness (its `_gt` column, of the gray input, is 0)
REFERENCE_FREE = ("colorfulness", "colorfulness_hs")


@dataclass(frozen=True, eq=False)
class SweepPoint:
    """One cell of the sweep: a model with validated parameters on one split."""

    model: str
    written: dict[str, Any]  # as written in the spec (one value per axis)
    params: BaseModel  # every model parameter, validated, defaults included
    split: str | None = None
    label: str = field(default="")
    degradation: str | None = None  # None: the clean gray input
    severity: int | None = None

    @property
    def degraded(self) -> tuple[str, int] | None:
        """(degradation, severity) of the model's input, None when it is clean."""
        return None if self.degradation is None else (self.degradation, int(self.severity or 0))

    @property
    def resolved(self) -> dict[str, Any]:
        """Every model parameter, defaults included (JSON-safe)."""
        return self.params.model_dump(mode="json")

    @property
    def setting(self) -> str:
        """The label of the model setting, without the split (the points of all splits share it)."""
        return _label(self.model, self.written, None, self.degraded)

    def identity(self) -> dict[str, Any]:
        """What makes this point this point (model, resolved params, degradation, split): feeds the run key
        (a clean input adds nothing, so runs from before degradations keep their keys)."""
        ident = {"model": self.model, "params": self.resolved, "split": self.split}
        if self.degradation is not None:
            ident["degradation"] = {"name": self.degradation, "severity": self.severity}
        return ident


def by_setting(points: list[SweepPoint]) -> list[list[SweepPoint]]:
    """Consecutive points of one model setting (same model and parameters, one per split): the
    unit a sweep computes together and the dry run prices."""
    return [list(g) for _, g in itertools.groupby(points, key=lambda p: (p.model, json.dumps(p.resolved,
                                                                                              sort_keys=True),
                                                                         p.degraded))]


@dataclass
class LoadedSpec:
    """A validated spec with its document (for line numbers), its points and its metrics."""

    spec: Spec
    doc: YamlDoc
    points: list[SweepPoint]
    metrics: list[MetricChoice]

    @property
    def path(self) -> Path:
        return self.doc.path


def _expand_model(doc: YamlDoc, index: int, entry: ModelEntry) -> list[tuple[dict[str, Any], BaseModel]]:
    """[(params as written, validated params)] for every combination of the entry's axes."""
    loc = ("models", index)
    try:
        cls = get_model_class(entry.name)
    except HarnessError:
        names = model_names()
        raise spec_error(doc, loc + ("name",), f"unknown model '{entry.name}'.{did_you_mean(entry.name, names)}",
                         hint=f"Known models: {', '.join(names)}.") from None
    params = entry.params
    for key, value in params.items():
        if isinstance(value, list) and not value:
            raise spec_error(doc, loc + (key,), "an empty list gives no sweep point.", hint="Give at least one value.")
        if isinstance(value, list) and len({json.dumps(v, sort_keys=True, default=str) for v in value}) != len(value):
            raise spec_error(doc, loc + (key,), "a value is repeated in this sweep axis.", hint="List each value once.")
    axes = [(k, v if isinstance(v, list) else [v]) for k, v in params.items()]
    combos = []
    for values in itertools.product(*(vals for _, vals in axes)):
        written = dict(zip((k for k, _ in axes), values))
        try:
            resolved = validate_params(cls.Params, written, owner=f"model '{entry.name}'")
        except ParamError as exc:
            sub = loc + ((exc.key,) if exc.key is not None else ())
            if exc.key is not None and isinstance(params.get(exc.key), list):
                sub += (params[exc.key].index(written[exc.key]),)
            raise spec_error(doc, sub, exc.message, hint=exc.hint) from None
        combos.append((written, resolved))
    return combos


def _label(model: str, written: dict[str, Any], split: str | None, degraded: tuple[str, int] | None = None) -> str:
    parts = [f"{k}={v}" for k, v in written.items()]
    if degraded is not None:
        parts.append(f"degradation={degraded[0]}/{degraded[1]}")
    if split is not None:
        parts.append(f"split={split}")
    return f"{model}[{','.join(parts)}]" if parts else model


def _degradations(spec: Spec, doc: YamlDoc) -> list[tuple[str, int] | None]:
    """Every (degradation, severity) of the spec's axis, None for the clean input; names and severities
    are checked against the catalogue (`harness.data.degrade`)."""
    known = degradation_names()
    out: list[tuple[str, int] | None] = []
    for i, entry in enumerate(spec.degradations):
        name, loc = (entry, ("degradations", i)) if isinstance(entry, str) else (entry.name, ("degradations", i, "name"))
        if name == NONE:
            found: list[tuple[str, int] | None] = [None]
        elif name not in known:
            raise spec_error(doc, loc, f"unknown degradation '{name}'.{did_you_mean(name, [NONE, *known])}",
                             hint=f"Known degradations: {NONE}, {', '.join(known)}.")
        else:
            severities = list(SEVERITIES) if isinstance(entry, str) else entry.severities
            listed = not isinstance(entry, str) and isinstance(entry.severity, list)
            for j, severity in enumerate(severities):
                if severity not in SEVERITIES:
                    raise spec_error(doc, ("degradations", i, "severity") + ((j,) if listed else ()),
                                     f"severity {severity} of '{name}' is out of 1..5.",
                                     hint="Severities go from 1 (light) to 5 (heavy), as in ImageNet-C.")
            if not severities:
                raise spec_error(doc, ("degradations", i, "severity"), "an empty list gives no sweep point.",
                                 hint="Give at least one severity.")
            found = [(name, s) for s in severities]
        for value in found:
            if value in out:
                raise spec_error(doc, loc, f"degradation {value[0] + '/' + str(value[1]) if value else NONE} is "
                                 "listed more than once.", hint="List each degradation and severity once.")
            out.append(value)
    return out


def expand(spec: Spec, doc: YamlDoc) -> list[SweepPoint]:
    """Every sweep point: models x each model's parameter axes x degradations x dataset splits."""
    splits: list[str | None] = list(spec.dataset.splits) if isinstance(spec.dataset, CocoData) else [None]
    degradations = _degradations(spec, doc)
    points: list[SweepPoint] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(spec.models):
        for written, resolved in _expand_model(doc, index, entry):
            for degraded, split in itertools.product(degradations, splits):
                name, severity = degraded if degraded else (None, None)
                point = SweepPoint(entry.name, written, resolved, split,
                                   _label(entry.name, written, split, degraded), name, severity)
                ident = json.dumps(point.identity(), sort_keys=True)
                if ident in seen:
                    raise spec_error(doc, ("models", index), f"sweep point '{point.label}' is already produced by "
                                     f"models[{seen[ident]}].", hint="Remove the duplicate entry or value.")
                seen[ident] = index
                points.append(point)
    return points


def _check_metrics(doc: YamlDoc, spec: Spec) -> list[MetricChoice]:
    """Each metric entry as a validated choice; unknown names and bad options name their line."""
    known = metric_names()
    not_reference = getattr(spec.dataset, "ground_truth", "color") == "none"
    chosen = []
    for i, entry in enumerate(spec.metrics):
        name, options = (entry, {}) if isinstance(entry, str) else (entry.name, entry.options)
        loc = ("metrics", i) if isinstance(entry, str) else ("metrics", i, "name")
        if name in TEMPORAL:
            video = isinstance(spec.dataset, VideoData)
            raise spec_error(doc, loc, f"'{name}' is a temporal score, not a metric to choose: "
                             + ("every video run computes cdc, warp_error and flicker (and their _gt levels)."
                                if video else "only a video dataset (source: video) has temporal scores."),
                             hint="Remove it from metrics" + (" (it is computed anyway)." if video else "."))
        if name not in known:
            raise spec_error(doc, loc, f"unknown metric '{name}'.{did_you_mean(name, known)}",
                             hint=f"Known metrics: {', '.join(known)}.")
        if not_reference and name not in REFERENCE_FREE:
            raise spec_error(doc, loc, f"'{name}' compares with a ground truth, and dataset.ground_truth is none.",
                             hint=f"Ask only for reference-free metrics ({', '.join(REFERENCE_FREE)}), e.g. "
                                  "`metrics: [colorfulness]`.")
        try:
            params = validate_params(get_metric(name).Params, options, owner=f"metric '{name}'", what="option")
        except ParamError as exc:
            raise spec_error(doc, ("metrics", i) + ((exc.key,) if exc.key is not None else ()), exc.message,
                             hint=exc.hint) from None
        chosen.append(MetricChoice(name, params))
    return chosen


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, validate and expand a spec; any problem is a `HarnessError` naming file, line and key."""
    spec, doc = read_spec(path)
    metrics = _check_metrics(doc, spec)
    return LoadedSpec(spec=spec, doc=doc, points=expand(spec, doc), metrics=metrics)
