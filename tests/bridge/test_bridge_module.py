"""``to_module``: the module tree mirrors the dotted node names and the forward follows the graph."""

from __future__ import annotations

from types import MappingProxyType

import pytest
import torch
import torchvision

from cnncost import api
from cnncost.bridge.module import GraphModule, Scope, owner, to_module
from cnncost.graph.layergraph import LayerGraph, LayerNode

from .conftest import SPECS


def leaf_names(model: GraphModule) -> set[str]:
    return {name for name, m in model.named_modules() if name and not isinstance(m, Scope)}


def test_module_names_are_node_names() -> None:
    graph, _ = api.build_graph(SPECS / "inception_v1.yaml", variant="paper_aux")
    model = to_module(graph)
    assert leaf_names(model) == {n.name for n in graph}
    scopes = {name for name, m in model.named_modules() if isinstance(m, Scope)}
    assert "inception_3a.branch_5x5" in scopes
    assert all(any(n.name.startswith(s + ".") for n in graph) for s in scopes)
    assert isinstance(model.get_submodule("inception_3a.branch_5x5.conv.conv"), torch.nn.Conv2d)
    # leaves own their parameters directly: no hidden child modules
    assert all(not list(model.leaf(n.name).children()) for n in graph)


def test_forward_returns_every_output_in_order() -> None:
    graph, _ = api.build_graph(SPECS / "inception_v1.yaml", variant="paper_aux",
                               overrides={"resolution": 96, "classes": 7})
    model = to_module(graph).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 96))
    assert isinstance(out, tuple) and len(out) == len(graph.outputs) == 3
    assert [tuple(o.shape) for o in out] == [(2, *graph.node(n).out_shape) for n in graph.outputs]


def test_run_visits_nodes_in_topological_order() -> None:
    graph, _ = api.build_graph(SPECS / "examples" / "inception_5x5_bottleneck.yaml",
                               variant="bottleneck")
    model = to_module(graph)
    seen: list[str] = []

    def around(name, call):
        seen.append(name)
        return call()

    with torch.no_grad():
        model.run((torch.randn(1, 192, 28, 28),), around=around)
    assert seen == list(graph.topo_order()) == ["input", "reduce_1x1", "conv_5x5"]
    with pytest.raises(TypeError, match="takes 1 input"):
        model.run(())


def test_resnet_module_is_torchvision_resnet_by_name_and_value() -> None:
    graph, _ = api.build_graph(SPECS / "resnet.yaml", variant="resnet18")
    torch.manual_seed(0)
    model = to_module(graph).eval()
    reference = torchvision.models.resnet18(weights=None).eval()
    ours = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert ours == {n: tuple(p.shape) for n, p in reference.named_parameters()}
    missing, unexpected = model.load_state_dict(reference.state_dict(), strict=False)
    assert missing == [] and all(k.endswith("num_batches_tracked") for k in unexpected)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def _node(name: str, op: str, attrs: dict, inputs: tuple[str, ...], in_shapes, out_shape):
    return LayerNode(name, op, MappingProxyType(attrs), inputs, in_shapes, out_shape)


def test_awkward_names_and_a_node_that_is_also_a_scope() -> None:
    # The spec language forbids a layer named like a block around another layer, but the
    # bridge does not rely on it; names that are nn.Module attributes are legal node names.
    conv = {"out": 2, "kernel": (1, 1), "stride": (1, 1), "dilation": (1, 1), "groups": 1,
            "bias": True, "padding": (0, 0, 0, 0), "act": None}
    nodes = [
        _node("input", "input", {"shape": (3, 4, 4)}, (), (), (3, 4, 4)),
        _node("a.b", "conv2d", conv, ("input",), ((3, 4, 4),), (2, 4, 4)),
        _node("a", "conv2d", conv, ("a.b",), ((2, 4, 4),), (2, 4, 4)),
        _node("eval", "relu", {}, ("a",), ((2, 4, 4),), (2, 4, 4)),
        _node("type.forward", "add", {"scales": ()}, ("eval", "a.b"), ((2, 4, 4),) * 2,
              (2, 4, 4)),
    ]
    graph = LayerGraph("awkward", nodes, ("type.forward",))
    model = to_module(graph)
    assert leaf_names(model) == {n.name for n in nodes}
    assert model.get_submodule("a.b") is model.leaf("a.b")
    names = {n.name for n in nodes}
    owned = {name: owner(name.rpartition(".")[0], names) for name, _ in model.named_parameters()}
    assert owned == {"a.weight": "a", "a.bias": "a", "a.b.weight": "a.b", "a.b.bias": "a.b"}
    assert model(torch.randn(1, 3, 4, 4)).shape == (1, 2, 4, 4)
