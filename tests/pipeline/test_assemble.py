"""Assembling a point from shard results: the dataset metrics reduce exactly the scored images' rows."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.base import Dataset, Sample
from harness.errors import HarnessError
from harness.metrics import MetricChoice, registry
from harness.pipeline.assemble import assemble
from harness.pipeline.types import ShardResult


@pytest.fixture
def row_sum(monkeypatch):
    """A dataset metric whose value is the sum of its rows: which rows it was given shows in the number."""
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    @registry.register_metric("row_sum", higher_is_better=None)
    class RowSum(registry.Metric):
        kind = "dataset"

        def reduce(self, states):
            return {"row_sum": float(states.sum()) if states.size else float("nan")}

    return MetricChoice.parse("row_sum")


def dataset(ids: list[str]) -> Dataset:
    return Dataset("d", "folder", [Sample(i, loader=lambda: None) for i in ids], {})


def rows(ids: list[str], status: str = "ok") -> list[dict]:
    return [{"image_id": i, "path": None, "status": status, "width": 8, "height": 8, "seconds": 0.1, "error": ""}
            for i in ids]


def test_only_the_datasets_scored_images_are_reduced(row_sum):
    result = ShardResult(rows(["a", "b", "c"]) + rows(["d"], "failed:corrupt"),
                         {"row_sum": {"a": np.array([1.0]), "b": np.array([10.0]), "c": np.array([100.0])}})
    assert assemble(dataset(["a", "b", "d"]), result, [row_sum]).summary["row_sum"] == 11.0  # c: another split's


def test_a_scored_image_without_its_row_is_an_error_naming_it_not_a_silent_nan(row_sum):
    result = ShardResult(rows(["a", "b"]), {"row_sum": {"a": np.array([1.0])}})
    with pytest.raises(HarnessError, match="row_sum has no row of numbers for image 'b'"):
        assemble(dataset(["a", "b"]), result, [row_sum])


def test_a_metric_that_stopped_is_nan_with_its_reason(row_sum):
    result = ShardResult(rows(["a", "b"]), {"row_sum": {"a": np.array([1.0])}},
                         stopped={"row_sum": "RuntimeError: out of patience"})
    point = assemble(dataset(["a", "b"]), result, [row_sum])
    assert np.isnan(point.summary["row_sum"]) and point.notes == {"row_sum": "RuntimeError: out of patience"}
