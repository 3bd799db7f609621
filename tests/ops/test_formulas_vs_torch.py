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


# -- transposed convolution, resampling, views, means ---------------------------------------------

def flop_counter_total(module: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    return counter.get_total_flops()


CONV_TRANSPOSE = [
    ((21, 16, 16), {"out": 21, "kernel": 4, "stride": 2, "padding": 1, "bias": False}),
    ((1024, 7, 7), {"out": 512, "kernel": 2, "stride": 2}),
    ((4, 5, 5), {"out": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1,
                 "groups": 2}),
    ((2, 4, 4), {"out": 3, "kernel": 3, "dilation": 2}),
    ((6, 5, 6), {"out": 2, "kernel": [3, 2], "stride": [2, 1], "output_padding": [1, 0]}),
    ((4, 3, 3), {"out": 4, "kernel": 3, "stride": 3, "padding": 2, "output_padding": 2,
                 "dilation": 3, "groups": 4}),
]


@pytest.mark.parametrize("in_shape, attrs", CONV_TRANSPOSE)
def test_conv_transpose2d(evaluate, in_shape, attrs) -> None:
    module = nn.ConvTranspose2d(
        in_shape[0], attrs["out"], pair(attrs["kernel"]), pair(attrs.get("stride", 1)),
        pair(attrs.get("padding", 0)), pair(attrs.get("output_padding", 0)),
        attrs.get("groups", 1), attrs.get("bias", True), pair(attrs.get("dilation", 1)))
    got = check(evaluate, "conv_transpose2d", attrs, in_shape, module)
    # fvcore (prod(w) * prod(x[2:])), FlopCounterMode (2 x the same) and cnncost agree
    assert got.fvcore == got.arithmetic.macs
    assert flop_counter_total(module, torch.randn(1, *in_shape)) == 2 * got.arithmetic.macs


def test_conv_transpose2d_is_not_counted_at_output_positions(evaluate) -> None:
    # The scatter count (every tap of every input element) is what torch computes; counting a
    # convolution's way, per output position, overcounts a stride-2 layer about 4x.
    got = evaluate("conv_transpose2d", {"out": 8, "kernel": 4, "stride": 2, "padding": 1},
                   (8, 10, 10))
    assert got.out == (8, 20, 20)
    assert got.arithmetic.macs == 8 * 100 * 8 * 16  # 102_400
    per_output_position = 8 * 20 * 20 * 8 * 16
    assert per_output_position == 4 * got.arithmetic.macs


UPSAMPLE = [
    ((3, 4, 5), {"scale": 2}, {"scale_factor": 2.0}),
    ((3, 4, 5), {"scale": [1.5, 2.5]}, {"scale_factor": (1.5, 2.5)}),
    ((3, 4, 5), {"size": [7, 9], "mode": "bilinear"},
     {"size": (7, 9), "mode": "bilinear", "align_corners": False}),
    ((2, 5, 6), {"scale": 1.5, "mode": "bilinear", "align_corners": True},
     {"scale_factor": 1.5, "mode": "bilinear", "align_corners": True}),
    ((21, 8, 8), {"size": 61, "mode": "bilinear"},
     {"size": 61, "mode": "bilinear", "align_corners": False}),
]


@pytest.mark.parametrize("in_shape, attrs, torch_kwargs", UPSAMPLE)
def test_upsample(evaluate, in_shape, attrs, torch_kwargs) -> None:
    module = nn.Upsample(**torch_kwargs)
    got = check(evaluate, "upsample", attrs, in_shape, module)
    # the three counts differ by definition (docs/operators.md): fvcore one per tap, cnncost
    # the kernel's multiplies and adds, FlopCounterMode nothing
    n = math.prod(got.out)
    bilinear = attrs.get("mode") == "bilinear"
    assert (got.fvcore, got.arithmetic.other_flops) == ((4 * n, 9 * n) if bilinear else (n, 0))
    assert flop_counter_total(module, torch.randn(1, *in_shape)) == 0


@pytest.mark.parametrize("padding, mode, module", [
    ([1, 2, 0, 3], "constant", nn.ConstantPad2d((0, 3, 1, 2), 0.0)),
    ([2, 1, 3, 0], "reflect", nn.ReflectionPad2d((3, 0, 2, 1))),
    ([1, 2, 3, 4], "replicate", nn.ReplicationPad2d((3, 4, 1, 2))),
])
def test_pad(evaluate, padding, mode, module) -> None:
    check(evaluate, "pad", {"padding": padding, "mode": mode}, (2, 3, 4), module)


class Call(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


@pytest.mark.parametrize("op, attrs, fn", [
    ("slice", {"start": 1, "stop": 4}, lambda x: x[:, 1:4]),
    ("slice", {"start": 2, "axis": 2}, lambda x: x[:, :, :, 2:]),
    ("split", {"sizes": [2, 4], "index": 1}, lambda x: torch.split(x, [2, 4], 1)[1]),
    ("chunk", {"chunks": 4, "index": 2}, lambda x: torch.chunk(x, 4, 1)[2]),
    ("chunk", {"chunks": 2, "index": 0, "axis": 1}, lambda x: x.chunk(2, dim=2)[0]),
    ("permute", {"dims": [1, 2, 0]}, lambda x: x.permute(0, 2, 3, 1)),
    ("transpose", {"dims": [0, 2]}, lambda x: x.transpose(1, 3)),
    ("mean", {"axes": [1, 2]}, lambda x: x.mean((2, 3))),
    ("mean", {"axes": [0], "keepdims": True}, lambda x: x.mean(1, keepdim=True)),
])
def test_views_and_means(evaluate, op, attrs, fn) -> None:
    check(evaluate, op, attrs, (6, 4, 5), Call(fn))


def test_chunk_follows_torch_when_it_makes_fewer_parts(evaluate) -> None:
    x = torch.randn(1, 5, 2, 2)
    parts = torch.chunk(x, 4, 1)  # ceil(5/4) = 2: [2, 2, 1], three parts, not four
    assert [p.shape[1] for p in parts] == [2, 2, 1]
    assert evaluate("chunk", {"chunks": 4, "index": 2}, (5, 2, 2)).out == (1, 2, 2)


def test_channels_last_linear(evaluate) -> None:
    module = nn.Linear(96, 384)
    got = check(evaluate, "linear", {"out": 384, "channels_last": True}, (7, 7, 96), module)
    assert got.fvcore == got.arithmetic.macs == 49 * 96 * 384
    assert flop_counter_total(module, torch.randn(1, 7, 7, 96)) == 2 * got.arithmetic.macs


def test_layer_scale(evaluate) -> None:
    class LayerScale(nn.Module):  # torchvision's ConvNeXt CNBlock: layer_scale * result
        def __init__(self) -> None:
            super().__init__()
            self.layer_scale = nn.Parameter(torch.full((24, 1, 1), 1e-6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer_scale * x

    check(evaluate, "layer_scale", {}, (24, 6, 5), LayerScale())
