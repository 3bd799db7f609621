"""Independent oracle: the formulas against torch modules run on random tensors, and fvcore.

For each case the torch module is built from the attributes by hand (not by cnncost's bridge):
its output shape must equal ``infer``, its parameter / buffer numel the params, and fvcore's
FlopCountAnalysis total the ``fvcore`` formula (0 where cnncost says fvcore does not count it).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn

from cnncost.ops.registry import pair, sides
from cnncost.ops.spatial import Window

torch.manual_seed(0)


def tf_same_pads(i: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME, as its docs state it (written here independently of cnncost)."""
    out = math.ceil(i / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - i, 0)
    return total // 2, total - total // 2


def explicit_pads(attrs: dict[str, Any], hw: tuple[int, int]) -> tuple[int, int, int, int]:
    kh, kw = pair(attrs["kernel"])
    stride = attrs.get("stride", 1)  # conv default 1; pools' null means the kernel
    sh, sw = pair(attrs["kernel"] if stride is None else stride)
    dh, dw = pair(attrs.get("dilation", 1))
    padding = attrs.get("padding", 0)
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return (*tf_same_pads(hw[0], kh, sh, dh), *tf_same_pads(hw[1], kw, sw, dw))
    return sides(padding)


def padded(module: nn.Module, pads: tuple[int, int, int, int], value: float = 0.0) -> nn.Module:
    """``module`` behind an explicit (t, b, l, r) pad, which torch's padding= cannot say."""
    t, b, l, r = pads
    return nn.Sequential(nn.ConstantPad2d((l, r, t, b), value), module)


