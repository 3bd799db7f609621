"""Normalisations and per-channel affine maps. Must not import torch.

batch_norm, layer_norm, lrn, affine, layer_scale. Channels are ``shape[0]``; any rank >= 1. ``N_in`` is the
input numel (= output numel).
"""

from __future__ import annotations

from typing import Any

from cnncost.errors import OpArgumentError
from cnncost.memory.program import (
    Back,
    Backward,
    Prog,
    Val,
    div_memory,
    grads_like,
    mul_memory,
    pass_grad,
    pow_grad,
    promote,
    scalar_grad,
)
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


def _stats_dtype(p: Prog, x: Val) -> str:
    """Normalisation statistics: float32 on CUDA (opmath), the input's dtype on the CPU."""
    return "float32" if p.device == "cuda" else x.dtype


def _affine_params(p: Prog, channels: int, scale: bool, center: bool) -> list[Val]:
    return [p.param(channels) for flag in (scale, center) if flag]


# -- batch_norm: gamma, beta: [C] trainable; moving mean, variance: [C] non-trainable ----------

def _batch_norm_memory(p: Prog) -> Val:
    """``F.batch_norm``: the output, and the batch mean and inverse std (C each) in training,
    saved with the input; the backward allocates the input's, the scale's and the offset's
    gradients in one call. At inference the statistics outputs are empty, except for CUDA's
    native kernel (used where cuDNN's is not: no scale or offset, bfloat16, epsilon < 1e-5...),
    which returns C-sized ones that die at once."""
    x, c = p.inputs[0], p.ctx.in_shape[0]
    affine = _affine_params(p, c, p.ctx.attrs["scale"], p.ctx.attrs["center"])
    p.param(c, trainable=False)  # running mean
    p.param(c, trainable=False)  # running variance
    if p.ctx.attrs.get("counter"):
        p.param(1, trainable=False, dtype="int64")  # num_batches_tracked (add_(1): in place)
    ins = [x, *affine]
    stats = _stats_dtype(p, x)
    if not p.training:
        if p.device == "cuda" and not _cudnn_batch_norm(p, x, len(affine) == 2):
            y = p.op("native_batch_norm", ins, [(x.numel, x.dtype), (c, stats), (c, stats)])
            p.drop(*p.last_outputs[1:])
            return y
        return p.op("native_batch_norm", ins, [(x.numel, x.dtype)])
    return p.op("native_batch_norm", ins, [(x.numel, x.dtype), (c, stats), (c, stats)],
                save=[x, 1, 2], grad=_batch_norm_grad(p.ctx.attrs["scale"]))


def _batch_norm_grad(scale: bool) -> Backward:
    """``native_batch_norm_backward``: the needed gradients in one call (FakeTensor's kernel
    also returns the input's when it is not needed: ``semantics="tracker"``). The CPU kernel
    returns the parameters' gradients in the scale's dtype, or without a scale in the input's
    (autocast: bfloat16, cast to float32 by the engine); CUDA's in the parameters' own."""

    def rule(b: Back) -> None:
        wanted = [k for k in range(len(b.inputs)) if b.needs(k)]
        spare = b.sim.config.tracker and 0 not in wanted
        x = b.inputs[0]
        params = None
        if b.sim.config.device == "cpu":
            params = b.inputs[1].dtype if scale else x.dtype
        outs = [(b.inputs[k].numel, b.inputs[k].dtype if k == 0 or params is None else params)
                for k in ([0] if spare else []) + wanted]
        vals = b.op("native_batch_norm_backward", outs)
        if spare:
            b.drop(vals.pop(0))
        for k, v in zip(wanted, vals):
            b.give(k, v)
    return rule


def _cudnn_batch_norm(p: Prog, x: Val, affine: bool) -> bool:
    """Where PyTorch's ``_batch_norm_impl_index`` picks cuDNN on CUDA."""
    return (affine and x.dtype != "bfloat16" and p.dtype != "bfloat16"
            and (x.dtype != "float16" or p.dtype == "float32")
            and len(p.ctx.in_shape) >= 2 and p.batch <= (880801 if p.training else 65535)
            and p.ctx.attrs["epsilon"] >= 1e-5 and x.numel < 2**31 - 1)


