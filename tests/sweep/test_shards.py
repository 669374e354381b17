"""Shards: how a point's images are cut, and the journal that keeps finished shards across a crash."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from harness.data.base import Sample
from harness.errors import HarnessError
from harness.pipeline.types import ShardResult
from harness.sweep.points import load_spec
from harness.sweep.shards import Journal, compute, journal_root, plan


def samples(groups: list[str | None]) -> list[Sample]:
    return [Sample(f"s{i}", loader=lambda: None, group=g) for i, g in enumerate(groups)]


def test_plan_cuts_by_size_and_never_inside_a_group():
    assert [s.ids for s in plan(samples([None] * 7), 3)] == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6"]]
    clips = samples(["a", "a", "b", "b", "b", "b", "c", None, None])
    cut = plan(clips, 3)
    assert [s.ids for s in cut] == [["s0", "s1", "s2", "s3", "s4", "s5"], ["s6", "s7", "s8"]]
    assert [s.index for s in cut] == [0, 1]
    assert plan([], 5) == []
    with pytest.raises(ValueError, match="at least 1"):
        plan(clips, 0)


def result_of(ids: list[str], seed: int) -> ShardResult:
    rng = np.random.default_rng(seed)
    rows = [{"image_id": i, "path": None, "status": "ok", "psnr": float(rng.normal(20, 3)), "note": "x|y",
             "big": np.float32(1.5)} for i in ids]
    rows[0]["psnr"] = float("nan")
    states = {"inception-pool3:official": {i: rng.normal(size=8).astype(np.float32) for i in ids}}
    thumbs = {ids[0]: {"gray": b"\xff\xd8g", "output": b"\xff\xd8o", "truth": b"\xff\xd8t"}, ids[-1]: {}}
    return ShardResult(rows, states, {"seconds_total": 1.25, "seconds_model": 0.5}, model_images=len(ids),
                       stopped={"kid": "ValueError: boom"}, warnings={"a batch went one by one": 2}, thumbs=thumbs)


def test_journal_gives_back_exactly_what_it_was_given(tmp_path):
    shard = plan(samples([None] * 4), 4)[0]
    original = result_of(shard.ids, 1)
    journal = Journal(tmp_path, "k1")
    assert journal.load(shard) is None
    journal.save(shard, original)
    back = journal.load(shard)
    assert [r["psnr"] for r in back.rows][1:] == [r["psnr"] for r in original.rows][1:]  # floats bit for bit
    assert np.isnan(back.rows[0]["psnr"]) and back.rows[0]["path"] is None and back.rows[0]["big"] == 1.5
    for key, by_id in original.states.items():
        assert all(np.array_equal(back.states[key][i], v) for i, v in by_id.items())
    assert back.timings == original.timings and back.stopped == original.stopped
    assert back.warnings == original.warnings
    assert back.thumbs == original.thumbs  # the report's images survive a resume, a failed image's empty entry too
    assert back.model_images == original.model_images  # the shard's model work, whoever did it
    assert not list(journal.folder.glob("*.tmp"))  # written whole, then renamed
    journal.clear()
    assert not journal.folder.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other-key", "other-images"])
def test_a_bad_journal_file_is_ignored_with_a_warning(tmp_path, caplog, damage):
    shard = plan(samples([None] * 3), 3)[0]
    journal = Journal(tmp_path, "k1")
    journal.save(shard, result_of(shard.ids, 2))
    path = next(journal.folder.glob("shard-*.npz"))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"not a journal")
    elif damage == "other-key":  # a file copied from another piece of work
        Journal(tmp_path, "k2").save(shard, result_of(shard.ids, 3))
        (tmp_path / "k2" / path.name).replace(path)
    else:
        journal.save(plan(samples([None] * 4), 4)[0], result_of(["s0", "s1", "s2", "s3"], 4))
    with caplog.at_level(logging.WARNING, logger="harness.sweep.shards"):
        assert journal.load(shard) is None
    assert f"ignoring journal file {path}" in caplog.text and "computed again" in caplog.text


class CountingExecutor:
    """Computes a shard by making up its rows, counting the shards it computed."""

    def __init__(self):
        self.computed = []

    def run(self, shards, done, bar=None):
        for shard in shards:
            self.computed.append(shard.index)
            done(shard, result_of(shard.ids, shard.index))


def test_compute_reads_finished_shards_back_and_computes_only_the_rest(tmp_path):
    items = samples([None] * 10)
    journal = Journal(tmp_path, "k")
    for shard in plan(items, 4)[:2]:  # a killed run had finished two shards of three
        journal.save(shard, result_of(shard.ids, shard.index))
    executor = CountingExecutor()
    work = compute(executor, items, 4, journal)
    assert executor.computed == [2]
    assert (work.shards, work.resumed) == (3, 2)
    assert [r["image_id"] for r in work.result.rows] == [s.id for s in items]  # each image once, in order
    assert work.result.model_images == 10  # the work's model images, as if uninterrupted ...
    assert work.resumed_images == 8  # ... of which the journal's shards hold 8: this process colorized 2
    assert work.result.timings["seconds_total"] == pytest.approx(3 * 1.25)  # timings add up across shards


def test_journal_lives_beside_the_tracking_store(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_JOURNAL", raising=False)
    assert journal_root(f"sqlite:///{tmp_path}/mlflow.db") == tmp_path / "harness-journal"
    assert journal_root(str(tmp_path / "mlruns")) == tmp_path / "mlruns" / "harness-journal"
    monkeypatch.chdir(tmp_path)
    assert journal_root("http://mlflow.example:5000") == tmp_path / "harness-journal"
    monkeypatch.setenv("HARNESS_JOURNAL", str(tmp_path / "j"))
    assert journal_root("sqlite:///x.db") == tmp_path / "j"


def test_shard_size_below_one_is_a_spec_error_naming_the_key(write_spec):
    spec = write_spec("name: x\ndataset: {source: samples}\nmodels: [{name: grayscale}]\nshard_size: 0\n")
    with pytest.raises(HarnessError, match=r"line 4.*shard_size"):
        load_spec(spec)
