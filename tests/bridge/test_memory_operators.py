"""Every operator's memory rule against PyTorch's MemTracker, with gradients flowing through it.

``test_bridge_operators`` checks each operator's node (and, through ``check``, its memory in
float32 with SGD) where it reads the network's input, which needs no gradient; here a 1x1
convolution (a linear layer on vectors) feeds each case, so every operator runs its backward,
under autocast (bfloat16 and float16) with Adam (state, step temporaries), compared to the byte:
inference, the training forward on fake CUDA tensors, two training steps on fake CPU tensors.
"""

from __future__ import annotations

from typing import Any

import pytest

from cnncost import api
from cnncost.bridge.memcheck import FLOPS_LABEL, memory_runs

from .test_bridge_operators import CASES


def _fed(in_shape: list[int], layers: list[Any]) -> list[Any]:
    if len(in_shape) == 3:
        feed = {"conv2d": {"name": "feed", "out": in_shape[0], "kernel": 1}}
    else:
        feed = {"linear": {"name": "feed", "out": in_shape[0]}}
    return [feed, *layers]


@pytest.mark.parametrize("op, in_shape, layers, precision", [
    pytest.param(op, shape, layers, precision, id=f"{op}-{i}-{precision}")
    for i, (op, shape, layers) in enumerate(CASES) if layers
    for precision in ("bfloat16-autocast", "float16-autocast")])
def test_operator_memory_with_gradients(write_spec, op: str, in_shape: list[int],
                                        layers: list[Any], precision: str) -> None:
    graph, _ = api.build_graph(write_spec("case", in_shape, _fed(in_shape, layers)))
    assert graph.node("x").op == op
    runs = memory_runs(graph, batch=3, dtype="float32", optimizer="adam", precision=precision)
    memory = [run for run in runs if run.label != FLOPS_LABEL]
    assert len(memory) == 3, "a training run was skipped: nothing required a gradient"
    assert len(runs) == 4, "the training FLOPs were not compared with FlopCounterMode"
    for run in runs:
        assert run.ok, (run.label, [c for c in run.totals if not c.ok],
                        [(layer.name, layer.differing) for layer in run.layers])
    for run in memory:
        assert run.layers_compared == len(graph)