define(OpDef(
    name="batch_norm",
    doc="Batch normalisation at inference, folded to x*a + b per channel: params trainable "
        "C*(center + scale), non-trainable 2C (moving mean and variance); other 2*N_in. "
        "fvcore counts N_in*(2 if scale else 1). Training-mode statistics are not modelled.",
    family="norm",
    attrs={"center": _CENTER, "scale": _SCALE, "epsilon": _EPSILON,
           "counter": Attr("bool", False, "torch's num_batches_tracked: an int64 step counter "
                                          "buffer (memory only; not a parameter)")},
    infer=lambda ctx: _checked("batch_norm", ctx, ctx.attrs["epsilon"]),
    params=lambda ctx: Params(ctx.in_shape[0] * _affine_count(ctx, "center", "scale"),
                              2 * ctx.in_shape[0]),
    arithmetic=lambda ctx: Arithmetic(0, 2 * ctx.in_numel),
    fvcore=lambda ctx: ctx.in_numel * (2 if ctx.attrs["scale"] else 1),
    connections=None,
    memory=_batch_norm_memory,
))



def _norm_axis(ctx: OpContext) -> int:
    """The features a layer norm normalises: the channel axis, or the last (channels_last)."""
    return ctx.in_shape[-1] if ctx.attrs["channels_last"] else ctx.in_shape[0]


def _layer_norm_memory(p: Prog) -> Val:
    """``F.layer_norm`` over channels-last: a permuted view in, ``native_layer_norm`` (output,
    mean and rstd per position; autocast runs it in float32 on CUDA), a permuted view out; on a
    channels-last tensor (``channels_last``), ``native_layer_norm`` alone."""
    x, c = p.inputs[0], _norm_axis(p.ctx)
    affine = _affine_params(p, c, p.ctx.attrs["scale"], p.ctx.attrs["center"])
    permuted = len(p.ctx.in_shape) > 1 and not p.ctx.attrs["channels_last"]
    xin = p.view(x, label="permute") if permuted else x
    (xin,) = p.autocast("layer_norm", [xin])
    positions = xin.numel // c
    stats = _stats_dtype(p, xin)
    ins = [xin, *affine]
    y = p.op("native_layer_norm", ins,
             [(xin.numel, xin.dtype), (positions, stats), (positions, stats)], save=[xin, 1, 2],
             grad=grads_like(*range(len(ins)), label="native_layer_norm_backward"))
    return p.view(y, label="permute") if permuted else y


# -- layer_norm: over the channel axis at each position; gamma, beta: [C] ----------------------

define(OpDef(
    name="layer_norm",
    doc="Layer normalisation over the channel axis at each position (Keras LayerNormalization("
        "axis=-1) on NHWC), or over the last axis with channels_last (torch's nn.LayerNorm(C) "
        "on (N, H, W, C), ConvNeXt's after a permute): params trainable C*(center + scale); "
        "other N_in*(6 + center + scale) per element: mean 1, variance 3, normalise 2, affine 1 "
        "each for scale and center. fvcore counts N_in*(5 if scale else 4) (its 'affine' is "
        "the weight).",
    family="norm",
    attrs={"center": _CENTER, "scale": _SCALE, "epsilon": _EPSILON,
           "channels_last": Attr("bool", False, "normalise the last axis (a channels-last "
                                                "tensor) instead of the channel axis")},
    infer=lambda ctx: _checked("layer_norm", ctx, ctx.attrs["epsilon"]),
    params=lambda ctx: Params(_norm_axis(ctx) * _affine_count(ctx, "center", "scale")),
    arithmetic=lambda ctx: Arithmetic(
        0, ctx.in_numel * (6 + _affine_count(ctx, "center", "scale"))),
    fvcore=lambda ctx: ctx.in_numel * (5 if ctx.attrs["scale"] else 4),
    connections=None,
    memory=_layer_norm_memory,
))


# -- lrn: b = a / (k + alpha/size * sum of a^2 over `size` neighbouring channels)^beta ---------

def _lrn_memory(p: Prog) -> Val:
    """torch's ``local_response_norm``, call by call (the bridge computes it in float32 and casts
    back for half precision on the CPU)."""
    x = p.inputs[0]
    if p.device == "cpu" and x.dtype in ("bfloat16", "float16"):
        y = _lrn_calls(p, p.cast(x, "float32"))
        return p.cast(y, x.dtype)
    return _lrn_calls(p, x)


