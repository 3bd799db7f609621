"""Element-wise and merge operators. Must not import torch.

add, multiply, concat, scale, channel_shuffle, identity; none has parameters. Connections are
undefined (None) except for the zero-cost ones (0).
"""

from __future__ import annotations

from math import prod

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.memory.program import (
    Back,
    Prog,
    Val,
    cat_grad,
    mul_memory,
    pass_grad,
    promote,
    scalar_grad,
)
from cnncost.ops.kinds import define
from cnncost.ops.registry import Arithmetic, Attr, OpContext, OpDef, Shape, positive
from cnncost.ops.spatial import channels


def _shapes(ctx: OpContext) -> str:
    return ", ".join(str(s) for s in ctx.in_shapes)


# -- add: y = sum_i s_i * x_i -------------------------------------------------------------------

def _scales(ctx: OpContext) -> list[float]:
    scales = ctx.attrs["scales"]
    return [scales] if isinstance(scales, (int, float)) else list(scales)


def _add_infer(ctx: OpContext) -> Shape:
    if len(set(ctx.in_shapes)) != 1:
        raise ShapeError(f"add needs inputs of one shape, got {_shapes(ctx)}")
    scales = _scales(ctx)
    if scales and len(scales) != len(ctx.in_shapes):
        raise OpArgumentError(
            f"scales has {len(scales)} values for {len(ctx.in_shapes)} inputs; give one per "
            f"input, or none")
    return ctx.in_shape


def _add_arithmetic(ctx: OpContext) -> Arithmetic:
    scaled = sum(1 for s in _scales(ctx) if s != 1)
    return Arithmetic(0, ctx.out_numel * (len(ctx.in_shapes) - 1) + ctx.out_numel * scaled)


def _add_memory(p: Prog) -> Val:
    """The bridge's Add: ``out = x0 (* s0)``, then ``out = out + (x (* s))`` per input, each sum a
    new tensor and the previous partial sum dying at the rebinding; with ``inplace``,
    ``x0.add_(x, alpha=s)`` (torchvision's ``out += identity``): nothing new. Autograd saves
    nothing; the backward hands the incoming gradient to each input (times s where s != 1)."""
    xs = p.inputs
    scales = _scales(p.ctx) or [1.0] * len(xs)
    if p.ctx.attrs.get("inplace"):
        out = xs[0]
        for x, s in zip(xs[1:], scales[1:]):
            out = p.inplace("add_", out, [x], grad=pass_grad(0, 1) if s == 1 else _scaled_add_grad)
        return out
    out = xs[0] if scales[0] == 1 else p.op("mul", [xs[0]], [(xs[0].numel, xs[0].dtype)],
                                            grad=scalar_grad)
    for x, s in zip(xs[1:], scales[1:]):
        term = x if s == 1 else p.op("mul", [x], [(x.numel, x.dtype)], grad=scalar_grad)
        total = p.op("add", [out, term], [(p.out_numel, _wider(out, term))],
                     grad=pass_grad(0, 1))
        for t in (out, term):
            if t not in xs:
                p.drop(t)
        out = total
    return out


def _scaled_add_grad(b: Back) -> None:
    g = b.grad(0)
    assert g is not None
    b.give(0, g)
    b.give(1, b.op("mul", [(g.numel, g.dtype)])[0])


def _wider(a: Val, b: Val) -> str:
    return a.dtype if a.dtype == "float32" or b.dtype != "float32" else b.dtype


define(OpDef(
    name="add",
    doc="Element-wise sum of equal shapes, each input optionally scaled (Keras' CustomScaleLayer "
        "x + s*r is scales [1, s]): other n*(inputs - 1) adds + n per scale != 1. No "
        "broadcasting. fvcore does not count it.",
    family="elementwise",
    attrs={"scales": Attr("floats", [], "per-input coefficients; [] means all 1"),
           "inplace": Attr("bool", False, "add into the first input in place (torchvision's "
                                          "out += identity): no new tensor")},
    infer=_add_infer, arithmetic=_add_arithmetic, arity=(2, None),
    fvcore=None, connections=None,
    memory=_add_memory,
))


# -- multiply: equal shapes, or (C,) / (C, 1, 1) gates over (C, H, W) --------------------------

def _multiply_infer(ctx: OpContext) -> Shape:
    # the broadcast result: the input with most elements (a gate may come first or last)
    out = max(ctx.in_shapes, key=lambda s: (len(s), prod(s)))
    for shape in ctx.in_shapes:
        gate = len(out) == 3 and shape in ((out[0],), (out[0], 1, 1))
        if shape != out and not gate:
            raise ShapeError(
                f"multiply needs equal shapes, or a (C,) / (C, 1, 1) gate over (C, H, W), got "
                f"{_shapes(ctx)}")
    return out


