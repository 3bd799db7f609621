"""Input preprocessing layers: rescaling, normalization (Keras). Must not import torch.

Channels are ``shape[0]``. Neither has trainable parameters; fvcore does not count them.
"""

from __future__ import annotations

from typing import Any

from cnncost.errors import OpArgumentError
from cnncost.memory.program import (
    Prog,
    Val,
    div_memory,
    mul_memory,
    pass_grad,
    promote,
    scalar_grad,
)
from cnncost.ops.kinds import define
from cnncost.ops.registry import Arithmetic, Attr, OpContext, OpDef, Params, Shape
from cnncost.ops.spatial import channels


def _floats(value: Any) -> list[float]:
    return [value] if isinstance(value, (int, float)) else list(value)


def _rescaling_infer(ctx: OpContext) -> Shape:
    c = channels(ctx.in_shape, "rescaling")
    for name in ("scale", "offset"):
        values = _floats(ctx.attrs[name])
        if len(values) not in (1, c):
            raise OpArgumentError(
                f"{name} has {len(values)} values; give one, or one per channel ({c})")
    return ctx.in_shape


def _rescaling_arithmetic(ctx: OpContext) -> Arithmetic:
    offset = any(v != 0 for v in _floats(ctx.attrs["offset"]))
    return Arithmetic(0, ctx.out_numel * (1 + int(offset)))


def _rescaling_memory(p: Prog) -> Val:
    """``x * scale`` then ``+ offset`` (if any offset); one value is a Python number, one per
    channel a small tensor made by ``x.new_tensor`` and viewed per channel."""
    x = p.inputs[0]
    y = _scalar_or_channels(p, x, _floats(p.ctx.attrs["scale"]), "mul")
    offset = _floats(p.ctx.attrs["offset"])
    if not any(offset):
        return y
    z = _scalar_or_channels(p, y, offset, "add")
    p.drop(y)
    return z


def _scalar_or_channels(p: Prog, x: Val, values: list[float], label: str) -> Val:
    if len(values) == 1:
        grad = scalar_grad if label == "mul" else pass_grad(0)
        return p.op(label, [x], [(x.numel, x.dtype)], grad=grad)
    const = p.const("new_tensor", len(values), x.dtype)
    view = p.view(const)
    if label == "mul":
        y = mul_memory(p, x, view, x.numel)
    else:
        y = p.op("add", [x, view], [(x.numel, x.dtype)], grad=pass_grad(0, 1))
    p.drop(const, view)
    return y


def _normalization_memory(p: Prog) -> Val:
    """``(x - mean.view(...)) / sqrt(variance).clamp_min(1e-7).view(...)``: the (C,) std and its
    square root, the difference (dying after the division) and the quotient."""
    x, c = p.inputs[0], p.ctx.in_shape[0]
    mean = p.param(c, trainable=False)
    variance = p.param(c, trainable=False)
    p.param(1, trainable=False, dtype="int64")  # count
    root = p.op("sqrt", [variance], [(c, variance.dtype)])
    std = p.op("clamp_min", [root], [(c, variance.dtype)])
    p.drop(root)
    m = p.view(mean)
    diff = p.op("sub", [x, m], [(x.numel, promote(x.dtype, m.dtype))], grad=pass_grad(0, 1))
    y = div_memory(p, diff, p.view(std), x.numel)
    p.drop(diff)
    return y


define(OpDef(
    name="rescaling",
    doc="Keras Rescaling x*scale + offset (one value, or one per channel): other n*(1 + any "
        "offset != 0); a scale of 1 is still counted.",
    family="preprocess",
    attrs={"scale": Attr("floats", doc="one value, or one per channel"),
           "offset": Attr("floats", [0], "one value, or one per channel")},
    infer=_rescaling_infer,
    arithmetic=_rescaling_arithmetic,
    fvcore=None, connections=None,
    memory=_rescaling_memory,
))


def _normalization_infer(ctx: OpContext) -> Shape:
    channels(ctx.in_shape, "normalization")
    return ctx.in_shape


define(OpDef(
    name="normalization",
    doc="Keras Normalization over the channel axis, (x - mean) / sqrt(variance): params "
        "non-trainable 2C + 1 (mean, variance, count); other 2n (the square root is folded at "
        "load time).",
    family="preprocess",
    infer=_normalization_infer,
    params=lambda ctx: Params(non_trainable=2 * ctx.in_shape[0] + 1),
    arithmetic=lambda ctx: Arithmetic(0, 2 * ctx.out_numel),
    fvcore=None, connections=None,
    memory=_normalization_memory,
))
