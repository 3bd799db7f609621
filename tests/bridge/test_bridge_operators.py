"""Every registered operator has a torch builder, and its module agrees with the analytic rows.

For each operator, tiny specs (written to a temporary directory) are expanded, bridged and
checked: output shape, trainable parameters vs ``parameters()``, non-trainable vs buffers, fvcore's
per-module count vs the fvcore convention and FlopCounterMode vs the torchvision convention, each
exactly, on the node of that operator. ``CASES`` must name every operator: a new operator fails
here until it has a builder and a case.
"""

from __future__ import annotations

from typing import Any

import pytest

from cnncost.bridge.builders import BUILDERS
from cnncost.bridge.check import check
from cnncost.bridge.render import check_text
from cnncost.ops.registry import all_ops

TABLE = [[0, 1, 2], [1, 2, 3], [0, 3], [0, 3], [0, 1, 2, 3]]

# (operator, input shape, layers); the node under test is named "x"
CASES: list[tuple[str, list[int], list[Any]]] = [
    ("input", [3, 5, 5], []),
    ("input", [7], []),
    ("conv2d", [8, 9, 9], [{"conv2d": {"name": "x", "out": 8, "kernel": 3, "groups": 4,
                                        "padding": "same", "stride": 2, "act": "swish"}}]),
    ("conv2d", [4, 10, 10], [{"conv2d": {"name": "x", "out": 6, "kernel": [3, 2],
                                         "padding": [1, 2, 0, 1], "dilation": [2, 1],
                                         "bias": False}}]),
    ("conv2d", [4, 8, 8], [{"conv2d": {"name": "x", "out": 4, "kernel": 3, "groups": 4,
                                       "padding": 1, "act": "relu6"}}]),
    ("depthwise_conv2d", [6, 9, 9], [{"depthwise_conv2d": {
        "name": "x", "kernel": 3, "multiplier": 2, "stride": 2, "padding": "same"}}]),
    ("separable_conv2d", [6, 9, 9], [{"separable_conv2d": {
        "name": "x", "out": 5, "kernel": 3, "multiplier": 2, "padding": "same",
        "act": "relu"}}]),
    ("separable_conv2d", [4, 9, 9], [{"separable_conv2d": {
        "name": "x", "out": 3, "kernel": 3, "stride": 2, "bias": False}}]),
    ("conv2d_table", [4, 8, 8], [{"conv2d_table": {"name": "x", "out": 5, "kernel": 3,
                                                   "table": TABLE}}]),
    ("conv2d_table", [4, 7, 7], [{"conv2d_table": {"name": "x", "out": 2, "kernel": 3,
                                                   "stride": 2, "padding": "same",
                                                   "bias": False, "table": [[2, 0], [2, 0]]}}]),
    ("conv_transpose2d", [4, 5, 5], [{"conv_transpose2d": {
        "name": "x", "out": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1,
        "act": "relu"}}]),
    ("conv_transpose2d", [4, 5, 6], [{"conv_transpose2d": {
        "name": "x", "out": 6, "kernel": [3, 2], "stride": [2, 1], "dilation": [1, 2],
        "output_padding": [1, 0], "groups": 2, "bias": False}}]),
    ("conv_transpose2d", [4, 4, 4], [{"conv_transpose2d": {
        "name": "x", "out": 2, "kernel": 4, "stride": 2, "padding": 1}}]),
    ("linear", [12], [{"linear": {"name": "x", "out": 5, "act": "gelu"}}]),
    ("linear", [4, 3, 6], [{"linear": {"name": "x", "out": 5, "channels_last": True}}]),
    ("linear", [6, 3, 4], [{"permute": {"name": "p", "dims": [1, 2, 0]}},
                           {"linear": {"name": "x", "out": 5, "channels_last": True,
                                       "act": "gelu"}}]),
    ("linear", [12], [{"linear": {"name": "x", "out": 5, "bias": False,
                                  "channels_last": True}}]),
    ("linear", [12], [{"linear": {"name": "x", "out": 5, "bias": False}}]),
    ("rbf", [12], [{"rbf": {"name": "x", "out": 4}}]),
    ("batch_norm", [6, 4, 4], [{"batch_norm": {"name": "x"}}]),
    ("batch_norm", [6, 4, 4], [{"batch_norm": {"name": "x", "scale": False}}]),
    ("batch_norm", [6], [{"batch_norm": {"name": "x", "center": False, "epsilon": 0.001}}]),
    ("layer_norm", [6, 4, 4], [{"layer_norm": {"name": "x"}}]),
    ("layer_norm", [6, 4, 4], [{"layer_norm": {"name": "x", "scale": False}}]),
    ("layer_norm", [6], [{"layer_norm": {"name": "x", "center": False}}]),
    ("layer_norm", [3, 4, 6], [{"layer_norm": {"name": "x", "channels_last": True}}]),
    # a ConvNeXt block as torchvision writes it: dwconv, permute, LayerNorm, Linear, GELU,
    # Linear, permute back, layer scale, stochastic depth, residual
    ("layer_norm", [8, 5, 5], [
        {"conv2d": {"name": "dw", "out": 8, "kernel": 7, "padding": 3, "groups": 8}},
        {"permute": {"name": "p", "dims": [1, 2, 0]}},
        {"layer_norm": {"name": "x", "channels_last": True, "epsilon": 1.0e-6}},
        {"linear": {"name": "pw1", "out": 32, "channels_last": True, "act": "gelu"}},
        {"linear": {"name": "pw2", "out": 8, "channels_last": True}},
        {"permute": {"name": "q", "dims": [2, 0, 1]}},
        {"layer_scale": {"name": "ls"}},
        {"stochastic_depth": {"name": "sd", "rate": 0.1}},
        {"add": {"name": "res", "inputs": ["sd", "input"]}}]),
    ("lrn", [8, 5, 5], [{"lrn": {"name": "x", "size": 3}}]),
    ("affine", [3, 4, 4], [{"affine": {"name": "x"}}]),
    ("affine", [3, 4, 4], [{"affine": {"name": "x", "scale": False}}]),
    ("layer_scale", [6, 3, 3], [{"layer_scale": {"name": "x"}}]),
    ("layer_scale", [6], [{"layer_scale": {"name": "x"}}]),
    ("layer_scale", [6, 3, 3], [{"layer_scale": {"name": "x", "stored": "vector"}}]),
    ("max_pool2d", [3, 9, 9], [{"max_pool2d": {"name": "x", "kernel": 3, "stride": 2,
                                               "ceil_mode": True}}]),
    ("max_pool2d", [3, 8, 7], [{"max_pool2d": {"name": "x", "kernel": 3, "stride": 2,
                                               "padding": "same"}}]),
    ("max_pool2d", [3, 6, 6], [{"max_pool2d": {"name": "x", "kernel": 2, "stride": 2,
                                               "padding": [0, 1, 1, 0], "ceil_mode": True}}]),
    ("avg_pool2d", [3, 9, 9], [{"avg_pool2d": {"name": "x", "kernel": 3, "stride": 2,
                                               "padding": 1, "count_include_pad": False}}]),
    ("avg_pool2d", [3, 8, 8], [{"avg_pool2d": {"name": "x", "kernel": 3, "stride": 2,
                                               "padding": "same"}}]),
    ("global_avg_pool", [5, 4, 3], [{"global_avg_pool": {"name": "x"}}]),
    ("global_avg_pool", [5, 4, 3], [{"global_avg_pool": {"name": "x", "keepdims": True}}]),
    ("global_max_pool", [5, 4, 3], [{"global_max_pool": {"name": "x"}}]),
    ("adaptive_avg_pool2d", [3, 7, 7], [{"adaptive_avg_pool2d": {"name": "x", "size": 3}}]),
    ("mean", [5, 4, 3], [{"mean": {"name": "x", "axes": [1, 2]}}]),
    ("mean", [5, 4, 3], [{"mean": {"name": "x", "axes": [0], "keepdims": True}}]),
    ("upsample", [3, 4, 5], [{"upsample": {"name": "x", "scale": 2}}]),
    ("upsample", [3, 4, 5], [{"upsample": {"name": "x", "size": [7, 9], "mode": "bilinear"}}]),
    ("upsample", [3, 4, 5], [{"upsample": {"name": "x", "scale": [1.5, 2.5], "mode": "bilinear",
                                           "align_corners": True}}]),
    ("add", [4, 5, 5], [{"relu": {"name": "a"}}, {"sigmoid": {"name": "b", "input": "input"}},
                        {"add": {"name": "x", "inputs": ["a", "b", "input"],
                                 "scales": [1, 0.17, 2]}}]),
    ("multiply", [4, 5, 5], [{"global_avg_pool": {"name": "gate"}},
                             {"multiply": {"name": "x", "inputs": ["gate", "input"]}}]),
    ("multiply", [4, 5, 5], [{"global_avg_pool": {"name": "gate", "keepdims": True}},
                             {"multiply": {"name": "x", "inputs": ["input", "gate"]}}]),
    ("multiply", [4, 5, 5], [{"sigmoid": {"name": "a"}},
                             {"multiply": {"name": "x", "inputs": ["a", "input", "a"]}}]),
    ("concat", [4, 5, 5], [{"relu": {"name": "a"}},
                           {"concat": {"name": "x", "inputs": ["a", "input", "a"]}}]),
    ("concat", [4, 5, 5], [{"concat": {"name": "x", "axis": 2, "inputs": ["input", "input"]}}]),
    ("scale", [4, 5, 5], [{"scale": {"name": "x", "factor": 0.5}}]),
    ("channel_shuffle", [6, 3, 3], [{"channel_shuffle": {"name": "x", "groups": 3}}]),
    ("identity", [6, 3, 3], [{"identity": {"name": "x"}}]),
    ("flatten", [6, 3, 3], [{"flatten": {"name": "x"}}]),
    ("reshape", [6, 3, 3], [{"reshape": {"name": "x", "shape": [3, -1]}}]),
    ("dropout", [6, 3, 3], [{"dropout": {"name": "x", "rate": 0.3}}]),
    ("dropout", [6, 3, 3], [{"conv2d": {"name": "c", "out": 6, "kernel": 1}},
                            {"dropout": {"name": "x", "rate": 0.3, "inplace": True}}]),
    ("stochastic_depth", [6, 3, 3], [{"conv2d": {"name": "c", "out": 6, "kernel": 1}},
                                     {"stochastic_depth": {"name": "x", "rate": 0.2}}]),
    ("zero_pad2d", [2, 3, 3], [{"zero_pad2d": {"name": "x", "padding": [1, 2, 0, 3]}}]),
    ("crop2d", [2, 6, 6], [{"crop2d": {"name": "x", "cropping": [1, 0, 2, 1]}}]),
    ("flatten", [2, 6, 6], [{"crop2d": {"name": "c", "cropping": [1, 0, 0, 0]}},
                            {"flatten": {"name": "x"}}]),
    ("pad", [2, 3, 4], [{"pad": {"name": "x", "padding": [1, 2, 0, 3], "value": 0.5}}]),
    ("pad", [2, 3, 4], [{"pad": {"name": "x", "padding": [2, 1, 3, 0], "mode": "reflect"}}]),
    ("pad", [2, 3, 4], [{"pad": {"name": "x", "padding": [1, 2, 3, 4], "mode": "replicate"}}]),
    ("slice", [6, 3, 3], [{"slice": {"name": "x", "start": 1, "stop": 4}}]),
    ("slice", [6, 3, 4], [{"slice": {"name": "x", "start": 2, "axis": 2}}]),
    ("split", [6, 3, 3], [{"split": {"name": "x", "sizes": [2, 4], "index": 1}}]),
    ("split", [6, 3, 3], [{"split": {"name": "a", "sizes": [3, 3], "index": 0}},
                          {"split": {"name": "x", "sizes": [3, 3], "index": 1,
                                     "input": "@-2"}},
                          {"concat": {"name": "c", "inputs": ["x", "a"]}}]),
    ("chunk", [6, 3, 3], [{"chunk": {"name": "x", "chunks": 2, "index": 0}}]),
    ("chunk", [6, 3, 3], [{"chunk": {"name": "x", "chunks": 4, "index": 2}}]),
    ("permute", [6, 3, 4], [{"permute": {"name": "x", "dims": [1, 2, 0]}}]),
    ("permute", [6, 3, 4], [{"permute": {"name": "x", "dims": [1, 2, 0]}},
                            {"flatten": {"name": "f"}}]),
    ("transpose", [6, 3, 4], [{"transpose": {"name": "x", "dims": [1, 2]}}]),
    ("rescaling", [3, 4, 4], [{"rescaling": {"name": "x", "scale": 0.5}}]),
    ("rescaling", [3, 4, 4], [{"rescaling": {"name": "x", "scale": [1, 2, 3],
                                             "offset": [-1, 0, 1]}}]),
    ("normalization", [3, 4, 4], [{"normalization": {"name": "x"}}]),
    *[(act, [4, 3, 3], [{act: {"name": "x"}}]) for act in (
        "relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "scaled_tanh",
        "swish", "hard_swish", "gelu", "softmax")],
    ("leaky_relu", [4], [{"leaky_relu": {"name": "x", "alpha": 0.2}}]),
    ("gelu", [4], [{"gelu": {"name": "x", "approximate": "tanh"}}]),
    ("scaled_tanh", [4], [{"scaled_tanh": {"name": "x", "amplitude": 2.0, "slope": 0.5}}]),
    ("softmax", [10], [{"softmax": {"name": "x"}}]),
]