def fvcore_total(module: nn.Module, x: torch.Tensor) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(module, (x,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())


def check(evaluate, op: str, attrs: dict[str, Any], in_shape: tuple[int, ...],
          module: nn.Module) -> Any:
    got = evaluate(op, attrs, in_shape)
    module.eval()
    x = torch.randn(1, *in_shape)
    with torch.no_grad():
        y = module(x)
    assert tuple(y.shape[1:]) == got.out
    assert sum(p.numel() for p in module.parameters()) == got.params.trainable
    buffers = sum(b.numel() for name, b in module.named_buffers()
                  if not name.endswith("num_batches_tracked"))  # torch's step counter, no weight
    assert buffers == got.params.non_trainable
    assert fvcore_total(module, x) == (got.fvcore or 0)
    return got


# -- conv2d ----------------------------------------------------------------------------------

CONV2D = [
    ((3, 64, 64), {"out": 16, "kernel": 7, "stride": 2, "padding": 3, "bias": False}),
    ((64, 14, 14), {"out": 128, "kernel": 3, "padding": 1, "groups": 4}),
    ((32, 28, 28), {"out": 32, "kernel": 3, "padding": 1, "groups": 32}),
    ((16, 32, 32), {"out": 8, "kernel": 3, "dilation": 2}),
    ((6, 15, 15), {"out": 6, "kernel": 3, "stride": 2, "padding": 1, "groups": 3,
                   "dilation": 2}),
    ((8, 17, 20), {"out": 4, "kernel": [1, 7], "stride": [2, 1], "padding": [0, 3]}),
    ((4, 10, 10), {"out": 2, "kernel": 3, "padding": [1, 2, 0, 1], "bias": False}),
    ((3, 11, 12), {"out": 5, "kernel": [3, 2], "stride": [2, 3], "padding": "valid"}),
    ((16, 33, 33), {"out": 8, "kernel": 3, "stride": 2, "dilation": 2, "padding": "same"}),
    ((3, 32, 32), {"out": 8, "kernel": 3, "stride": 2, "padding": "same"}),  # odd total
    ((3, 31, 30), {"out": 8, "kernel": [4, 5], "stride": [3, 2], "padding": "same"}),
    ((4, 6, 6), {"out": 2, "kernel": 1, "stride": 4, "padding": "same"}),  # clamped pad 0
]


def _conv_module(in_shape, attrs, *, groups: int, out: int, bias: bool) -> nn.Module:
    pads = explicit_pads(attrs, in_shape[1:])
    conv = nn.Conv2d(in_shape[0], out, pair(attrs["kernel"]), pair(attrs.get("stride", 1)),
                     dilation=pair(attrs.get("dilation", 1)), groups=groups, bias=bias)
    return padded(conv, pads) if any(pads) else conv


@pytest.mark.parametrize("in_shape, attrs", CONV2D)
def test_conv2d(evaluate, in_shape, attrs) -> None:
    module = _conv_module(in_shape, attrs, groups=attrs.get("groups", 1), out=attrs["out"],
                          bias=attrs.get("bias", True))
    got = check(evaluate, "conv2d", attrs, in_shape, module)
    assert got.fvcore == got.arithmetic.macs  # fvcore: conv MACs, no bias


@pytest.mark.parametrize("in_shape, kernel, dilation", [
    ((4, 28, 28), 4, 1),  # total 3: extra pixel bottom / right
    ((3, 9, 10), [2, 5], [1, 2]),
    ((2, 7, 7), 3, 3),
])
def test_same_stride_1_matches_torch_native_same(evaluate, in_shape, kernel, dilation) -> None:
    attrs = {"out": 3, "kernel": kernel, "dilation": dilation, "padding": "same"}
    native = nn.Conv2d(in_shape[0], 3, pair(kernel), dilation=pair(dilation), padding="same")
    valid = nn.Conv2d(in_shape[0], 3, pair(kernel), dilation=pair(dilation))
    valid.load_state_dict(native.state_dict())
    cnncost_pads = Window.from_attrs(attrs).pads(in_shape[1:])
    x = torch.randn(2, *in_shape)
    with torch.no_grad():  # torch splits the padding as cnncost does (odd pixel bottom / right)
        torch.testing.assert_close(padded(valid, cnncost_pads)(x), native(x))
    check(evaluate, "conv2d", attrs, in_shape, padded(valid, cnncost_pads))


def test_fvcore_does_not_count_torch_string_padding() -> None:
    # padding="same" traces to aten::_convolution_mode, which fvcore has no handle for: a bridge
    # must build explicit pads (as above) for fvcore to count the conv at all.
    x = torch.randn(1, 4, 8, 8)
    assert fvcore_total(nn.Conv2d(4, 3, 3, padding="same"), x) == 0
    assert fvcore_total(nn.Conv2d(4, 3, 3, padding=1), x) == 3 * 4 * 9 * 8 * 8


@pytest.mark.parametrize("in_shape, attrs", [
    ((32, 28, 28), {"kernel": 3, "padding": 1, "bias": False}),
    ((16, 15, 15), {"kernel": 3, "stride": 2, "padding": "same", "multiplier": 2}),
    ((8, 20, 20), {"kernel": 5, "dilation": 2, "multiplier": 3, "padding": [2, 1]}),
])
def test_depthwise_conv2d(evaluate, in_shape, attrs) -> None:
    c, m = in_shape[0], attrs.get("multiplier", 1)
    module = _conv_module(in_shape, attrs, groups=c, out=c * m, bias=attrs.get("bias", True))
    check(evaluate, "depthwise_conv2d", attrs, in_shape, module)


@pytest.mark.parametrize("in_shape, attrs", [
    ((64, 28, 28), {"out": 128, "kernel": 3, "padding": "same"}),
    ((8, 9, 9), {"out": 4, "kernel": 3, "stride": 2, "multiplier": 2, "bias": False}),
])
def test_separable_conv2d(evaluate, in_shape, attrs) -> None:
    c, m = in_shape[0], attrs.get("multiplier", 1)
    depthwise = _conv_module(in_shape, attrs, groups=c, out=c * m, bias=False)
    pointwise = nn.Conv2d(c * m, attrs["out"], 1, bias=attrs.get("bias", True))
    check(evaluate, "separable_conv2d", attrs, in_shape, nn.Sequential(depthwise, pointwise))


class TableConv(nn.Module):
    """One small conv per output map over the input maps its table row names."""

    def __init__(self, table: list[list[int]], kernel: int) -> None:
        super().__init__()
        self.table = table
        self.convs = nn.ModuleList(nn.Conv2d(len(row), 1, kernel) for row in table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x[:, row]) for row, conv in zip(self.table, self.convs)], 1)


def test_conv2d_table_lenet_c3(evaluate) -> None:
    table = [[(o + j) % 6 for j in range(3)] for o in range(6)]
    table += [[(o + j) % 6 for j in range(4)] for o in range(6)]
    table += [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]]
    got = check(evaluate, "conv2d_table", {"out": 16, "kernel": 5, "table": table},
                (6, 14, 14), TableConv(table, 5))
    assert got.params.trainable == 1_516


# -- pools -----------------------------------------------------------------------------------

