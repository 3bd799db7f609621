"""Expansion: names, scopes, references, repeat, parallel, blocks, defaults, variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api
from cnncost.errors import SpecError

HEAD = "name: t\ninput: {channels: 3, height: 8, width: 8}\n"


def graph(tmp_path: Path, text: str, **kwargs):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return api.build_graph(path, **kwargs)[0]


def names(g) -> list[str]:
    return list(g.topo_order())


def test_auto_names_and_explicit_names(tmp_path: Path) -> None:
    g = graph(tmp_path, HEAD + "layers:\n  - conv2d: {out: 4, kernel: 1}\n  - relu\n  - relu\n"
              "  - conv2d: {name: head, out: 2, kernel: 1}\n")
    assert names(g) == ["input", "conv2d", "relu", "relu_1", "head"]
    assert g.inputs_of("head") == ("relu_1",)  # default input: the previous item


def test_repeat_numbered_and_templated_scopes(tmp_path: Path) -> None:
    text = HEAD + """\
layers:
  - repeat: {name: stage, times: 2, layers: [{conv2d: {name: conv, out: 4, kernel: 1}}]}
  - repeat:
      name: "block{i + 1}"
      times: 2
      layers: [relu]
"""
    g = graph(tmp_path, text)
    assert names(g) == ["input", "stage.0.conv", "stage.1.conv", "block1.relu", "block2.relu"]
    assert g.inputs_of("stage.1.conv") == ("stage.0.conv",)


def test_parallel_scopes_identity_branch_and_merge(tmp_path: Path) -> None:
    text = HEAD + """\
layers:
  - parallel:
      name: mix
      merge: {add: {scales: [1.0, 0.5]}}
      branches:
        body: [{conv2d: {name: conv, out: 3, kernel: 3, padding: 1}}]
        shortcut: []
  - relu
"""
    g = graph(tmp_path, text)
    assert names(g) == ["input", "mix.body.conv", "mix.add", "relu"]
    assert g.inputs_of("mix.add") == ("mix.body.conv", "input")
    assert g.node("mix.add").attrs["scales"] == (1.0, 0.5)
    assert g.inputs_of("relu") == ("mix.add",)


def test_references_relative_and_alternatives(tmp_path: Path) -> None:
    text = HEAD + """\
blocks:
  cell:
    inputs: [ip, p]
    layers:
      - conv2d: {name: a, input: "@-2", out: 3, kernel: 1}   # @-2 = the second input
      - conv2d: {name: proj, input: p, out: 3, kernel: 1, when: false}
      - add: {inputs: ["@-1", "proj|ip"]}
layers:
  - relu: {name: r0}
  - relu: {name: r1}
  - cell: {name: c0, inputs: ["@-1", "@-2"]}
"""
    g = graph(tmp_path, text)
    assert g.inputs_of("c0.a") == ("r0",)
    assert g.inputs_of("c0.add") == ("c0.a", "r1")


def test_block_args_defaults_and_input_shape(tmp_path: Path) -> None:
    text = HEAD + """\
defaults:
  conv2d: {bias: false, kernel: 1}
blocks:
  unit:
    args: {out: null, project: "in_channels != out"}
    defaults: {conv2d: {bias: true}}
    layers:
      - conv2d: {name: conv, out: out}
      - conv2d: {name: proj, input: input, out: out, bias: false, when: project}
layers:
  - unit: {name: u1, out: 3}
  - unit: {name: u2, out: 5}
  - conv2d: {name: top, out: "in_channels * 2"}
"""
    g = graph(tmp_path, text)
    assert "u1.proj" not in g and "u2.proj" in g  # 3 -> 3 needs no projection, 3 -> 5 does
    assert g.node("u1.conv").attrs["bias"] is True  # block default beats spec default
    assert g.node("u2.proj").attrs["bias"] is False  # the item beats both
    assert g.node("top").attrs["bias"] is False and g.node("top").attrs["kernel"] == (1, 1)
    assert g.node("top").out_shape == (10, 8, 8)  # in_channels of u2's output (5) * 2


def test_shape_of_reference(tmp_path: Path) -> None:
    text = HEAD + """\
