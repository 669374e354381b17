"""The model-variant table is the one place a variant lives: the registry, `harness weights` and
`harness bench` all read it, so a new variant of an existing family is one row."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.assets.weights import WeightsFile
from harness.cli import main
from harness.errors import HarnessError
from harness.models import registry
from harness.models.variants import VARIANTS, Variant


@pytest.fixture
def new_row(monkeypatch):
    """A made-up DeOldify variant: Artistic's architecture, render factor 7 by default, its own file."""
    row = Variant("deoldify-mini", "deoldify", "harness.models.deoldify", "deep", {"render_factor": 7},
                  WeightsFile("deoldify-mini", "Mini_gen.pth", ("https://example.invalid/Mini_gen.pth",), 123, None),
                  "a test row")
    monkeypatch.setitem(VARIANTS, row.name, row)
    monkeypatch.setattr(registry, "_BOUND", {})
    return row


def test_a_row_is_a_model_with_its_defaults(new_row):
    assert "deoldify-mini" in registry.model_names() and "deoldify" not in registry.model_names()
    cls = registry.get_model_class("deoldify-mini")
    assert cls.name == "deoldify-mini" and cls.variant is new_row
    assert cls.Params().render_factor == 7 and registry.get_model_class("deoldify-artistic").Params().render_factor == 35
    assert cls.Params.model_fields["render_factor"].metadata == \
        registry.get_model_class("deoldify-artistic").Params.model_fields["render_factor"].metadata  # 1..64 kept
    with pytest.raises(HarnessError, match="render_factor"):
        registry.parse_params("deoldify-mini", {"render_factor": 99})


def test_a_row_is_listed_and_fetched_by_the_weights_commands(new_row, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert main(["weights", "list"]) == 0
    assert "deoldify-mini: Mini_gen.pth (123 bytes" in capsys.readouterr().out
    assert main(["weights", "path", "deoldify-mini"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "weights" / "Mini_gen.pth")
    assert main(["weights", "fetch", "deoldify-mini"]) == 2  # offline in tests: explained, not attempted
    assert "harness weights fetch deoldify-mini" in capsys.readouterr().err


def test_a_row_is_what_the_spec_preflight_and_bench_use(new_row, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    cls = registry.get_model_class("deoldify-mini")
    with pytest.raises(HarnessError, match="Mini_gen.pth"):
        cls.preflight(cls.Params())  # the row's official file, missing offline
    assert main(["bench", "--model", "deoldify-mini", "--images", "1", "--rounds", "1", "--batch-size", "1",
                 "--set", "render_factor=1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("weights: random") and "model deoldify-mini (render_factor 1" in out


def test_unknown_names_and_families_are_not_models():
    with pytest.raises(HarnessError, match="Did you mean 'deoldify-stable'"):
        registry.get_model_class("deoldify-stabel")
    with pytest.raises(HarnessError, match="Unknown model 'deoldify'"):
        registry.get_model_class("deoldify")  # a family, not a variant


def test_parse_params_names_the_key():
    with pytest.raises(HarnessError) as info:
        registry.parse_params("deoldify-artistic", {"render_factr": 3})
    assert "Unknown parameter 'render_factr'" in str(info.value) and "Did you mean 'render_factor'" in str(info.value)
    params = registry.parse_params("deoldify-video", {"precision": "bf16"})
    assert params.render_factor == 21 and params.precision == "bf16"


def test_weights_in_the_variant_table_are_the_official_ones():
    assert {v.weights.name for v in VARIANTS.values() if v.weights} == \
        {n for n, v in VARIANTS.items() if v.weights}  # catalogue name = model name
    assert replace(VARIANTS["deoldify-stable"].weights, urls=()).filename == "ColorizeStable_gen.pth"


def test_each_weights_source_speaks_of_its_own_file():
    """`harness weights list` says where each expected digest comes from; no entry credits another model's."""
    from harness.models.variants import VARIANTS

    for variant in VARIANTS.values():
        item = variant.weights
        if item is None:
            continue
        others = {"ECCV16", "SIGGRAPH17"} - ({"ECCV16"} if "eccv16" in item.name else {"SIGGRAPH17"})
        assert not any(name in item.source for name in others), (item.name, item.source)
