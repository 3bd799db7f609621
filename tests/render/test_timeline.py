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


@pytest.mark.parametrize(("mode", "optimizer", "precision"), [
    ("inference", "sgd", "float32"), ("training", "adam", "float32"),
    ("training", "sgd", "bfloat16-autocast")])
def test_the_eager_curve_is_the_memory_models(mode, optimizer, precision) -> None:
    from cnncost.memory.models import MemoryConfig
    from cnncost.render.timeline import eager_memory_timeline

    memory = api.memory(SPECS / "resnet.yaml", MemoryConfig(
        mode=mode, batch=4, optimizer=optimizer, precision=precision), variant="resnet18")
    timeline = eager_memory_timeline(memory)
    assert timeline.peak_bytes == memory.peak_bytes
    assert timeline.held_bytes == memory.weights_bytes + memory.buffers_bytes + memory.input_bytes
    assert min(timeline.live_bytes) >= timeline.held_bytes
    assert memory.peak_layer in timeline.peak_node and memory.peak_op in timeline.peak_node
    # one point per run of one layer in one phase, in the order they ran
    runs = [(e.phase, e.layer) for i, e in enumerate(memory.timeline)
            if i == 0 or (e.phase, e.layer) != (memory.timeline[i - 1].phase,
                                                 memory.timeline[i - 1].layer)]
    assert list(zip(timeline.phases, timeline.steps)) == [(p, la or p) for p, la in runs]
    expected = {"inference": {"forward"}, "training": {"forward", "loss", "backward"}}[mode]
    if optimizer == "adam":  # plain SGD updates in place: its phase allocates nothing
        expected.add("optimizer")
    assert expected <= set(timeline.phases)


def test_the_other_memory_models_have_no_eager_curve() -> None:
    from cnncost.memory.models import MemoryConfig
    from cnncost.render.timeline import eager_memory_timeline

    memory = api.memory(SPECS / "resnet.yaml", MemoryConfig(model="liveness"),
                        variant="resnet18")
    with pytest.raises(ValueError, match="liveness"):
        eager_memory_timeline(memory)
