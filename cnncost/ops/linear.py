"""Fully connected layers. Must not import torch.

linear (alias dense) and LeCun's Euclidean RBF output (rbf, family ``distance``).
"""

from __future__ import annotations

from math import prod

from cnncost.errors import ShapeError
from cnncost.memory.program import Back, Prog, Val, pass_grad, pow_grad, reshape_memory
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
        hint = (" or set channels_last: true to apply it at every position over the last axis"
                if op == "linear" else "")
        raise ShapeError(
            f"{op} expects a vector (F,), got shape {ctx.in_shape}; flatten first (flatten or "
            f"global_avg_pool){hint}")
    return ctx.in_shape[0]


# -- linear: w: [out, F], b: [out]; channels-last: over the last axis at every position --------

def _linear_features(ctx: OpContext) -> tuple[int, int]:
    """(F, positions): the features a linear reads and how many times it applies."""
    shape = ctx.in_shape
    if ctx.attrs["channels_last"]:
        if not shape:
            raise ShapeError("linear expects a tensor with a feature axis, got a scalar")
        return shape[-1], prod(shape[:-1])
    return _features(ctx, "linear"), 1


def _linear_infer(ctx: OpContext) -> Shape:
    _linear_features(ctx)
    check_activation(ctx.attrs.get("act"), ctx.attrs.get("act_inplace", False))
    return (*ctx.in_shape[:-1], positive("out", ctx.attrs["out"]))


def _linear_params(ctx: OpContext) -> Params:
    out = ctx.attrs["out"]
    return Params(_linear_features(ctx)[0] * out + out * int(ctx.attrs["bias"]))


def _linear_arithmetic(ctx: OpContext) -> Arithmetic:
    out = ctx.attrs["out"]
    features, positions = _linear_features(ctx)
    return Arithmetic(positions * features * out, positions * out * int(ctx.attrs["bias"]))


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


def _mm_grad(b: Back) -> None:
    """``mm(x, w.t())``: one ``mm`` for each factor that needs a gradient."""
    for k in (0, 1):
        if b.needs(k):
            b.give(k, b.like(k, "mm"))


def _linear_memory(p: Prog) -> Val:
    """``F.linear``: autocast casts bias, weight, input (in that order); the weight is used
    through a transposed view; each matrix is saved for the other's gradient, only where the
    other needs one. On (N, F), ``addmm`` (``mm`` without a bias). On (N, ..., F)
    (``channels_last``), a contiguous input is viewed as (N·positions, F) for the same
    ``addmm`` and the result viewed back; any other (a permuted view) goes through ``matmul``:
    a contiguous copy, ``mm``, then the bias added in place (``add_``; out of place, a new
    tensor, under a dispatch-mode tracker, where every tensor is subclass-like)."""
    a = p.ctx.attrs
    weight = p.param(a["out"] * _linear_features(p.ctx)[0])
    bias = p.param(a["out"]) if a["bias"] else None
    x = p.inputs[0]
    # F.linear(x, weight, bias): autocast casts the last argument first
    xc, wc, *b = p.autocast("linear", [x, weight] + ([bias] if bias is not None else []))
    wt = p.view(wc, label="t")
    folded = len(p.ctx.in_shape) > 1
    if folded and not xc.contiguous:
        x2 = reshape_memory(p, xc, "reshape")
        save = ([x2] if wt.requires_grad else []) + ([wt] if x2.requires_grad else [])
        product = p.op("mm", [x2, wt], [(p.out_numel, x2.dtype)], save=save, grad=_mm_grad)
        if x2 is not xc:  # matmul's copy dies when it returns, unless autograd saved it
            p.drop(x2, *([x2.view_of] if x2.view_of is not None else []))
        y = p.view(product, label="_unsafe_view")
        if b:
            if p.sim.config.tracker:
                total = p.op("add", [y, b[0]], [(p.out_numel, y.dtype)], grad=pass_grad(0, 1))
                p.drop(y, product)
                y = total
            else:
                y = p.inplace("add_", y, [b[0]], grad=pass_grad(0, 1))
    else:
        x2 = p.view(xc, label="view") if folded else xc
        save = ([x2] if wt.requires_grad else []) + ([wt] if x2.requires_grad else [])
        y = p.op("addmm" if b else "mm", [*b, x2, wt], [(p.out_numel, x2.dtype)], save=save,
                 grad=_addmm_grad)
        if folded:
            y = p.view(y, label="view")
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
        "macs F*out, other out*bias. Needs a flattened input, or channels_last: true to apply "
        "it over the last axis at every position (torch's nn.Linear on (N, ..., F), as "
        "ConvNeXt's pointwise layers after a permute): macs positions*F*out, other "
        "positions*out*bias. The fused act is costed separately by the engine.",
    family="linear",
    attrs={"out": Attr("int", doc="output features"),
           "bias": Attr("bool", True, "a learned bias per output"),
           "act": Attr("act", None, "fused activation, costed by the engine on the output"),
           "act_inplace": Attr("bool", False, "run the fused activation in place (torch's "
                                              "inplace=True)"),
           "channels_last": Attr("bool", False, "apply over the last axis at every position "
                                                "(any rank), as torch's nn.Linear does")},
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
