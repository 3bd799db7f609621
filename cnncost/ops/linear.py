"""Fully connected layers. Must not import torch.

linear (alias dense) and LeCun's Euclidean RBF output (rbf, family ``distance``).
"""

from __future__ import annotations

from cnncost.errors import ShapeError
from cnncost.memory.program import Back, Prog, Val, pass_grad, pow_grad
from cnncost.ops.activation import activation_memory, check_activation
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
    check_activation(ctx.attrs.get("act"), ctx.attrs.get("act_inplace", False))
    return (positive("out", ctx.attrs["out"]),)


def _linear_params(ctx: OpContext) -> Params:
    out = ctx.attrs["out"]
    return Params(ctx.in_shape[0] * out + out * int(ctx.attrs["bias"]))


def _linear_arithmetic(ctx: OpContext) -> Arithmetic:
    out = ctx.attrs["out"]
    return Arithmetic(ctx.in_shape[0] * out, out * int(ctx.attrs["bias"]))


def _addmm_grad(b: Back) -> None:
    """``addmm(bias, x, w.t())``: the bias gets the incoming gradient (summed over the batch by
    the engine), x and w.t() one ``mm`` each."""
    g = b.grad(0)
    assert g is not None
    if len(b.inputs) == 3:
        b.give(0, g)
    for k in range(len(b.inputs) - 2, len(b.inputs)):
        if b.needs(k):
            b.give(k, b.like(k, "mm"))


def _linear_memory(p: Prog) -> Val:
    """``F.linear`` on (N, F): autocast casts bias, weight, input (in that order); the weight is
    used through a transposed view; ``addmm`` (``mm`` without a bias) saves the input and the
    transposed weight."""
    a = p.ctx.attrs
    weight = p.param(a["out"] * p.ctx.in_shape[0])
    bias = p.param(a["out"]) if a["bias"] else None
    x = p.inputs[0]
    # F.linear(x, weight, bias): autocast casts the last argument first
    xc, wc, *b = p.autocast("linear", [x, weight] + ([bias] if bias is not None else []))
    wt = p.view(wc, label="t")
    # each matrix is saved for the other's gradient: only where the other needs one
    save = ([xc] if wt.requires_grad else []) + ([wt] if xc.requires_grad else [])
    y = p.op("addmm" if b else "mm", [*b, xc, wt], [(p.out_numel, xc.dtype)], save=save,
             grad=_addmm_grad)
    act = a.get("act")
    return activation_memory(p, act, y, bool(a.get("act_inplace"))) if act else y


def _rbf_memory(p: Prog) -> Val:
    """``((x.unsqueeze(1) - centres) ** 2).sum(-1)``: the difference (saved by pow) and the
    square are full (N, out, F) tensors; the sum is a view in the backward."""
    features, out = p.ctx.in_shape[0], p.ctx.attrs["out"]
    centres = p.param(out * features, trainable=False)
    x = p.view(p.inputs[0], label="unsqueeze")
    full = p.batch * out * features
    dtype = "float32" if "float32" in (x.dtype, centres.dtype) else x.dtype  # type promotion
    diff = p.op("sub", [x, centres], [(full, dtype)], grad=pass_grad(0))
    (base,) = p.autocast("pow", [diff])
    sq = p.op("pow", [base], [(full, base.dtype)], save=[base], grad=pow_grad)
    p.drop(diff, base)
    (summed,) = p.autocast("sum", [sq])
    y = p.op("sum", [summed], [(p.out_numel, summed.dtype)], grad=_sum_grad)
    p.drop(sq, summed)
    return y


def _sum_grad(b: Back) -> None:
    g = b.grad(0)
    if g is not None:
        b.give(0, b.view(g, b.inputs[0].numel))


define(OpDef(
    name="linear",
    doc="Fully connected y = W x + b on a vector (F,), w: [out, F]: params F*out + out*bias; "
        "macs F*out, other out*bias. Needs a flattened input. The fused act is costed "
        "separately by the engine.",
    family="linear",
    attrs={"out": Attr("int", doc="output features"),
           "bias": Attr("bool", True, "a learned bias per output"),
           "act": Attr("act", None, "fused activation, costed by the engine on the output"),
           "act_inplace": Attr("bool", False, "run the fused activation in place (torch's "
                                              "inplace=True)")},
    infer=_linear_infer, params=_linear_params, arithmetic=_linear_arithmetic,
    weighted=True,
    fvcore=lambda ctx: _linear_arithmetic(ctx).macs,
    connections=lambda ctx: _linear_arithmetic(ctx).macs + _linear_arithmetic(ctx).other_flops,
    aliases=("dense",),
    memory=_linear_memory,
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
    memory=_rbf_memory,
))
