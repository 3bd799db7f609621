"""Block calls replayed across the expansions of one loaded spec (``graph.replay``): a replay
gives the layers an expansion would, and a value a block body reads is never taken from
another expansion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cnncost import api
from cnncost.graph import replay

SPECS = Path(__file__).resolve().parents[2] / "specs"


def layers(graph: Any) -> list[tuple[Any, ...]]:
    return [(n.name, n.op, dict(n.attrs), n.inputs, n.in_shapes, n.out_shape, n.location,
             n.call_stack) for n in graph]


def expanded_alone(monkeypatch: pytest.MonkeyPatch, path: Path, **kwargs: Any) -> Any:
    """The graph of a fresh load with no call replayed at all."""
    with monkeypatch.context() as patch:
        patch.setattr("cnncost.graph.expand.call_key", lambda *args: None)
        return api.build_graph(api.load(path), **kwargs)[0]


@pytest.mark.parametrize(("spec", "points"), [
    ("mobilenet_v1.yaml", [{"alpha": a, "resolution": r} for a in (0.25, 0.5)
                           for r in (96, 100, 128, 132, 160)]),
    ("resnet.yaml", [{"variant": v} for v in ("resnet18", "resnet50", "resnet101", "resnet50")]),
    # a block whose items read a parameter directly (``when: paper``)
    ("lenet5.yaml", [{"variant": v} for v in ("lecun1998", "modern", "lecun1998")]),
])
def test_replays_across_expansions_give_what_expanding_gives(
        monkeypatch: pytest.MonkeyPatch, spec: str, points: list[dict[str, Any]]) -> None:
    loaded = api.load(SPECS / spec)
    for point in points:
        values = dict(point)
        variant = values.pop("variant", None)
        shared = api.build_graph(loaded, variant=variant, overrides=values)[0]
        alone = expanded_alone(monkeypatch, SPECS / spec, variant=variant, overrides=values)
        assert layers(shared) == layers(alone), point
    kept = loaded.memo["recordings"]
    assert kept.nodes > 0  # something was recorded, and so replayed from the second point on


def test_a_value_read_through_a_function_or_a_default_is_part_of_the_context(
        tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nparams: {k: 4, alpha: 1.0, size: 8, unused: 1}\n"
        "input: {channels: 3, height: size, width: size}\n"
        "functions:\n  w: {args: [c], expr: 'int(c * alpha)'}\n"
        "defaults:\n  conv2d: {kernel: 'k // 2 * 2 + 1'}\n"
        "blocks:\n  b:\n    args: [c]\n    layers:\n"
        "      - conv2d: {out: 'w(c)', padding: same}\n      - relu\n"
        "layers:\n  - b: {c: 8}\n  - b: {c: 8}\n")
    loaded = api.load(path)

    def outs(**overrides: Any) -> list[tuple[Any, ...]]:
        g = api.build_graph(loaded, overrides=overrides)[0]
        return [(n.name, n.out_shape, n.attrs.get("kernel")) for n in g if n.op == "conv2d"]

    assert outs() == [("b.conv2d", (8, 8, 8), (5, 5)), ("b_1.conv2d", (8, 8, 8), (5, 5))]
    assert outs(alpha=0.5) == [("b.conv2d", (4, 8, 8), (5, 5)), ("b_1.conv2d", (4, 8, 8), (5, 5))]
    assert outs(k=2) == [("b.conv2d", (8, 8, 8), (3, 3)), ("b_1.conv2d", (8, 8, 8), (3, 3))]
    # a name no block, default or function reads does not keep the recordings apart
    assert outs(unused=2) == outs()
    contexts = loaded.memo["recordings"].by_context
    assert all(dict(read).keys() == {"alpha", "k"} for read, *_ in contexts)


def test_the_words_of_a_block_are_those_of_every_item_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nparams: {paper: true}\ninput: {channels: 3, height: 8, width: 8}\n"
        "blocks:\n  other_block: {args: [c], layers: [relu]}\n  b:\n    layers:\n"
        "      - conv2d: {out: width_of_it, kernel: 3, when: paper}\n      - relu\n"
        "      - repeat: {times: deep, layers: [{max_pool2d: {kernel: kk}}]}\n"
        "      - parallel: {branches: {x: [{other_block: {c: cc}}]}}\n"
        "layers:\n  - b\n")
    loaded = api.load(path)
    found = replay.words([bdef for bdef, _ in loaded.blocks.values()])
    assert {"width_of_it", "paper", "deep", "kk", "other_block", "cc"} <= found


def test_what_is_kept_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "SHARED_NODES", 50)
    loaded = api.load(SPECS / "mobilenet_v1.yaml")
    for resolution in range(96, 160, 4):
        api.build_graph(loaded, overrides={"resolution": resolution})
        kept = loaded.memo["recordings"]
        assert kept.nodes <= 50
        held = sum(len(r.nodes) for rs in kept.by_context.values() for r in rs.values())
        assert held == kept.nodes
