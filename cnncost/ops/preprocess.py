"""Input preprocessing layers: rescaling, normalization (Keras). Must not import torch.

Channels are ``shape[0]``. Neither has trainable parameters; fvcore does not count them.
"""

from __future__ import annotations

from typing import Any

from cnncost.errors import OpArgumentError
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
))
