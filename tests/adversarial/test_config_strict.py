"""Strict, bounded config (#18 D4, D5, D6): an alias bomb is refused before expansion, a key given twice
names both lines, a boolean is not a number (the spec's own keys, a model's Params, a plug-in's)."""

from __future__ import annotations

import resource
import time

import pytest
from pydantic import BaseModel

from harness.config.params import ParamError, validate_params
from harness.config.yamlio import load_yaml
from harness.errors import HarnessError
from harness.sweep.points import load_spec

SPEC = """name: t
dataset:
  source: samples
models:
  - name: grayscale
"""


def write(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return SPEC + "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_naming_the_file_and_line(tmp_path):
    path = write(tmp_path, bomb())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(HarnessError, match=r"line 7 is refused: its aliases \(\*name\) expand to [\d,]+ nodes") as info:
        load_spec(path)
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no expansion
    assert str(path) in str(info.value)


def test_a_recursive_alias_is_refused(tmp_path):
    with pytest.raises(HarnessError, match="refers to the node that contains it"):
        load_yaml(write(tmp_path, SPEC + "loop: &l [1, *l]\n"))


def test_modest_aliases_still_work(tmp_path):
    doc = load_yaml(write(tmp_path, SPEC + "base: &b {count: 3}\ngrids: *b\n"))
    assert doc.data["grids"] == {"count": 3}


@pytest.mark.parametrize("text, key, first, second", [
    (SPEC + "name: other\n", "name", 1, 6),
    ("name: t\ndataset:\n  source: samples\n  limit: 2\n  limit: 3\nmodels: [{name: grayscale}]\n", "limit", 4, 5),
    (SPEC + "    render_factor: 10\n    render_factor: 20\n", "render_factor", 6, 7),
])
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path, text, key, first, second):
    path = write(tmp_path, text)
    with pytest.raises(HarnessError) as info:
        load_spec(path)
    message = str(info.value)
    assert f"key '{key}' is given twice, on line {first} and on line {second}" in message and str(path) in message


@pytest.mark.parametrize("text, where", [
    (SPEC.replace("  - name: grayscale", "  - name: deoldify-artistic\n    render_factor: true"), "render_factor"),
    (SPEC.replace("  - name: grayscale", "  - name: deoldify-artistic\n    render_factor: [10, true]"),
     "render_factor"),
    (SPEC + "batch_size: true\n", "batch_size"),
    (SPEC.replace("source: samples", "source: samples\n  limit: false"), "limit"),
    (SPEC + "grids: {count: true}\n", "grids.count"),
])
def test_a_boolean_is_not_a_number(tmp_path, text, where):
    with pytest.raises(HarnessError, match=r"is a boolean, not a number") as info:
        load_spec(write(tmp_path, text))
    assert where in str(info.value)


def test_booleans_stay_booleans_where_the_schema_wants_one(tmp_path):
    loaded = load_spec(write(tmp_path, "name: t\ndataset: {source: folder, path: x, recursive: false}\n"
                                       "models: [{name: grayscale}]\n"))
    assert loaded.spec.dataset.recursive is False


def test_a_plugins_plain_basemodel_params_refuse_booleans_as_numbers_too():
    class PluginParams(BaseModel):  # not harness's Strict: a third-party model's own
        strength: float = 1.0
        steps: list[int] = [1]
        verbose: bool = False

    with pytest.raises(ParamError, match="strength.*true is a boolean, not a number"):
        validate_params(PluginParams, {"strength": True}, owner="model 'plugin'")
    with pytest.raises(ParamError, match="steps"):
        validate_params(PluginParams, {"steps": [2, False]}, owner="model 'plugin'")
    assert validate_params(PluginParams, {"verbose": True, "strength": 2}, owner="model 'plugin'").verbose is True