def _multiply_memory(p: Prog) -> Val:
    """The bridge's Multiply: each input viewed to the output's rank, then ``out = out * x``
    (broadcasting a (N, C, 1, 1) gate), each product a new tensor."""
    rank = len(p.ctx.out_shape)
    out: Val | None = None
    for x, shape in zip(p.inputs, p.ctx.in_shapes):
        x = p.view(x, label="view") if len(shape) <= rank else x
        if out is None:
            out = x
            continue
        product = mul_memory(p, out, x, p.out_numel)
        if out.view_of is None or out.view_of not in p.inputs:
            p.drop(out)
        out = product
    assert out is not None
    return out


define(OpDef(
    name="multiply",
    doc="Element-wise product of equal shapes, or a (C,) / (C, 1, 1) per-channel gate broadcast "
        "over (C, H, W) (squeeze-and-excitation): other n*(inputs - 1). fvcore does not count "
        "it.",
    family="elementwise",
    infer=_multiply_infer,
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel * (len(ctx.in_shapes) - 1)),
    arity=(2, None),
    fvcore=None, connections=None,
    memory=_multiply_memory,
))


# -- concat ----------------------------------------------------------------------------------------

def _concat_infer(ctx: OpContext) -> Shape:
    axis, first = ctx.attrs["axis"], ctx.in_shape
    if not 0 <= axis < len(first):
        raise OpArgumentError(
            f"axis {axis} is out of range for shape {first}; axes are per sample, 0 = channels "
            f"(Keras' axis=-1 on NHWC is 0 here; negative axes are not accepted)")
    for shape in ctx.in_shapes:
        if len(shape) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(shape, first)) if i != axis):
            raise ShapeError(
                f"concat on axis {axis} needs every other dimension equal, got {_shapes(ctx)}")
    return (*first[:axis], sum(s[axis] for s in ctx.in_shapes), *first[axis + 1:])


def _concat_memory(p: Prog) -> Val:
    args = p.autocast("cat", p.inputs)
    dtype = args[0].dtype
    for a in args[1:]:
        dtype = promote(dtype, a.dtype)  # cat's own type promotion
    y = p.op("cat", args, [(p.out_numel, dtype)], grad=cat_grad)
    for a, x in zip(args, p.inputs):
        if a is not x:
            p.drop(a)
    return y


def _shuffle_memory(p: Prog) -> Val:
    """view, transpose (views), reshape of the transposed tensor: a copy. In the backward the
    transposed gradient is copied back by the first view's reshape."""
    x = p.view(p.inputs[0], label="view")
    t = p.view(x, label="transpose")
    return p.op("clone", [t], [(t.numel, t.dtype)], grad=_shuffle_grad)


def _shuffle_grad(b: Back) -> None:
    b.give(0, b.like(0, "clone"))


define(OpDef(
    name="concat",
    doc="Concatenation along a per-sample axis (0 = channels): zero cost (data movement; "
        "memory traffic is reported separately).",
    family="elementwise",
    attrs={"axis": Attr("int", 0, "per-sample axis, 0 = channels; no negative axes")},
    infer=_concat_infer, arity=(1, None),
    fvcore=lambda ctx: 0, connections=lambda ctx: 0,
    zero_cost="data movement: concatenation copies, it computes nothing",
    memory=_concat_memory,
))


# -- scale, channel_shuffle, identity -------------------------------------------------------------

define(OpDef(
    name="scale",
    doc="Multiplication by a constant factor: other n. fvcore does not count it.",
    family="elementwise",
    attrs={"factor": Attr("float", doc="the constant multiplier")},
    infer=lambda ctx: ctx.in_shape,
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel),
    fvcore=None, connections=None,
    memory=lambda p: p.op("mul", [p.inputs[0]], grad=scalar_grad),
))


def _shuffle_infer(ctx: OpContext) -> Shape:
    c = channels(ctx.in_shape, "channel_shuffle")
    groups = positive("groups", ctx.attrs["groups"])
    if c % groups:
        raise OpArgumentError(f"groups={groups} must divide the input channels ({c})")
    return ctx.in_shape


define(OpDef(
    name="channel_shuffle",
    doc="ShuffleNet's channel shuffle (reshape to (g, C/g), transpose, flatten): zero cost.",
    family="elementwise",
    attrs={"groups": Attr("int", doc="groups g (must divide C)")},
    infer=_shuffle_infer,
    fvcore=lambda ctx: 0, connections=lambda ctx: 0,
    zero_cost="a permutation of channels",
    memory=_shuffle_memory,
))

define(OpDef(
    name="identity",
    doc="Passes its input through unchanged: zero cost.",
    family="elementwise",
    infer=lambda ctx: ctx.in_shape,
    fvcore=lambda ctx: 0, connections=lambda ctx: 0,
    zero_cost="returns its input",
    memory=lambda p: p.inputs[0],
))