POOLS = [
    ((4, 112, 112), {"kernel": 3, "stride": 2, "padding": 1}),
    ((4, 112, 112), {"kernel": 3, "stride": 2, "ceil_mode": True}),  # ceil adds a window
    ((1, 5, 5), {"kernel": 2, "stride": 3, "padding": 1, "ceil_mode": True}),  # drops one
    ((1, 3, 3), {"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}),  # drops one
    ((1, 3, 3), {"kernel": 4, "stride": 4, "ceil_mode": True}),  # window runs past the input
    ((2, 18, 18), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 14, 15), {"kernel": [2, 3], "stride": [1, 2], "padding": [1, 1]}),
    ((3, 28, 28), {"kernel": 2, "stride": None}),
    ((2, 7, 8), {"kernel": 3, "stride": 2, "padding": "same"}),
]


@pytest.mark.parametrize("in_shape, attrs", POOLS)
def test_max_pool2d(evaluate, in_shape, attrs) -> None:
    stride = pair(attrs["stride"] or attrs["kernel"])
    pads = explicit_pads(attrs, in_shape[1:])
    sym = pads[0] == pads[1] and pads[2] == pads[3] and attrs.get("padding") != "same"
    pool = nn.MaxPool2d(pair(attrs["kernel"]), stride, (pads[0], pads[2]) if sym else 0,
                        ceil_mode=attrs.get("ceil_mode", False))
    check(evaluate, "max_pool2d", attrs, in_shape,
          pool if sym else padded(pool, pads, -math.inf))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("in_shape, attrs", [p for p in POOLS if p[1].get("padding") != "same"])
def test_avg_pool2d(evaluate, in_shape, attrs, count_include_pad) -> None:
    stride = pair(attrs["stride"] or attrs["kernel"])
    t, _, l, _ = explicit_pads(attrs, in_shape[1:])
    pool = nn.AvgPool2d(pair(attrs["kernel"]), stride, (t, l),
                        ceil_mode=attrs.get("ceil_mode", False),
                        count_include_pad=count_include_pad)
    check(evaluate, "avg_pool2d", {**attrs, "count_include_pad": count_include_pad}, in_shape,
          pool)


def _window_area_sum(in_hw: tuple[int, int], size: tuple[int, int]) -> int:
    """Sum of torch's adaptive window areas, read from torch: a one-hot image at a pixel inside
    a window averages to 1 / area there."""
    h, w = in_hw
    onehots = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    per_cell = F.adaptive_avg_pool2d(onehots, size).amax(0)  # 1 / area of each window
    return int(torch.round(1 / per_cell).sum())


@pytest.mark.parametrize("in_shape, size", [
    ((4, 13, 13), 6), ((2, 8, 8), 2), ((2, 5, 7), [3, 2]), ((1, 2, 2), 3), ((3, 7, 7), 1),
])
def test_adaptive_avg_pool2d(evaluate, in_shape, size) -> None:
    got = check(evaluate, "adaptive_avg_pool2d", {"size": size}, in_shape,
                nn.AdaptiveAvgPool2d(pair(size)))
    assert got.arithmetic.other_flops == in_shape[0] * _window_area_sum(in_shape[1:], pair(size))
    assert got.fvcore == math.prod(in_shape)


def test_global_avg_pool(evaluate) -> None:
    check(evaluate, "global_avg_pool", {"keepdims": True}, (64, 7, 7), nn.AdaptiveAvgPool2d(1))
    flat = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    check(evaluate, "global_avg_pool", {}, (64, 7, 7), flat)


# -- linear, norms ---------------------------------------------------------------------------

@pytest.mark.parametrize("features, out, bias", [(120, 84, True), (512, 10, False)])
def test_linear(evaluate, features, out, bias) -> None:
    got = check(evaluate, "linear", {"out": out, "bias": bias}, (features,),
                nn.Linear(features, out, bias=bias))
    assert got.fvcore == features * out


@pytest.mark.parametrize("in_shape, affine", [
    ((16, 9, 9), True), ((16, 9, 9), False), ((10,), True),
])
def test_batch_norm(evaluate, in_shape, affine) -> None:
    c = in_shape[0]
    module = nn.BatchNorm2d(c, affine=affine) if len(in_shape) == 3 else nn.BatchNorm1d(c)
    attrs = {"center": affine, "scale": affine}
    got = check(evaluate, "batch_norm", attrs, in_shape, module)
    assert got.params.non_trainable == 2 * c  # running mean and variance


class ChannelsLast(nn.Module):
    """Apply ``inner`` over the channel axis at each position (NCHW -> NHWC -> NCHW)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("attrs, torch_kwargs", [
    ({}, {}),
    ({"center": False}, {"bias": False}),
    ({"center": False, "scale": False}, {"elementwise_affine": False}),
])
def test_layer_norm(evaluate, attrs, torch_kwargs) -> None:
    check(evaluate, "layer_norm", attrs, (24, 6, 5), ChannelsLast(nn.LayerNorm(24, **torch_kwargs)))
    check(evaluate, "layer_norm", attrs, (24,), nn.LayerNorm(24, **torch_kwargs))


def test_lrn(evaluate) -> None:
    check(evaluate, "lrn", {"size": 5}, (96, 13, 13), nn.LocalResponseNorm(5))