layers:
  - max_pool2d: {name: p, kernel: 2}
  - conv2d: {name: c, input: input, out: "shape_of('p')[1]", kernel: 1}
"""
    g = graph(tmp_path, text)
    assert g.node("c").out_shape == (4, 8, 8)


def test_variants_overrides_let_and_functions(tmp_path: Path) -> None:
    text = """\
name: t
params: {width: 1.0, resolution: 8}
variants: {wide: {width: 2.0}}
let: {stem: "make_divisible(16 * width, 8)"}
functions: {filters: {args: [f], expr: "make_divisible(f * width, 8)"}}
input: {channels: 3, height: resolution, width: resolution}
layers:
  - conv2d: {name: stem, out: stem, kernel: 3, padding: same}
  - conv2d: {name: next, out: "filters(24)", kernel: 1}
"""
    base = graph(tmp_path, text)
    assert base.node("stem").out_shape == (16, 8, 8) and base.node("next").out_shape == (24, 8, 8)
    wide = graph(tmp_path, text, variant="wide", overrides={"resolution": 16})
    assert wide.node("stem").out_shape == (32, 16, 16) and wide.node("next").out_shape[0] == 48


def test_outputs_default_to_sinks_main_first(tmp_path: Path) -> None:
    text = HEAD + """\
layers:
  - relu: {name: trunk}
  - flatten: {name: aux}
  - relu: {name: head, input: trunk}
"""
    g = graph(tmp_path, text)
    assert g.outputs == ("head", "aux")


def test_depths(tmp_path: Path) -> None:
    text = HEAD + """\
layers:
  - conv2d: {name: a, out: 3, kernel: 1}
  - relu: {name: r}
  - conv2d: {name: b, out: 3, kernel: 1}
  - add: {inputs: [b, input]}
"""
    g = graph(tmp_path, text)
    assert g.depth() == 5  # input, a, r, b, add
    assert g.depth(weighted_only=True) == 2


def test_topological_order_is_deterministic() -> None:
    first = api.build_graph("specs/inception_v1.yaml", variant="torchvision_aux")[0]
    second = api.build_graph("specs/inception_v1.yaml", variant="torchvision_aux")[0]
    assert first.topo_order() == second.topo_order()
    position = {n: i for i, n in enumerate(first.topo_order())}
    for node in first:
        assert all(position[i] < position[node.name] for i in node.inputs)


def test_layer_and_scope_name_clash_is_an_error(tmp_path: Path) -> None:
    text = HEAD + "layers:\n  - relu: {name: a}\n  - relu: {name: a.b}\n"
    with pytest.raises(SpecError, match="names both a layer and the block"):
        graph(tmp_path, text)


def test_googlenet_names_are_dotted_scopes() -> None:
    g = api.build_graph("specs/inception_v1.yaml")[0]
    assert "inception_3a.branch_5x5.conv.conv" in g
    assert g.node("inception_3a.branch_5x5.conv.conv").attrs["kernel"] == (5, 5)
    assert g.inputs_of("inception_3a.concat") == (
        "inception_3a.branch_1x1.conv.relu", "inception_3a.branch_3x3.conv.relu",
        "inception_3a.branch_5x5.conv.relu", "inception_3a.branch_pool.proj.relu")


TWO_INPUT_BLOCK = HEAD + """\
blocks:
  two:
    inputs: [ip, p]
    args: {same: "shape_of('p') == shape_of('ip')"}    # a default reading the block's inputs
    layers:
      - conv2d: {name: proj, input: p, out: 3, kernel: 1, when: "not same"}
      - add: {inputs: [ip, "proj|p"]}
layers:
  - conv2d: {name: wide, out: 6, kernel: 1}
  - conv2d: {name: stem, out: 3, kernel: 1}
  - repeat: {name: cell, times: 2, block: two, inputs: ["@-1", "@-2"]}
"""


def test_repeat_calls_a_two_input_block_with_relative_inputs(tmp_path: Path) -> None:
    g = graph(tmp_path, TWO_INPUT_BLOCK)
    # cell.0 reads (stem, wide): wide has 6 channels, so p is projected
    assert g.inputs_of("cell.0.proj") == ("wide",)
    assert g.inputs_of("cell.0.add") == ("stem", "cell.0.proj")
    # cell.1 reads (cell.0, stem): same shapes, no projection
    assert "cell.1.proj" not in g
    assert g.inputs_of("cell.1.add") == ("cell.0.add", "stem")


def test_aliases_are_layer_items_and_gates_broadcast_in_any_order(tmp_path: Path) -> None:
    text = """\
