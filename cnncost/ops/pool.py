"""Pooling: max / average windows, global and adaptive pools. Must not import torch.

Window output sizes follow conv with dilation 1 (``cnncost.ops.spatial``); ``stride`` null means
the kernel; ``ceil_mode`` is torch's rule. Every window is costed at its full ``kh*kw`` area, even
where it overlaps padding or runs past the input in ceil mode (as conv MACs count padded taps).
torch's limit ``padding <= kernel / 2`` is not enforced (a bridge pads explicitly); ``ceil_mode``
has no effect with ``same``, whose size is ``ceil(i / s)`` by definition.
"""

from __future__ import annotations

from collections.abc import Callable

from cnncost.ops.kinds import define
from cnncost.ops.registry import Arithmetic, Attr, OpContext, OpDef, Shape, pair, positive
from cnncost.ops.spatial import Window, adaptive_windows, feature_map

_WINDOW_ATTRS = {
    "kernel": Attr("pair", doc="window size k or [kh, kw]"),
    "stride": Attr("pair", None, "stride; null means the kernel size"),
    "padding": Attr("padding", 0, "'same' (TensorFlow rule), 'valid', p, [ph, pw] or [t, b, l, r]"),
    "ceil_mode": Attr("bool", False, "torch ceil_mode (explicit / valid padding only)"),
}
_KEEPDIMS = Attr("bool", False, "keep (C, 1, 1) instead of (C,)")


def _window_infer(op: str) -> Callable[[OpContext], Shape]:
    def infer(ctx: OpContext) -> Shape:
        c, h, w = feature_map(ctx.in_shape, op)
        return (c, *Window.from_attrs(ctx.attrs).output_hw((h, w), ctx.attrs["ceil_mode"]))
    return infer


def _area(ctx: OpContext) -> int:
    kh, kw = pair(ctx.attrs["kernel"])
    return kh * kw


define(OpDef(
    name="max_pool2d",
    doc="Max pooling over kh x kw windows: no params; other n*(kh*kw - 1) compares; "
        "connections n*kh*kw. Padding never wins the max. fvcore does not count it.",
    family="pool",
    attrs=_WINDOW_ATTRS,
    infer=_window_infer("max_pool2d"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel * (_area(ctx) - 1)),
    fvcore=None,
    connections=lambda ctx: ctx.out_numel * _area(ctx),
))

define(OpDef(
    name="avg_pool2d",
    doc="Average pooling over kh x kw windows: no params; other n*kh*kw (kh*kw - 1 adds and 1 "
        "divide); connections n*kh*kw. count_include_pad changes only the divisor, not the "
        "count. fvcore does not count it.",
    family="pool",
    attrs={**_WINDOW_ATTRS,
           "count_include_pad": Attr("bool", True, "divide by kh*kw even where padded")},
    infer=_window_infer("avg_pool2d"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel * _area(ctx)),
    fvcore=None,
    connections=lambda ctx: ctx.out_numel * _area(ctx),
))


def _global_infer(op: str) -> Callable[[OpContext], Shape]:
    def infer(ctx: OpContext) -> Shape:
        c = feature_map(ctx.in_shape, op)[0]
        return (c, 1, 1) if ctx.attrs["keepdims"] else (c,)
    return infer


#: How a model computes a global average: the arithmetic is the same, what fvcore sees is not.
GLOBAL_AVG_TORCH_OPS = ("adaptive_avg_pool2d", "mean")


def _global_avg_fvcore(ctx: OpContext) -> int | None:
    # fvcore has a handle for aten::adaptive_avg_pool2d (N_in), none for aten::mean
    return ctx.in_numel if ctx.attrs["torch_op"] == "adaptive_avg_pool2d" else None


define(OpDef(
    name="global_avg_pool",
    doc="Mean over H x W per channel, (C, H, W) -> (C,) or (C, 1, 1): other N_in (adds and "
        "one divide per channel, rounded to one per element). torch_op names how the modelled "
        "network computes it: adaptive_avg_pool2d (AdaptiveAvgPool2d(1), torchvision's; also what "
        "the bridge builds for Keras' GlobalAveragePooling2D; fvcore counts N_in) or mean "
        "(x.mean((2, 3)), timm's SEModule; fvcore does not count it).",
    family="pool",
    attrs={"keepdims": _KEEPDIMS,
           "torch_op": Attr("choice", "adaptive_avg_pool2d",
                            "the torch op of the modelled network (what fvcore counts)",
                            choices=GLOBAL_AVG_TORCH_OPS)},
    infer=_global_infer("global_avg_pool"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel),
    fvcore=_global_avg_fvcore,
    connections=None,
))

define(OpDef(
    name="global_max_pool",
    doc="Max over H x W per channel, (C, H, W) -> (C,) or (C, 1, 1): other N_in - C compares. "
        "fvcore does not count it.",
    family="pool",
    attrs={"keepdims": _KEEPDIMS},
    infer=_global_infer("global_max_pool"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel - ctx.in_shape[0]),
    fvcore=None,
    connections=None,
))


# -- adaptive_avg_pool2d: torch's windows [floor(j*i/o), ceil((j+1)*i/o)) per axis ------------

def _adaptive_infer(ctx: OpContext) -> Shape:
    c = feature_map(ctx.in_shape, "adaptive_avg_pool2d")[0]
    oh, ow = pair(ctx.attrs["size"])
    positive("size", oh)
    positive("size", ow)
    return (c, oh, ow)  # o > i is legal, as in torch (overlapping windows)


def _adaptive_arithmetic(ctx: OpContext) -> Arithmetic:
    c, h, w = ctx.in_shape
    oh, ow = ctx.out_shape[1], ctx.out_shape[2]
    rows = sum(end - start for start, end in adaptive_windows(h, oh))
    cols = sum(end - start for start, end in adaptive_windows(w, ow))
    return Arithmetic(0, c * rows * cols)  # sum of window areas = (sum of heights)(sum of widths)


define(OpDef(
    name="adaptive_avg_pool2d",
    doc="torch AdaptiveAvgPool2d to size (oh, ow), windows [floor(j*i/o), ceil((j+1)*i/o)) per "
        "axis: other C*sum of window areas (adds and one divide per window, rounded to one per "
        "element read). fvcore counts N_in.",
    family="pool",
    attrs={"size": Attr("pair", doc="output size o or [oh, ow]")},
    infer=_adaptive_infer,
    arithmetic=_adaptive_arithmetic,
    fvcore=lambda ctx: ctx.in_numel,
    connections=None,
))
