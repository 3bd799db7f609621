"""Linear, bounded expansion: histories, automatic names, the node limit, nesting, cycles."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api, limits
from cnncost.errors import SpecError
from cnncost.graph.layergraph import GraphError, LayerGraph, LayerNode
from cnncost.graph.scope import History

HEAD = "name: t\ninput: {channels: 3, height: 8, width: 8}\n"


def problems(tmp_path: Path, text: str) -> list:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        api.build_graph(path)
    return info.value.problems


def test_a_history_is_a_view_of_the_one_around_it() -> None:
    outer = History(["a", "b"])
    inner = History(["c"], outer)
    outer.append("later")  # after the inner sequence began: not part of its view
    inner.append("d")
    assert len(inner) == 4 and [inner.back(k) for k in (1, 2, 3, 4, 5)] == [
        "d", "c", "b", "a", None]
    assert inner.last() == "d" and History().last() is None and not History()


def test_automatic_names_skip_the_names_taken(tmp_path: Path) -> None:
    text = HEAD + "layers:\n  - relu\n  - relu: {name: relu_2}\n  - relu\n  - relu\n  - relu\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    graph, _ = api.build_graph(path)
    # relu, then the explicit relu_2; the automatic ones take relu_1, then skip relu_2
    assert list(graph.topo_order()) == ["input", "relu", "relu_2", "relu_1", "relu_3", "relu_4"]


def test_the_node_limit(tmp_path: Path) -> None:
    with limits.using(max_nodes=5):
        (p,) = problems(tmp_path, HEAD + "layers:\n" + "  - relu\n" * 6)
        assert p.kind == "limit" and "more than 5 layers" in p.message
        assert p.location.line == 9  # the sixth relu: lines 4..9
        # a repeat of constant size is refused before its first iteration, at its times
        (p,) = problems(tmp_path, HEAD + "layers:\n  - repeat:\n      times: 3\n      layers:\n"
                        "        - repeat: {times: 2, layers: [relu]}\n")
        # 3 * (1 + 2) = 9 iterations and 3 * 2 = 6 layers, both past 5
        assert "(this repeat: 9 or more)" in p.message and p.location.line == 5
        # an item with a condition is not counted ahead (4 * 1 layers are certain, 4 * 2 are
        # built): the expansion stops at the sixth layer instead
        (p,) = problems(tmp_path, HEAD + "layers:\n  - repeat: {times: 4, layers: "
                        "[relu, {relu: {when: \"i >= 0\"}}]}\n")
        assert "more than 5 layers" in p.message and "this repeat" not in p.message


def test_nesting_and_recursion(tmp_path: Path) -> None:
    chain = "".join(f"  b{i}:\n    layers: [b{i + 1}]\n" for i in range(6))
    text = HEAD + "blocks:\n" + chain + "  b6:\n    layers: [relu]\nlayers: [b0]\n"
    with limits.using(max_nesting=4):
        (p,) = problems(tmp_path, text)
    assert p.kind == "limit" and "nest more than 4 deep" in p.message
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    graph, _ = api.build_graph(path)  # 7 block calls deep: well within the default 50
    assert list(graph.topo_order())[-1] == "b0.b1.b2.b3.b4.b5.b6.relu"
    (p,) = problems(tmp_path, HEAD + "blocks:\n  a:\n    args: [n]\n    layers:\n"
                    "      - relu\n      - a: {n: \"n - 1\", when: \"n > 0\"}\nlayers:\n"
                    "  - a: {n: 3}\n")
    # even a recursion that would end is refused: a block never calls itself
    assert p.kind == "cycle" and "block a calls itself (a -> a)" in p.message


def test_a_graph_built_by_hand_is_checked() -> None:
    def node(name: str, *inputs: str) -> LayerNode:
        return LayerNode(name, "input" if not inputs else "relu", {}, inputs, (), (1,))

    with pytest.raises(GraphError, match="two nodes are named 'x'"):
        LayerGraph("g", [node("x"), node("x")], ("x",))
    with pytest.raises(GraphError, match="'y' reads 'nowhere'"):
        LayerGraph("g", [node("x"), node("y", "nowhere")], ("y",))
    with pytest.raises(GraphError, match="outputs \\['z'\\] are not nodes"):
        LayerGraph("g", [node("x")], ("z",))
    with pytest.raises(GraphError, match="make a cycle"):
        LayerGraph("g", [node("a", "b"), node("b", "a")], ("a",))
    # out of expansion order but acyclic: sorted, the earliest ready node first
    graph = LayerGraph("g", [node("b", "a"), node("a")], ("b",))
    assert graph.topo_order() == ("a", "b") and graph.consumers_of("a") == ("b",)
    assert graph.depth() == 2 and graph.longest_path() == ["a", "b"]
