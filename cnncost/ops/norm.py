"""Normalisations and per-channel affine maps. Must not import torch.

batch_norm, layer_norm, lrn, affine. Channels are ``shape[0]``; any rank >= 1. ``N_in`` is the
input numel (= output numel).
"""

from __future__ import annotations

from typing import Any

from cnncost.errors import OpArgumentError
from cnncost.ops.kinds import define
from cnncost.ops.registry import (
    Arithmetic,
    Attr,
    OpContext,
    OpDef,
    Params,
    Shape,
    positive,
)
from cnncost.ops.spatial import channels

_CENTER = Attr("bool", True, "learn an offset beta per channel")
_SCALE = Attr("bool", True, "learn a scale gamma per channel")
_EPSILON = Attr("float", 1e-5, "added to the variance")


def _checked(op: str, ctx: OpContext, epsilon: Any = None) -> Shape:
    channels(ctx.in_shape, op)
    if epsilon is not None and epsilon < 0:
        raise OpArgumentError(f"epsilon must not be negative, got {epsilon}")
    return ctx.in_shape


def _affine_count(ctx: OpContext, *keys: str) -> int:
    return sum(int(ctx.attrs[key]) for key in keys)


# -- batch_norm: gamma, beta: [C] trainable; moving mean, variance: [C] non-trainable ----------

define(OpDef(
    name="batch_norm",
    doc="Batch normalisation at inference, folded to x*a + b per channel: params trainable "
        "C*(center + scale), non-trainable 2C (moving mean and variance); other 2*N_in. "
        "fvcore counts N_in*(2 if scale else 1). Training-mode statistics are not modelled.",
    family="norm",
    attrs={"center": _CENTER, "scale": _SCALE, "epsilon": _EPSILON},
    infer=lambda ctx: _checked("batch_norm", ctx, ctx.attrs["epsilon"]),
    params=lambda ctx: Params(ctx.in_shape[0] * _affine_count(ctx, "center", "scale"),
                              2 * ctx.in_shape[0]),
    arithmetic=lambda ctx: Arithmetic(0, 2 * ctx.in_numel),
    fvcore=lambda ctx: ctx.in_numel * (2 if ctx.attrs["scale"] else 1),
    connections=None,
))


# -- layer_norm: over the channel axis at each position; gamma, beta: [C] ----------------------

define(OpDef(
    name="layer_norm",
    doc="Layer normalisation over the channel axis at each position (Keras LayerNormalization("
        "axis=-1) on NHWC): params trainable C*(center + scale); other N_in*(6 + center + "
        "scale) per element: mean 1, variance 3, normalise 2, affine 1 each for scale and "
        "center. fvcore counts N_in*(5 if scale else 4) (its 'affine' is the weight).",
    family="norm",
    attrs={"center": _CENTER, "scale": _SCALE, "epsilon": _EPSILON},
    infer=lambda ctx: _checked("layer_norm", ctx, ctx.attrs["epsilon"]),
    params=lambda ctx: Params(ctx.in_shape[0] * _affine_count(ctx, "center", "scale")),
    arithmetic=lambda ctx: Arithmetic(
        0, ctx.in_numel * (6 + _affine_count(ctx, "center", "scale"))),
    fvcore=lambda ctx: ctx.in_numel * (5 if ctx.attrs["scale"] else 4),
    connections=None,
))


# -- lrn: b = a / (k + alpha/size * sum of a^2 over `size` neighbouring channels)^beta ---------

def _lrn_infer(ctx: OpContext) -> Shape:
    positive("size", ctx.attrs["size"])
    return _checked("lrn", ctx)


define(OpDef(
    name="lrn",
    doc="Local response normalisation (torch LocalResponseNorm): b = a / (k + alpha/size * "
        "sum a^2)^beta over size neighbouring channels: no params; other N_in*(2*size + 3) "
        "(size squares and adds, then scale, add k, pow, divide). Running-sum reuse across "
        "channels is not modelled. fvcore does not count it.",
    family="norm",
    attrs={"size": Attr("int", 5, "neighbouring channels summed"),
           "alpha": Attr("float", 1e-4, "scale of the sum"),
           "beta": Attr("float", 0.75, "exponent"),
           "k": Attr("float", 1.0, "additive constant")},
    infer=_lrn_infer,
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel * (2 * ctx.attrs["size"] + 3)),
    fvcore=None,
    connections=None,
))


# -- affine: y = x*w + b per channel; w, b: [C] -------------------------------------------------

define(OpDef(
    name="affine",
    doc="Per-channel x*w + b (LeNet's trainable subsampling coefficient and bias): params "
        "trainable C*(scale + bias); other N_in*(scale + bias). Connections n*bias (LeCun counts "
        "the bias link; the coefficient scales the pooled sum). fvcore does not count it.",
    family="norm",
    attrs={"scale": Attr("bool", True, "a learned coefficient per channel"),
           "bias": Attr("bool", True, "a learned bias per channel")},
    infer=lambda ctx: _checked("affine", ctx),
    params=lambda ctx: Params(ctx.in_shape[0] * _affine_count(ctx, "scale", "bias")),
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel * _affine_count(ctx, "scale", "bias")),
    fvcore=None,
    connections=lambda ctx: ctx.out_numel * int(ctx.attrs["bias"]),
))
