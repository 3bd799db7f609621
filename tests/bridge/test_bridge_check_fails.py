"""``check`` can fail: a broken formula makes it report not-ok and name exactly the layers it
affects, in the report, the rendered table and the JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cnncost import api
from cnncost.bridge.check import check
from cnncost.bridge.render import check_text, check_to_json
from cnncost.ops import registry
from cnncost.ops.registry import Arithmetic, OpContext, Params
from cnncost.ops.spatial import Window

from .conftest import SPECS

GROUPED = [
    {"conv2d": {"name": "stem", "out": 32, "kernel": 3, "padding": 1}},
    {"conv2d": {"name": "block.grouped", "out": 32, "kernel": 3, "padding": 1, "groups": 4}},
    {"conv2d": {"name": "block.depthwise", "out": 32, "kernel": 3, "padding": 1,
                "groups": 32}},
    {"batch_norm": {"name": "block.bn"}},
    {"conv2d": {"name": "head", "out": 8, "kernel": 1}},
]


def patch(monkeypatch: pytest.MonkeyPatch, op: str, **changes: object) -> None:
    """Replace a registered OpDef by a copy with ``changes`` (restored after the test)."""
    monkeypatch.setitem(registry._REGISTRY, op, dataclasses.replace(registry.get_op(op),
                                                                    **changes))


def conv_ignoring_groups(ctx: OpContext) -> Arithmetic:
    kh, kw = Window.from_attrs(ctx.attrs).kernel
    return Arithmetic(ctx.out_numel * ctx.in_shape[0] * kh * kw, 0)  # C, not C / groups


def test_a_conv_formula_that_ignores_groups_is_caught(monkeypatch, write_spec) -> None:
    path = write_spec("grouped", [16, 12, 12], GROUPED)
    assert check(path).ok
    patch(monkeypatch, "conv2d", arithmetic=conv_ignoring_groups,
          fvcore=lambda ctx: conv_ignoring_groups(ctx).macs)
    report = check(path)
    assert not report.ok
    assert [layer.name for layer in report.mismatches] == ["block.grouped", "block.depthwise"]
    for layer in report.mismatches:
        assert {c.quantity for c in layer.differing} == {"fvcore_macs", "torch_flops"}
    depthwise = report.layer("block.depthwise").get("fvcore_macs")
    assert (depthwise.analytic, depthwise.measured) == (32 * 12 * 12 * 32 * 9, 32 * 12 * 12 * 9)
    assert {c.quantity for c in report.totals if not c.ok} == {"fvcore_macs", "torch_flops"}
    text = check_text(report, width=140)
    assert "MISMATCH: 2 of 6 layers differ" in text
    table = text[text.index("differing layers"):text.index("MISMATCH")]
    assert "block.grouped" in table and "block.depthwise" in table
    assert "stem" not in table and "head" not in table and "block.bn" not in table
    assert json.loads(check_to_json(report))["mismatches"] == ["block.grouped", "block.depthwise"]


def test_a_batch_norm_that_forgets_the_variance_is_caught(monkeypatch) -> None:
    patch(monkeypatch, "batch_norm",
          params=lambda ctx: Params(2 * ctx.in_shape[0], ctx.in_shape[0]))
    graph, _ = api.build_graph(SPECS / "resnet.yaml", variant="resnet18")
    report = check(SPECS / "resnet.yaml", variant="resnet18", memory=False)
    expected = [n.name for n in graph if n.op == "batch_norm"]
    assert len(expected) == 20
    assert [layer.name for layer in report.mismatches] == expected
    assert all([c.quantity for c in layer.differing] == ["params_non_trainable"]
               for layer in report.mismatches)
    total = report.total("params_non_trainable")
    assert total.measured - total.analytic == sum(n.in_shapes[0][0] for n in graph
                                                  if n.op == "batch_norm")


def test_a_conv_formula_that_forgets_the_bias_is_caught(monkeypatch) -> None:
    def no_bias(ctx: OpContext) -> Params:
        kh, kw = Window.from_attrs(ctx.attrs).kernel
        return Params(ctx.attrs["out"] * ctx.in_shape[0] // ctx.attrs["groups"] * kh * kw)

    patch(monkeypatch, "conv2d", params=no_bias)
    spec = SPECS / "examples" / "inception_5x5_bottleneck.yaml"
    assert check(spec, variant="bottleneck").ok  # bias-free convs: nothing to catch
    graph, _ = api.build_graph(SPECS / "inception_v1.yaml", variant="paper")
    report = check(SPECS / "inception_v1.yaml", variant="paper", memory=False)
    assert [layer.name for layer in report.mismatches] == [
        n.name for n in graph if n.op == "conv2d"]
    assert not report.total("params_trainable").ok


def test_a_module_of_the_wrong_shape_is_caught(monkeypatch, write_spec) -> None:
    from torch import nn

    from cnncost.bridge import builders

    def floor_pool(node):  # a bridge bug: ceil_mode dropped
        return nn.MaxPool2d(node.attrs["kernel"], node.attrs["stride"])

    path = write_spec("pool", [3, 9, 9], [
        {"max_pool2d": {"name": "x", "kernel": 2, "stride": 2, "ceil_mode": True}},
        {"relu": {"name": "y"}}])
    monkeypatch.setitem(builders.BUILDERS, "max_pool2d", floor_pool)
    report = check(path)
    assert [layer.name for layer in report.mismatches] == ["x", "y"]
    assert report.layer("x").get("shape").analytic == (1, 3, 5, 5)
    assert report.layer("x").get("shape").measured == (1, 3, 4, 4)
    assert all(type(d) is int for d in report.layer("x").get("shape").measured)
    assert not report.total("shape").ok


def test_flop_counter_falls_back_to_the_real_module_without_meta_kernels(monkeypatch,
                                                                          write_spec) -> None:
    import torch
    from torch import nn

    from cnncost.bridge import builders

    class NoMeta(nn.Identity):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.is_meta:
                raise NotImplementedError("no meta kernel")
            return x

    monkeypatch.setitem(builders.BUILDERS, "identity", lambda node: NoMeta())
    path = write_spec("fallback", [3, 6, 6], [
        {"conv2d": {"name": "c", "out": 4, "kernel": 3}}, {"identity": {"name": "x"}}])
    report = check(path)
    assert report.ok and report.flop_counter_device == "cpu"
    assert report.layer("c").get("torch_flops").measured == 2 * 4 * 4 * 4 * 3 * 9
    assert check(write_spec("plain", [3, 6, 6], [{"relu": {}}])).flop_counter_device == "meta"