def test_every_operator_has_a_builder() -> None:
    registered = set(all_ops())
    assert registered - set(BUILDERS) == set(), "operators without a torch builder"
    assert set(BUILDERS) - registered == set(), "builders for operators that do not exist"


def test_the_cases_cover_every_operator() -> None:
    assert set(all_ops()) - {op for op, _, _ in CASES} == set()


@pytest.mark.parametrize("op, in_shape, layers", [
    pytest.param(op, shape, layers, id=f"{op}-{i}") for i, (op, shape, layers) in enumerate(CASES)])
def test_operator_module_equals_analytic(write_spec, op: str, in_shape: list[int],
                                         layers: list[Any]) -> None:
    report = check(write_spec("case", in_shape, layers), batch=2)
    assert report.ok, check_text(report, width=160, all_layers=True)
    node = report.layer("x" if layers else "input")
    assert node.op == op
    # the comparisons ran on real measurements (None would mean "not measured")
    assert all(c.measured is not None for c in node.comparisons)
    assert node.get("shape").measured[0] == 2


def test_not_counted_rows_say_what_they_are(write_spec) -> None:
    # crop2d's slices are fixed when built: its trace holds no shape arithmetic (aten::sub); a
    # reflection pad is counted by fvcore (0) but traced as aten::pad, which fvcore reports
    # unsupported: a row of its own, with its layers and cnncost's count, and the table says why
    layers = [{"conv2d": {"name": "c", "out": 4, "kernel": 1, "act": "relu"}},
              {"crop2d": {"name": "x", "cropping": [1, 0, 2, 1]}},
              {"pad": {"name": "p", "padding": 1, "mode": "reflect"}},
              {"pad": {"name": "q", "padding": 1, "mode": "replicate"}}]
    report = check(write_spec("nc", [4, 6, 6], layers), batch=2, memory=False)
    assert report.ok
    rows = {n.label: n for n in report.fvcore_not_counted}
    assert set(rows) == {"relu (fused)", "pad (counted; unsupported ops inside)"}
    pad = rows["pad (counted; unsupported ops inside)"]
    assert (pad.layers, pad.macs, pad.flops, pad.aten_ops) == (2, 0, 0, (("aten::pad", 2),))
    assert rows["relu (fused)"].flops == 2 * 4 * 6 * 6  # batch 2, 1 per element
    text = " ".join(check_text(report, width=160).split())
    assert "fvcore reports those operators as unsupported" in text
    assert "aten::sub ×" not in text
