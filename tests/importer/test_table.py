"""The mapping table, call by call: what each torch module, function and method becomes.

Each case traces a one-operation model and reads the layer the importer made of it (or the
reason it could not): the attributes that make the counts exact (bias, padding, groups, ceil
mode, in place, batch-norm's step counter) come from the module itself.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncost.importer import table
from cnncost.importer.convert import convert
from cnncost.importer.ir import ImportedGraph
from cnncost.importer.pipeline import trace


class Fn(nn.Module):
    """A model whose forward is ``fn(x)`` (functional calls traced as they are written)."""

    def __init__(self, fn: Any, *modules: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.layers = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(self, x)


def imported(model: nn.Module, shape: tuple[int, ...] = (4, 8, 8)) -> ImportedGraph:
    nodes, _, _ = trace(model.eval(), shape)
    return convert(nodes, model, "m", 2)


def only(model: nn.Module, shape: tuple[int, ...] = (4, 8, 8)) -> tuple[str, dict[str, Any]]:
    graph = imported(model, shape)
    assert not graph.unknown, [u.format() for u in graph.unknown]
    (layer,) = graph.layers
    return layer.op, layer.attrs


MODULE_CASES = [
    (nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2)), "conv2d",
     {"out": 6, "kernel": [3, 5], "stride": [2, 1], "padding": [1, 2], "dilation": 1,
      "groups": 1, "bias": True}),
    (nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False, dilation=2), "conv2d",
     {"out": 4, "kernel": 3, "stride": 1, "padding": "same", "dilation": 2, "groups": 4,
      "bias": False}),
    (nn.BatchNorm2d(4, eps=1e-3), "batch_norm",
     {"epsilon": 1e-3, "center": True, "scale": True, "counter": True}),
    (nn.BatchNorm2d(4, affine=False), "batch_norm",
     {"epsilon": 1e-5, "center": False, "scale": False, "counter": True}),
    (nn.MaxPool2d(3, 2, 1, ceil_mode=True), "max_pool2d",
     {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    (nn.MaxPool2d(2), "max_pool2d", {"kernel": 2, "stride": None, "padding": 0,
                                      "ceil_mode": False}),
    (nn.AvgPool2d(2, count_include_pad=False), "avg_pool2d",
     {"kernel": 2, "stride": None, "padding": 0, "ceil_mode": False,
      "count_include_pad": False}),
    (nn.AdaptiveAvgPool2d((1, 1)), "adaptive_avg_pool2d", {"size": 1}),
    (nn.ReLU(inplace=True), "relu", {"inplace": True}),
    (nn.ReLU6(), "relu6", {"inplace": False}),
    (nn.SiLU(inplace=True), "swish", {"inplace": True}),
    (nn.Hardswish(), "hard_swish", {"inplace": False}),
    (nn.GELU(approximate="tanh"), "gelu", {"approximate": "tanh"}),
    (nn.LeakyReLU(0.2), "leaky_relu", {"alpha": 0.2, "inplace": False}),
    (nn.Dropout(0.3, inplace=True), "dropout", {"rate": 0.3, "inplace": True}),
    (nn.ZeroPad2d((1, 2, 3, 4)), "pad", {"padding": [3, 4, 1, 2], "mode": "constant",
                                         "value": 0.0}),
    (nn.ReflectionPad2d(1), "pad", {"padding": [1, 1, 1, 1], "mode": "reflect"}),
    (nn.ConvTranspose2d(4, 4, 2), "conv_transpose2d",
     {"out": 4, "kernel": 2, "stride": 1, "padding": 0, "output_padding": 0, "dilation": 1,
      "groups": 1, "bias": True}),
    (nn.Upsample(scale_factor=2), "upsample", {"mode": "nearest", "scale": [2.0]}),
    (nn.UpsamplingBilinear2d(size=(5, 6)), "upsample",
     {"mode": "bilinear", "size": [5, 6], "align_corners": True}),
    (nn.LocalResponseNorm(3, 2e-4, 0.5, 2.0), "lrn",
     {"size": 3, "alpha": 2e-4, "beta": 0.5, "k": 2.0}),
    (nn.ChannelShuffle(2), "channel_shuffle", {"groups": 2}),
]


@pytest.mark.parametrize("module, op, attrs", MODULE_CASES,
                         ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(MODULE_CASES)])
def test_a_module_becomes_its_operator(module: nn.Module, op: str, attrs: dict) -> None:
    model = nn.Sequential(module)
    assert only(model) == (op, attrs)


FUNCTION_CASES = [
    (lambda m, x: F.relu(x, inplace=True), "relu", {"inplace": True}),
    (lambda m, x: x.relu_(), "relu", {"inplace": True}),
    (lambda m, x: torch.sigmoid(x), "sigmoid", {}),
    (lambda m, x: x * 0.5, "scale", {"factor": 0.5}),
    (lambda m, x: x / 4, "scale", {"factor": 0.25}),
    (lambda m, x: x.mean((2, 3)), "global_avg_pool", {"keepdims": False, "torch_op": "mean"}),
    (lambda m, x: x.mean([-1, -2], keepdim=True), "global_avg_pool",
     {"keepdims": True, "torch_op": "mean"}),
    (lambda m, x: torch.flatten(x, 1), "flatten", {}),
    (lambda m, x: x.view(x.size(0), -1), "flatten", {}),
    (lambda m, x: x.reshape(x.shape[0], 2, -1), "reshape", {"shape": [2, 128]}),
    (lambda m, x: F.adaptive_avg_pool2d(x, 1), "adaptive_avg_pool2d", {"size": 1}),
    (lambda m, x: F.max_pool2d(x, 3, 2, 1), "max_pool2d",
     {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": False}),
    (lambda m, x: F.avg_pool2d(x, 2, ceil_mode=True), "avg_pool2d",
     {"kernel": 2, "stride": None, "padding": 0, "ceil_mode": True, "count_include_pad": True}),
    (lambda m, x: F.pad(x, (1, 0, 2, 0)), "pad",
     {"padding": [2, 0, 1, 0], "mode": "constant", "value": 0.0}),
    (lambda m, x: F.interpolate(x, scale_factor=2.0), "upsample",
     {"mode": "nearest", "scale": [2.0]}),
    (lambda m, x: x[:, :2], "slice", {"start": 0, "stop": 2, "axis": 0}),
    (lambda m, x: x.permute(0, 2, 3, 1), "permute", {"dims": [1, 2, 0]}),
    (lambda m, x: x.chunk(2, dim=1)[0], "chunk", {"chunks": 2, "axis": 0, "index": 0}),
    (lambda m, x: F.dropout(x, 0.1, m.training), "dropout", {"rate": 0.1, "inplace": False}),
]


@pytest.mark.parametrize("fn, op, attrs", FUNCTION_CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(FUNCTION_CASES)])
def test_a_function_or_method_becomes_its_operator(fn: Any, op: str, attrs: dict) -> None:
    assert only(Fn(fn)) == (op, attrs)


def test_two_tensor_operations_read_both_inputs() -> None:
    def forward(m: Fn, x: torch.Tensor) -> torch.Tensor:
        a, b = m.layers[0](x), m.layers[1](x)
        y = torch.cat([a, b], dim=-3)
        z = y + y
        z += y  # in place: the line says so
        return z * torch.sigmoid(z.mean((2, 3), keepdim=True))

    graph = imported(Fn(forward, nn.Conv2d(4, 2, 1), nn.Conv2d(4, 3, 1)))
    ops = {layer.name: (layer.op, layer.attrs, layer.inputs) for layer in graph.layers}
    assert ops["concat"] == ("concat", {"axis": 0}, ("layers.0", "layers.1"))
    assert ops["add"] == ("add", {"inplace": False}, ("concat", "concat"))
    assert ops["add_1"] == ("add", {"inplace": True}, ("add", "concat"))
    assert ops["multiply"][0] == "multiply"  # a (C, 1, 1) gate broadcast over (C, H, W)
    assert ops["multiply"][2] == ("add_1", "sigmoid")


def test_a_module_called_twice_is_two_layers_named_after_it() -> None:
    model = Fn(lambda m, x: m.layers[0](m.layers[0](x)), nn.ReLU())
    names = [layer.name for layer in imported(model).layers]
    assert names == ["layers.0", "layers.0_1"]


def test_identity_modules_and_contiguous_are_no_layers() -> None:
    model = Fn(lambda m, x: m.layers[1](m.layers[0](x).contiguous()), nn.Identity(), nn.ReLU())
    graph = imported(model)
    assert [(layer.name, layer.inputs) for layer in graph.layers] == [("layers.1", ("input",))]


UNSUPPORTED_CASES = [
    (lambda m, x: F.interpolate(x, scale_factor=2.0, mode="bicubic"),
     "torch.nn.functional.interpolate", "resizing in mode 'bicubic'"),
    (lambda m, x: x[:, ::2], "_operator.getitem", "indexing a tensor ([:, ::2])"),
    (lambda m, x: x.permute(1, 0, 2, 3), "Tensor.permute", "first dimension is not the batch"),
    (lambda m, x: x + 1.0, "_operator.add", "adding a constant"),
    (lambda m, x: x.sum(dim=1), "Tensor.sum", "no cnncost operator for the tensor method"),
    (lambda m, x: x.view(-1), "Tensor.view", "first dimension is not the batch"),
]


@pytest.mark.parametrize("fn, target, reason", UNSUPPORTED_CASES,
                         ids=[c[1] for c in UNSUPPORTED_CASES])
def test_what_cnncost_cannot_express_is_named_with_its_source_line(fn: Any, target: str,
                                                                    reason: str) -> None:
    graph = imported(Fn(fn))
    (unknown,) = graph.unknown
    assert unknown.target == target
    assert reason in unknown.reason
    assert unknown.origin is not None
    assert unknown.origin.file.endswith("tests/importer/test_table.py")
    assert "lambda m, x:" in unknown.origin.code  # the line of the model that made the call


@pytest.mark.parametrize("module, reason", [
    (nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    (nn.BatchNorm2d(4, track_running_stats=False), "without running statistics"),
    (nn.Upsample(scale_factor=2, mode="bicubic"), "resizing in mode 'bicubic'"),
])
def test_modules_cnncost_cannot_express(module: nn.Module, reason: str) -> None:
    (unknown,) = imported(nn.Sequential(module)).unknown
    assert reason in unknown.reason
    assert unknown.node == "_0"  # fx's node name for the module "0"


def test_timm_batch_norm_act_is_a_batch_norm_then_its_activation() -> None:
    from timm.layers import BatchNormAct2d

    graph = imported(nn.Sequential(BatchNormAct2d(4, act_layer=nn.ReLU)))
    assert [(layer.name, layer.op, layer.inputs) for layer in graph.layers] == [
        ("0", "batch_norm", ("input",)), ("0_act", "relu", ("0",))]


def test_torchvision_conv_norm_activation_is_traced_through() -> None:
    from torchvision.ops import Conv2dNormActivation

    graph = imported(nn.Sequential(Conv2dNormActivation(4, 8, 3)))
    assert [(layer.name, layer.op) for layer in graph.layers] == [
        ("0.0", "conv2d"), ("0.1", "batch_norm"), ("0.2", "relu")]
    assert [s.cls for s in graph.layers[0].scopes] == ["torchvision.ops.misc.Conv2dNormActivation"]


def test_every_table_key_names_what_exists() -> None:
    """A misspelt key would silently never match: torch's and torchvision's must import."""
    for key in table.MODULES:
        module, _, name = key.rpartition(".")
        if module.startswith(("torch.", "torchvision.")):
            assert getattr(importlib.import_module(module), name) is not None, key
    for key in [*table.FUNCTIONS, *table.AUTOWRAP]:
        module, _, name = key.rpartition(".")
        if module.startswith(("torch", "torchvision")) and not name.startswith("_"):
            assert callable(getattr(importlib.import_module(module), name)), key
    for key in table.METHODS:
        assert callable(getattr(torch.Tensor, key.removeprefix("Tensor."))), key


def test_every_unsupported_entry_says_why() -> None:
    entries = [*table.MODULES.values(), *table.FUNCTIONS.values(), *table.METHODS.values()]
    reasons = [getattr(e, "unsupported", None) for e in entries]
    assert any(reasons)
    assert all(len(r) > 20 for r in reasons if r is not None)
