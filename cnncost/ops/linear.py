"""Fully connected layers. Must not import torch.

linear (alias dense) and LeCun's Euclidean RBF output (rbf, family ``distance``).
"""

from __future__ import annotations

from cnncost.errors import ShapeError
from cnncost.ops.activation import check_activation
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


def _features(ctx: OpContext, op: str) -> int:
    if len(ctx.in_shape) != 1:
        raise ShapeError(
            f"{op} expects a vector (F,), got shape {ctx.in_shape}; flatten first (flatten or "
            f"global_avg_pool)")
    return ctx.in_shape[0]


# -- linear: w: [out, F], b: [out] -------------------------------------------------------------

def _linear_infer(ctx: OpContext) -> Shape:
    _features(ctx, "linear")
    check_activation(ctx.attrs.get("act"))
    return (positive("out", ctx.attrs["out"]),)


def _linear_params(ctx: OpContext) -> Params:
    out = ctx.attrs["out"]
    return Params(ctx.in_shape[0] * out + out * int(ctx.attrs["bias"]))


def _linear_arithmetic(ctx: OpContext) -> Arithmetic:
    out = ctx.attrs["out"]
    return Arithmetic(ctx.in_shape[0] * out, out * int(ctx.attrs["bias"]))


define(OpDef(
    name="linear",
    doc="Fully connected y = W x + b on a vector (F,), w: [out, F]: params F*out + out*bias; "
        "macs F*out, other out*bias. Needs a flattened input. The fused act is costed "
        "separately by the engine.",
    family="linear",
    attrs={"out": Attr("int", doc="output features"),
           "bias": Attr("bool", True, "a learned bias per output"),
           "act": Attr("act", None, "fused activation, costed by the engine on the output")},
    infer=_linear_infer, params=_linear_params, arithmetic=_linear_arithmetic,
    weighted=True,
    fvcore=lambda ctx: _linear_arithmetic(ctx).macs,
    connections=lambda ctx: _linear_arithmetic(ctx).macs + _linear_arithmetic(ctx).other_flops,
    aliases=("dense",),
))


# -- rbf: y_o = sum_f (x_f - c_of)^2, centres c: [out, F] fixed by hand -------------------------

def _rbf_infer(ctx: OpContext) -> Shape:
    _features(ctx, "rbf")
    return (positive("out", ctx.attrs["out"]),)


def _rbf_links(ctx: OpContext) -> int:
    return ctx.in_shape[0] * ctx.attrs["out"]


define(OpDef(
    name="rbf",
    doc="LeCun 1998's Euclidean RBF output y_o = sum_f (x_f - c_of)^2 with centres fixed by "
        "hand (non-trainable): params F*out non-trainable; macs F*out (square-accumulate), "
        "other F*out (subtract). fvcore has no such operator.",
    family="distance",
    attrs={"out": Attr("int", doc="output units (classes)")},
    infer=_rbf_infer,
    params=lambda ctx: Params(non_trainable=_rbf_links(ctx)),
    arithmetic=lambda ctx: Arithmetic(_rbf_links(ctx), _rbf_links(ctx)),
    weighted=True,
    fvcore=None,
    connections=_rbf_links,
))
