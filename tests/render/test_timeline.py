"""The live-memory timeline the charts draw: by hand, and its peak against the engine's."""

from __future__ import annotations

import pytest

from cnncost import api
from cnncost.cost import memory
from cnncost.render.timeline import live_memory_timeline
from cnncost.report.zoo import spec_paths

from .conftest import SPECS, hand_report, layer


def test_a_diamond_with_a_side_output_by_hand() -> None:
    # input 10 B; a and b read it; add reads a and b; out reads add; aux (a graph output that
    # nothing reads) reads a and stays live to the end.
    report = hand_report([
        layer("input", (), 12, op="input"),
        layer("a", ("input",), 20),
        layer("aux", ("a",), 4),
        layer("b", ("input",), 32),
        layer("add", ("a", "b"), 40, op="add"),
        layer("out", ("add",), 8),
    ], peak=0)
    timeline = live_memory_timeline(report)
    assert timeline.steps == ("input", "a", "aux", "b", "add", "out")
    assert timeline.live_bytes == (
        12,            # input
        12 + 20,       # a (input still read by b)
        32 + 4,        # aux; nothing frees (a is read by add, input by b)
        36 + 32,       # b, then input is freed: 68 - 12 = 56
        56 + 40,       # add, then a and b are freed: 96 - 52 = 44 (aux and add)
        44 + 8,        # out, then add is freed; out and aux stay
    )
    assert (timeline.peak_bytes, timeline.peak_step, timeline.peak_node) == (96, 4, "add")


def _default_variants() -> list:
    out = []
    for path in spec_paths([SPECS, SPECS / "examples"]):
        variant = (api.variants(path) or (None,))[0]
        out.append(pytest.param(path, variant, id=path.stem))
    return out


@pytest.mark.parametrize(("path", "variant"), _default_variants())
def test_the_peak_is_the_engines_peak(path, variant) -> None:
    report = api.analyze(path, variant=variant, batch=2)
    graph, _ = api.build_graph(path, variant=variant)
    sizes = memory.tensor_bytes(graph, 2, 4)
    timeline = live_memory_timeline(report)
    assert timeline.peak_bytes == report.totals.peak_activation_bytes
    assert timeline.peak_bytes == memory.peak_live_bytes(graph, sizes)
    # the report's sinks are the graph's outputs: what the timeline keeps to the end
    sinks = {x.name for x in report.layers} - {i for x in report.layers for i in x.inputs}
    assert sinks == set(graph.outputs)
    assert len(timeline.live_bytes) == len(report.layers)