name: t
input: {channels: 4, height: 5, width: 5}
layers:
  - global_avg_pool: {name: gate, keepdims: true}
  - multiply: {name: x, inputs: [gate, input]}       # the gate first
  - multiply: {name: y, inputs: [input, gate]}       # the gate last
  - flatten: {input: x}
  - dense: {name: fc, out: 4}                        # alias of linear
  - silu: {name: s}                                  # alias of swish
"""
    g = graph(tmp_path, text)
    assert g.node("x").out_shape == g.node("y").out_shape == (4, 5, 5)
    assert g.node("fc").op == "linear" and g.node("s").op == "swish"


def test_the_networkx_view_is_read_only_and_complete() -> None:
    g = api.build_graph("specs/resnet.yaml", variant="resnet18")[0]
    view = g.nx_graph
    assert set(view.nodes) == set(g.topo_order())
    assert set(view.predecessors("layer1.0.add")) == set(g.inputs_of("layer1.0.add"))
    with pytest.raises(Exception, match="Frozen"):
        view.add_node("x")


SE_WHEN = HEAD + """\
params: {use_se: false}
blocks:
  unit:
    layers:
      - conv2d: {name: conv, out: 3, kernel: 1}
      - global_avg_pool: {name: se.squeeze, keepdims: true, when: use_se}
      - conv2d: {name: se.fc, out: 3, kernel: 1, act: sigmoid, when: use_se}
      - multiply: {name: se.scale, inputs: [se.fc, conv], when: use_se}
      - relu: {name: out, input: "se.scale|conv"}
layers:
  - unit: {name: u}
"""


@pytest.mark.parametrize("use_se", [False, True])
def test_a_disabled_item_does_not_resolve_its_references(tmp_path: Path, use_se: bool) -> None:
    # se.scale reads se.fc, which exists only when use_se: disabled, it must not be resolved
    g = graph(tmp_path, SE_WHEN, overrides={"use_se": use_se})
    assert ("u.se.scale" in g) is use_se
    assert g.inputs_of("u.out") == (("u.se.scale",) if use_se else ("u.conv",))


def test_when_reading_the_shape_of_a_missing_input_reports_the_reference(tmp_path: Path) -> None:
    text = HEAD + """\
layers:
  - conv2d: {name: a, out: 3, kernel: 1}
  - conv2d: {name: b, input: nowhere, out: 3, kernel: 1, when: "in_channels > 1"}
"""
    with pytest.raises(SpecError, match=r"no layer or input named 'nowhere'"):
        graph(tmp_path, text)


def test_items_of_one_name_under_opposite_whens(tmp_path: Path) -> None:
    text = HEAD + """\
params: {project: true}
layers:
  - conv2d: {name: proj, out: 5, kernel: 1, when: project}
  - identity: {name: proj, when: "not project"}
  - relu: {name: out, input: proj}
"""
    assert graph(tmp_path, text).node("proj").op == "conv2d"
    assert graph(tmp_path, text, overrides={"project": False}).node("proj").op == "identity"


def test_expanded_and_replayed_nodes_are_plain_nodes() -> None:
    # the expander and its replays make nodes with LayerNode.trusted (no frozen __init__):
    # every field set, nothing else, equal to LayerNode(...) of the same fields, still frozen
    import dataclasses

    from cnncost.graph.layergraph import LayerNode

    root = Path(__file__).resolve().parents[2]
    g, _ = api.build_graph(root / "specs" / "resnet.yaml", variant="resnet50")  # replays
    fields = [f.name for f in dataclasses.fields(LayerNode)]
    for node in g:
        assert list(vars(node)) == fields, node.name
        plain = LayerNode(**{name: getattr(node, name) for name in fields})
        assert plain == node and repr(plain) == repr(node)
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(iter(g)).op = "relu"  # type: ignore[misc]
