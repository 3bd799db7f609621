"""The eager memory model against the tracker on whole networks, in CI.

``cnncost check`` runs this comparison (``memcheck.memory_runs``) for one spec; the committed
zoo report covers every spec and variant (``test_memory_zoo``). Here: networks that between them
use every kind of memory behaviour the zoo has (in-place ReLUs and sums, LRN, depthwise and
separable convolutions, squeeze-excitation, stochastic depth, connection tables, the RBF layer,
concatenations, padded pools), with SGD and with Adam under bfloat16 autocast; and the torch
references themselves: the torchvision model, run as torchvision writes it, holds exactly what
cnncost computes for its spec.
"""

from __future__ import annotations

import pytest
import torchvision

from cnncost import api
from cnncost.bridge.memcheck import memory_runs
from cnncost.bridge.memtrack import track_module, tracker_config
from cnncost.memory.models import MemoryConfig, analyze_memory

from .conftest import SPECS

NETWORKS = ["resnet.yaml@resnet18", "inception_v1.yaml@paper", "mobilenet_v2.yaml@torchvision",
            "efficientnet.yaml@torchvision_b0", "lenet5.yaml@lecun1998", "xception.yaml@keras",
            "inception_v3.yaml@torchvision"]


def graph_of(ref: str):
    path, variant = api.parse_spec_ref(ref)
    return api.build_graph(SPECS / path, variant=variant)[0]


@pytest.mark.parametrize("ref", NETWORKS)
def test_network_memory_equals_the_tracker(ref: str) -> None:
    runs = memory_runs(graph_of(ref), batch=1, dtype="float32")
    assert len(runs) == 4
    for run in runs:
        assert run.ok, (run.label, [c for c in run.totals if not c.ok],
                        [(layer.name, layer.differing) for layer in run.layers[:5]])


@pytest.mark.parametrize("ref", ["resnet.yaml@resnet18", "efficientnet.yaml@torchvision_b0"])
def test_adam_under_autocast_equals_the_tracker(ref: str) -> None:
    for run in memory_runs(graph_of(ref), batch=3, dtype="float32", optimizer="adam",
                           precision="bfloat16-autocast"):
        assert run.ok, (run.label, [c for c in run.totals if not c.ok])


REFERENCES = [
    ("resnet.yaml@resnet50", lambda: torchvision.models.resnet50(), 224),
    ("vgg.yaml@vgg11_torchvision", lambda: torchvision.models.vgg11(), 224),
    ("mobilenet_v2.yaml@torchvision", lambda: torchvision.models.mobilenet_v2(), 224),
    ("efficientnet.yaml@torchvision_b0", lambda: torchvision.models.efficientnet_b0(), 224),
    ("inception_v1.yaml@torchvision",
     lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False), 224),
]


@pytest.mark.parametrize("ref, build, side", REFERENCES, ids=[r[0] for r in REFERENCES])
@pytest.mark.parametrize("mode", ["inference", "training"])
def test_torchvision_model_holds_what_its_spec_says(ref: str, build, side: int,
                                                    mode: str) -> None:
    config = MemoryConfig(mode=mode, batch=2)
    device = "cuda" if mode == "inference" else "cpu"
    measured = track_module(build, (3, side, side), config, device).steps
    model = analyze_memory(graph_of(ref), tracker_config(config, device))
    for step, tracked in zip(model.steps, measured):
        phases = {p.phase: p.peak_bytes for p in step.phases}
        assert {k: phases.get(k) for k in tracked.phases} == tracked.phases


def test_a_wrong_memory_rule_is_caught_at_its_layer(monkeypatch, write_spec) -> None:
    """A relu rule that saves its input instead of its result keeps the batch-norm output
    alive past the relu: the relu saves as many bytes either way (its input and result are the
    same size), so the check names the next layer, whose forward peak holds one tensor too many
    (2 x 4 x 6 x 6 float32 = 1,152 bytes)."""
    from cnncost.ops import activation

    path = write_spec("net", [4, 8, 8], [
        {"conv2d": {"name": "c", "out": 4, "kernel": 3}}, {"batch_norm": {"name": "bn"}},
        {"relu": {"name": "r"}}, {"conv2d": {"name": "c2", "out": 4, "kernel": 3}}])
    graph = api.build_graph(path)[0]
    assert all(run.ok for run in memory_runs(graph, batch=2, dtype="float32"))
    monkeypatch.setitem(activation._TORCH, "relu", ("relu", "input"))
    runs = {run.label: run for run in memory_runs(graph, batch=2, dtype="float32")}
    steps = runs["training steps on fake cpu"]
    assert not steps.ok
    assert [(layer.name, [c.quantity for c in layer.differing]) for layer in steps.layers] == [
        ("c2", ["forward peak"])]
    (peak,) = steps.layers[0].differing
    assert peak.analytic - peak.measured == 2 * 4 * 6 * 6 * 4
    assert runs["inference on fake cuda"].ok  # nothing is saved at inference
