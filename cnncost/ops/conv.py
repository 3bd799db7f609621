"""Convolutions. Must not import torch.

conv2d, depthwise_conv2d, separable_conv2d and LeCun's connection-table conv2d_table, all
weighted. MACs count every kernel tap at every output position, padded taps included (as
torch and fvcore do); ``other`` is the bias add. fvcore = MACs; connections = MACs + ``n*bias``.
A fused ``act`` is validated here but costed by the engine as its own activation on the output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnncost.errors import OpArgumentError
from cnncost.memory.program import Back, Prog, Val, cat_grad, grads_like
from cnncost.ops.activation import activation_memory, check_activation
from cnncost.ops.kinds import define
from cnncost.ops.registry import (
    Arithmetic,
    Attr,
    OpContext,
    OpDef,
    Params,
    Shape,
    pair,
    positive,
)
from cnncost.ops.spatial import Window, feature_map

_KERNEL = Attr("pair", doc="kernel size k or [kh, kw]")
_STRIDE = Attr("pair", 1, "stride s or [sh, sw]")
_DILATION = Attr("pair", 1, "dilation d or [dh, dw]")
_PADDING = Attr("padding", 0, "'same' (TensorFlow rule), 'valid', p, [ph, pw] or [t, b, l, r]")
_BIAS = Attr("bool", True, "a learned bias per output channel")
_ACT = Attr("act", None, "fused activation, costed by the engine on the output")
_ACT_INPLACE = Attr("bool", False, "run the fused activation in place on the output (torch's "
                                   "inplace=True; relu, relu6, leaky_relu, hard_sigmoid, swish, "
                                   "hard_swish)")
_OUT = Attr("int", doc="output channels")
_MULTIPLIER = Attr("int", 1, "depthwise channel multiplier m")


def _kernel_area(ctx: OpContext) -> int:
    kh, kw = Window.from_attrs(ctx.attrs).kernel
    return kh * kw


def _spatial_out(ctx: OpContext, op: str) -> tuple[int, int]:
    _, h, w = feature_map(ctx.in_shape, op)
    check_activation(ctx.attrs.get("act"), ctx.attrs.get("act_inplace", False))
    return Window.from_attrs(ctx.attrs).output_hw((h, w))


def _bias_other(ctx: OpContext) -> int:
    return ctx.out_numel * int(ctx.attrs["bias"])


def _conventions(arithmetic: Callable[[OpContext], Arithmetic]) -> dict[str, Any]:
    """fvcore counts the convs' MACs (no bias); LeCun's connections add one link per bias."""
    return {
        "fvcore": lambda ctx: arithmetic(ctx).macs,
        "connections": lambda ctx: arithmetic(ctx).macs + _bias_other(ctx),
    }


# -- conv2d: w: [out, C/g, kh, kw] -------------------------------------------------------------

def _conv2d_infer(ctx: OpContext) -> Shape:
    c = feature_map(ctx.in_shape, "conv2d")[0]
    out = positive("out", ctx.attrs["out"])
    groups = positive("groups", ctx.attrs["groups"])
    if c % groups or out % groups:
        raise OpArgumentError(
            f"groups={groups} must divide both the input channels ({c}) and out ({out})")
    return (out, *_spatial_out(ctx, "conv2d"))


def _conv2d_params(ctx: OpContext) -> Params:
    c, out, groups = ctx.in_shape[0], ctx.attrs["out"], ctx.attrs["groups"]
    return Params(out * (c // groups) * _kernel_area(ctx) + out * int(ctx.attrs["bias"]))


def _conv2d_arithmetic(ctx: OpContext) -> Arithmetic:
    c, groups = ctx.in_shape[0], ctx.attrs["groups"]
    return Arithmetic(ctx.out_numel * (c // groups) * _kernel_area(ctx), _bias_other(ctx))


# -- depthwise_conv2d: w: [C*m, 1, kh, kw] -----------------------------------------------------

def _depthwise_infer(ctx: OpContext) -> Shape:
    c = feature_map(ctx.in_shape, "depthwise_conv2d")[0]
    multiplier = positive("multiplier", ctx.attrs["multiplier"])
    return (c * multiplier, *_spatial_out(ctx, "depthwise_conv2d"))


def _depthwise_params(ctx: OpContext) -> Params:
    cm = ctx.in_shape[0] * ctx.attrs["multiplier"]
    return Params(cm * _kernel_area(ctx) + cm * int(ctx.attrs["bias"]))


def _depthwise_arithmetic(ctx: OpContext) -> Arithmetic:
    return Arithmetic(ctx.out_numel * _kernel_area(ctx), _bias_other(ctx))


# -- separable_conv2d: dw: [C*m, 1, kh, kw] (no bias), pw: [out, C*m, 1, 1] + bias --------------

def _separable_infer(ctx: OpContext) -> Shape:
    feature_map(ctx.in_shape, "separable_conv2d")
    out = positive("out", ctx.attrs["out"])
    positive("multiplier", ctx.attrs["multiplier"])
    return (out, *_spatial_out(ctx, "separable_conv2d"))


def _separable_params(ctx: OpContext) -> Params:
    cm, out = ctx.in_shape[0] * ctx.attrs["multiplier"], ctx.attrs["out"]
    return Params(cm * _kernel_area(ctx) + cm * out + out * int(ctx.attrs["bias"]))


def _separable_arithmetic(ctx: OpContext) -> Arithmetic:
    cm, out = ctx.in_shape[0] * ctx.attrs["multiplier"], ctx.attrs["out"]
    positions = ctx.out_shape[1] * ctx.out_shape[2]
    return Arithmetic(positions * cm * (_kernel_area(ctx) + out), _bias_other(ctx))


# -- conv2d_table: output map o reads the input maps table[o]; w: [Σ len(table[o]), kh, kw] -----

def _check_table(table: object, out: int, c: int) -> None:
    if not isinstance(table, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in table):
        raise OpArgumentError(
            f"table must be a list of lists of input channels, one list per output map, got "
            f"{table!r}")
    if len(table) != out:
        raise OpArgumentError(
            f"table has {len(table)} rows but out = {out}; give one list per output map")
    for o, row in enumerate(table):
        if not row:
            raise OpArgumentError(f"table[{o}] is empty: output map {o} reads no input channel")
        for index in row:
            if not isinstance(index, int) or not 0 <= index < c:
                raise OpArgumentError(
                    f"table[{o}] reads channel {index!r}, outside [0, {c}) of the input")
        if len(set(row)) != len(row):
            twice = next(i for i in row if row.count(i) > 1)
            raise OpArgumentError(f"table[{o}] lists input channel {twice} twice")


def _table_links(ctx: OpContext) -> int:
    return sum(len(row) for row in ctx.attrs["table"])


def _table_infer(ctx: OpContext) -> Shape:
    c = feature_map(ctx.in_shape, "conv2d_table")[0]
    out = positive("out", ctx.attrs["out"])
    _check_table(ctx.attrs["table"], out, c)
    return (out, *_spatial_out(ctx, "conv2d_table"))


def _table_params(ctx: OpContext) -> Params:
    return Params(_table_links(ctx) * _kernel_area(ctx) + ctx.attrs["out"] * int(ctx.attrs["bias"]))


def _table_arithmetic(ctx: OpContext) -> Arithmetic:
    positions = ctx.out_shape[1] * ctx.out_shape[2]
    return Arithmetic(positions * _kernel_area(ctx) * _table_links(ctx), _bias_other(ctx))


# -- memory: the bridge's Conv2d / SeparableConv2d / TableConv2d, call by call -----------------

def pad_memory(p: Prog, x: Val, pads: tuple[int, int, int, int]) -> Val:
    """``constant_pad_nd`` of a (C, H, W) input by (top, bottom, left, right): a new tensor (even
    for zero pads); its backward allocates the unpadded gradient."""
    c, h, w = p.ctx.in_shape
    top, bottom, left, right = pads
    return p.op("constant_pad_nd", [x], [(p.numel((c, h + top + bottom, w + left + right)),
                                         x.dtype)], grad=grads_like(0))


def convolution_memory(p: Prog, x: Val, weight: Val, bias: Val | None, out_numel: int) -> Val:
    """``F.conv2d``: autocast casts its arguments; autograd saves the input and the weight;
    ``convolution_backward`` allocates every needed gradient in one call."""
    args = p.autocast("convolution", [x, weight] + ([bias] if bias is not None else []))
    return p.op("convolution", args, [(out_numel, args[0].dtype)], save=[args[0], args[1]],
                grad=grads_like(*range(len(args)), label="convolution_backward"))


def fused_act_memory(p: Prog, y: Val) -> Val:
    """The fused ``act`` on the output, in place with ``act_inplace``; out of place the conv's
    output dies when the module returns."""
    act = p.ctx.attrs.get("act")
    return activation_memory(p, act, y, bool(p.ctx.attrs.get("act_inplace"))) if act else y


def _conv_memory(p: Prog) -> Val:
    a = p.ctx.attrs
    c, h, w = p.ctx.in_shape
    kh, kw = pair(a["kernel"])
    out, groups = (c * a["multiplier"], c) if "multiplier" in a else (a["out"], a["groups"])
    weight = p.param(out * (c // groups) * kh * kw)
    bias = p.param(out) if a["bias"] else None
    x = p.inputs[0]
    pads = Window.from_attrs(a).pads((h, w))
    top, bottom, left, right = pads
    if top != bottom or left != right:  # torch pads only symmetrically: pad explicitly first
        x = pad_memory(p, x, pads)
    return fused_act_memory(p, convolution_memory(p, x, weight, bias, p.out_numel))


def _separable_memory(p: Prog) -> Val:
    a = p.ctx.attrs
    c, h, w = p.ctx.in_shape
    kh, kw = pair(a["kernel"])
    cm = c * a["multiplier"]
    depthwise = p.param(cm * kh * kw)
    pointwise = p.param(a["out"] * cm)
    bias = p.param(a["out"]) if a["bias"] else None
    x = p.inputs[0]
    pads = Window.from_attrs(a).pads((h, w))
    if any(pads):
        x = pad_memory(p, x, pads)
    y = convolution_memory(p, x, depthwise, None, p.numel((cm, *p.ctx.out_shape[1:])))
    return fused_act_memory(p, convolution_memory(p, y, pointwise, bias, p.out_numel))


def _table_memory(p: Prog) -> Val:
    a = p.ctx.attrs
    c, h, w = p.ctx.in_shape
    kh, kw = pair(a["kernel"])
    groups: list[tuple[tuple[int, ...], int]] = []  # consecutive identical rows share a conv
    for row in a["table"]:
        if groups and groups[-1][0] == tuple(row):
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
        else:
            groups.append((tuple(row), 1))
    params = [(p.param(maps * len(row) * kh * kw), p.param(maps) if a["bias"] else None)
              for row, maps in groups]
    x = p.inputs[0]
    pads = Window.from_attrs(a).pads((h, w))
    if any(pads):
        x = pad_memory(p, x, pads)
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    positions = p.ctx.out_shape[1] * p.ctx.out_shape[2]
    outs = []
    for (row, maps), (weight, bias) in zip(groups, params):
        if list(row) == list(range(row[0], row[0] + len(row))):
            sel = x if len(row) == c else p.view(x, p.numel((len(row), hp, wp)), "slice")
        else:  # advanced indexing copies the selected maps (and the index list)
            index = p.const("index", len(row), "int64")
            sel = p.op("index", [x, index], [(p.numel((len(row), hp, wp)), x.dtype)],
                       save=[index], grad=_index_grad)
            p.drop(index)
        outs.append(convolution_memory(p, sel, weight, bias, p.numel((maps, positions))))
        if sel is not x:
            p.drop(sel)  # a temporary of the list comprehension
    if len(outs) == 1:
        return fused_act_memory(p, outs[0])
    args = p.autocast("cat", outs)
    y = p.op("cat", args, [(p.out_numel, args[0].dtype)], grad=cat_grad)
    return fused_act_memory(p, y)


def _index_grad(b: Back) -> None:
    """``index_backward``: ``new_zeros`` then an out-of-place ``index_put``."""
    zeros = b.like(0, "new_zeros")
    put = b.like(0, "index_put")
    b.drop(zeros)
    b.give(0, put)


define(OpDef(
    name="conv2d",
    doc="2-D convolution, w: [out, C/g, kh, kw]: params out*(C/g)*kh*kw + out*bias; macs "
        "n*(C/g)*kh*kw (padded taps included), other n*bias. groups == C is a depthwise conv "
        "(torchvision style). The fused act is costed separately by the engine.",
    family="conv",
    attrs={"out": _OUT, "kernel": _KERNEL, "stride": _STRIDE, "dilation": _DILATION,
           "groups": Attr("int", 1, "channel groups g (must divide C and out)"), "bias": _BIAS,
           "padding": _PADDING, "act": _ACT, "act_inplace": _ACT_INPLACE},
    infer=_conv2d_infer, params=_conv2d_params, arithmetic=_conv2d_arithmetic,
    weighted=True, **_conventions(_conv2d_arithmetic), memory=_conv_memory,
))

define(OpDef(
    name="depthwise_conv2d",
    doc="Depthwise convolution (Keras DepthwiseConv2D), w: [C*m, 1, kh, kw], output C*m "
        "channels: params C*m*kh*kw + C*m*bias; macs n*kh*kw, other n*bias. The fused act is "
        "costed separately by the engine.",
    family="conv",
    attrs={"multiplier": _MULTIPLIER, "kernel": _KERNEL, "stride": _STRIDE,
           "dilation": _DILATION, "bias": _BIAS, "padding": _PADDING,
           "act": _ACT, "act_inplace": _ACT_INPLACE},
    infer=_depthwise_infer, params=_depthwise_params, arithmetic=_depthwise_arithmetic,
    weighted=True, **_conventions(_depthwise_arithmetic), memory=_conv_memory,
))

define(OpDef(
    name="separable_conv2d",
    doc="Keras SeparableConv2D: a depthwise conv without bias (stride, padding, dilation apply "
        "here) then a 1x1 pointwise conv C*m -> out with the bias: params C*m*kh*kw + C*m*out + "
        "out*bias; macs H'W'*C*m*(kh*kw + out), other n*bias. No activation or normalisation "
        "between the two convs. The fused act is costed separately by the engine.",
    family="conv",
    attrs={"out": _OUT, "kernel": _KERNEL, "stride": _STRIDE, "dilation": _DILATION,
           "multiplier": _MULTIPLIER, "bias": _BIAS, "padding": _PADDING,
           "act": _ACT, "act_inplace": _ACT_INPLACE},
    infer=_separable_infer, params=_separable_params, arithmetic=_separable_arithmetic,
    weighted=True, **_conventions(_separable_arithmetic), memory=_separable_memory,
))

define(OpDef(
    name="conv2d_table",
    doc="Convolution with an explicit connection table (LeCun 1998's C3): output map o sums "
        "kh*kw convolutions over the input maps table[o]: params sum(len)*kh*kw + out*bias; "
        "macs H'W'*kh*kw*sum(len), other n*bias. No dilation or groups. The fused act is costed "
        "separately by the engine.",
    family="conv",
    attrs={"out": _OUT, "kernel": _KERNEL, "stride": _STRIDE, "padding": _PADDING,
           "bias": _BIAS,
           "table": Attr("table", doc="table[o]: the input channels read by output map o"),
           "act": _ACT, "act_inplace": _ACT_INPLACE},
    infer=_table_infer, params=_table_params, arithmetic=_table_arithmetic,
    weighted=True, **_conventions(_table_arithmetic), memory=_table_memory,
))