def _lrn_calls(p: Prog, x: Val) -> Val:
    a = p.ctx.attrs
    size, shape = a["size"], p.ctx.in_shape
    if len(shape) == 1:  # (N, C) -> (N, C, 1)
        x = p.view(x, label="unsqueeze")
    c = shape[0]
    rest = x.numel // (p.batch * c)
    sq = mul_memory(p, x, x, x.numel)
    div = p.view(sq, label="view")
    p.drop(sq)
    padded = p.op("constant_pad_nd", [div], [(p.batch * (c + size - 1) * rest, x.dtype)],
                  grad=grads_like(0))
    p.drop(div)
    (padded_in,) = p.autocast("avg_pool3d" if len(shape) == 3 else "avg_pool2d", [padded])
    pooled = p.op("avg_pool", [padded_in], [(x.numel, padded_in.dtype)], save=[padded_in],
                  grad=grads_like(0, label="avg_pool_backward"))
    p.drop(padded, padded_in)
    squeezed = p.view(pooled, label="squeeze")
    div = p.view(squeezed, label="view")
    p.drop(pooled, squeezed)
    scaled = p.op("mul", [div], [(x.numel, div.dtype)], grad=scalar_grad)
    shifted = p.op("add", [scaled], [(x.numel, div.dtype)], grad=pass_grad(0))
    p.drop(scaled)
    (base,) = p.autocast("pow", [shifted])
    powered = p.op("pow", [base], [(x.numel, base.dtype)], save=[base], grad=pow_grad)
    p.drop(shifted, base, div)
    return div_memory(p, x, powered, x.numel)




# -- affine: y = x*w + b per channel; w, b: [C] -------------------------------------------------

def _affine_memory(p: Prog) -> Val:
    """``x * w.view(1, -1, 1, 1)`` then ``+ b.view(...)``: each a new tensor, the product dying at
    the rebinding."""
    x, c = p.inputs[0], p.ctx.in_shape[0]
    weight = p.param(c) if p.ctx.attrs["scale"] else None
    bias = p.param(c) if p.ctx.attrs["bias"] else None
    if weight is not None:
        y = mul_memory(p, x, p.view(weight), x.numel)
        if x is not p.inputs[0]:
            p.drop(x)
        x = y
    if bias is not None:
        b = p.view(bias)
        y = p.op("add", [x, b], [(x.numel, promote(x.dtype, b.dtype))], grad=pass_grad(0, 1))
        if x is not p.inputs[0]:
            p.drop(x)
        x = y
    return x

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
    memory=_lrn_memory,
))


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
    memory=_affine_memory,
))


# -- layer_scale: x * gamma per channel; gamma: [C] (stored as (C, 1, 1) for a map) -------------

def _layer_scale_memory(p: Prog) -> Val:
    """``gamma * x`` (torchvision's ConvNeXt: ``self.layer_scale * result``) or, stored as a
    vector, ``x.mul(gamma.reshape(...))`` (timm; the reshape is a view): one product, each
    factor saved where the other needs a gradient, in the model's operand order."""
    x = p.inputs[0]
    gamma = p.param(p.ctx.in_shape[0])
    if p.ctx.attrs["stored"] == "vector":  # timm: x.mul(gamma.reshape(1, -1, 1, 1)), x first
        return mul_memory(p, x, gamma, x.numel)
    return mul_memory(p, gamma, x, x.numel)


define(OpDef(
    name="layer_scale",
    doc="LayerScale (Touvron et al. 2021; ConvNeXt's layer_scale): x times a learned per-channel "
        "gamma, gamma * x: params trainable C; other N_in (one multiply per element). fvcore "
        "does not count it. An affine with bias: false counts the same; layer_scale is the "
        "operator torchvision's and timm's models use. stored: how gamma is held, broadcast "
        "(C, 1, 1) as torchvision's ConvNeXt, or vector (C,) reshaped at each call as timm's "
        "ConvNeXt and LayerScale2d, which multiply x first: the same counts; the memory rule "
        "follows each product's operand order, which autocast's backward allocates by).",
    family="norm",
    attrs={"stored": Attr("choice", "broadcast", "gamma's shape: broadcast (C, 1, ...) or "
                          "vector (C,)", choices=("broadcast", "vector"))},
    infer=lambda ctx: _checked("layer_scale", ctx),
    params=lambda ctx: Params(ctx.in_shape[0]),
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel),
    fvcore=None,
    connections=None,
    memory=_layer_scale_memory,
))
