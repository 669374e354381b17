"""A forward pass that fails for a reason other than out-of-memory is never hidden: the engine does
not halve or swallow it, the pipeline's per-image retry says so, and `harness bench` stops with a
clear error instead of a traceback (CUDA's `replication_pad2d` size limit was such a failure)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.models.engine import NetworkEngine


class _FailsOnBatches(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] > 1:
            raise RuntimeError("input tensor must fit into 32-bit index math")
        return x * 2


def test_engine_raises_a_non_oom_error_without_halving():
    engine = NetworkEngine(_FailsOnBatches(), "cpu")
    with pytest.raises(RuntimeError, match="32-bit index math"):
        engine.predict(np.zeros((4, 3, 8, 8), np.float32))
    assert engine.batch_cap is None and not engine.halved and engine.warnings() == []
    assert [y.shape[0] for y in engine.predict(np.zeros((1, 3, 8, 8), np.float32))] == [1]


class _Model:
    device = "cpu"

    def colorize(self, grays):
        if len(grays) > 1:
            raise RuntimeError("input tensor must fit into 32-bit index math")
        return [np.repeat(g[..., None], 3, axis=2) for g in grays]


@pytest.mark.parametrize("given", [True, False], ids=["run-warning", "terminal"])
def test_per_image_retry_is_a_warning_with_its_reason(given, capsys):
    from harness.pipeline.process import colorize_safely

    said: list[str] = []
    grays = [np.full((40, 40), v, np.uint8) for v in (10, 200)]
    outs = colorize_safely(_Model(), grays, said.append if given else None)
    assert [o.shape for o in outs] == [(40, 40, 3)] * 2
    message = said[0] if given else capsys.readouterr().err
    assert "failed on a batch of 2 images (RuntimeError: input tensor must fit" in message
    assert "one at a time" in message
    assert not given or capsys.readouterr().err == ""


def test_bench_warm_up_failure_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from harness.cli import main
    from harness.models.deoldify import engine

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))  # random weights
    real = engine.Engine.forward

    def forward(self, x):
        if x.shape[0] > 1:
            raise RuntimeError("input tensor must fit into 32-bit index math")
        return real(self, x)

    monkeypatch.setattr(engine.Engine, "forward", forward)
    assert main(["bench", "--set", "render_factor=2", "--images", "2", "--rounds", "1", "--batch-size", "2",
                 "--device", "cpu"]) != 0
    err = capsys.readouterr().err
    assert "deoldify-artistic failed on a warm-up batch of 2 images: RuntimeError: input tensor must fit" in err
    assert "Traceback" not in err
