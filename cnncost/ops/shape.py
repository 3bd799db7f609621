"""Shape-only operators: flatten, reshape, dropout, stochastic_depth, zero_pad2d, pad, crop2d.
Must not import torch.

All are zero cost at inference (fvcore 0, connections 0): they move or relabel data, or (dropout,
stochastic depth) are the identity. The views (slice, split, chunk, permute, transpose) are in
``cnncost.ops.views``.
"""

from __future__ import annotations

from math import prod

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.memory.program import (
    Back,
    Prog,
    Val,
    grads_like,
    mul_memory,
    reshape_memory,
    slice_grad,
)
from cnncost.ops.kinds import define
from cnncost.ops.registry import Attr, OpContext, OpDef, Shape, sides
from cnncost.ops.spatial import feature_map


def _zero(ctx: OpContext) -> int:
    return 0


def _reshape_infer(ctx: OpContext) -> Shape:
    target = list(ctx.attrs["shape"])
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise OpArgumentError(
            f"reshape sizes must be positive, with at most one -1, got {target}")
    n, known = prod(ctx.in_shape), prod(d for d in target if d != -1)
    if -1 in target:
        if n % known:
            raise ShapeError(
                f"cannot reshape {ctx.in_shape} ({n} elements) to {target}: {n} is not a "
                f"multiple of {known}")
        target[target.index(-1)] = n // known
    elif known != n:
        raise ShapeError(
            f"cannot reshape {ctx.in_shape} ({n} elements) to {target} ({known} elements)")
    return tuple(target)


def _dropout_infer(ctx: OpContext) -> Shape:
    rate = ctx.attrs["rate"]
    if not 0 <= rate < 1:
        raise OpArgumentError(f"dropout rate must be in [0, 1), got {rate}")
    return ctx.in_shape


def _pad_infer(ctx: OpContext) -> Shape:
    c, h, w = feature_map(ctx.in_shape, "zero_pad2d")
    top, bottom, left, right = sides(ctx.attrs["padding"])
    if min(top, bottom, left, right) < 0:
        raise OpArgumentError(f"padding must not be negative, got {ctx.attrs['padding']!r}")
    return (c, h + top + bottom, w + left + right)


def _crop_infer(ctx: OpContext) -> Shape:
    c, h, w = feature_map(ctx.in_shape, "crop2d")
    top, bottom, left, right = sides(ctx.attrs["cropping"])
    if min(top, bottom, left, right) < 0:
        raise OpArgumentError(f"cropping must not be negative, got {ctx.attrs['cropping']!r}")
    oh, ow = h - top - bottom, w - left - right
    if oh <= 0 or ow <= 0:
        raise ShapeError(
            f"cropping {(top, bottom, left, right)} leaves {oh}x{ow} of a {h}x{w} input")
    return (c, oh, ow)


# -- memory --------------------------------------------------------------------------------------

def _flatten_memory(p: Prog) -> Val:
    x = p.inputs[0]
    return x if len(p.ctx.in_shape) == 1 else reshape_memory(p, x, "flatten")


def _dropout_memory(p: Prog) -> Val:
    """Dropout: the input itself at inference (and at rate 0). In training, CUDA's fused
    ``native_dropout`` keeps a bool mask; the CPU, and the in-place ``dropout_`` on both,
    multiply by a mask of the input's dtype (an ``empty_like`` filled and scaled in place),
    which autograd saves."""
    x = p.inputs[0]
    if not p.training or p.ctx.attrs["rate"] == 0:
        return x
    inplace = bool(p.ctx.attrs.get("inplace"))
    if p.device == "cuda" and not inplace:
        y = p.op("native_dropout", [x], [(x.numel, x.dtype), (x.numel, "bool")], save=[1],
                 grad=grads_like(0, label="native_dropout_backward"))
        if not x.requires_grad:
            p.drop(p.last_outputs[1])
        return y
    mask = p.const("empty_like", x.numel, x.dtype)
    if inplace:
        y = p.inplace("mul_", x, [mask], save=[mask], grad=_broadcast_mul_grad)
    else:
        y = mul_memory(p, x, mask, x.numel)
    p.drop(mask)
    return y


def _broadcast_mul_grad(b: Back) -> None:
    g = b.grad(0)
    assert g is not None
    b.give(0, b.op("mul", [(g.numel, g.dtype)])[0])


def _stochastic_depth_memory(p: Prog) -> Val:
    """torchvision's ``stochastic_depth`` (mode "row"): the identity at inference; in training a
    (N, 1, ...) Bernoulli noise (made and scaled in place) times the input, the noise saved."""
    x = p.inputs[0]
    if not p.training or p.ctx.attrs["rate"] == 0:
        return x
    noise = p.const("empty", p.batch, x.dtype)
    y = mul_memory(p, x, p.view(noise), x.numel)
    p.drop(noise)
    return y


def _crop_memory(p: Prog) -> Val:
    """Slices of H then W (each a view, skipped when it keeps everything; its backward allocates
    the unsliced gradient). A cropped map is no longer a plain layout unless the axes before the
    cut one have size 1 (a later flatten copies it)."""
    c, h, w = p.ctx.in_shape
    top, bottom, left, right = sides(p.ctx.attrs["cropping"])
    y = p.inputs[0]
    if top or bottom:
        y = p.view(y, p.numel((c, h - top - bottom, w)), "slice", grad=slice_grad,
                   layout="contiguous" if y.contiguous and c == 1 else "strided")
    if left or right:
        merged = y.contiguous and c == 1 and h - top - bottom == 1
        y = p.view(y, p.out_numel, "slice", grad=slice_grad,
                   layout="contiguous" if merged else "strided")
    return y


def _pad_grad(b: Back) -> None:
    b.give(0, b.like(0, "constant_pad_nd"))


define(OpDef(
    name="flatten",
    doc="(C, H, W) -> (C*H*W,) in C, H, W order (torch's NCHW flatten; a Keras NHWC Flatten "
        "orders the same numbers differently, which does not change any count).",
    family="shape", infer=lambda ctx: (prod(ctx.in_shape),),
    zero_cost="relabels the same elements", fvcore=_zero, connections=_zero,
    memory=_flatten_memory,
))

define(OpDef(
    name="reshape",
    doc="Per-sample reshape to `shape` (one -1 inferred); the element count must match.",
    family="shape", attrs={"shape": Attr("ints", doc="per-sample target shape, one -1 allowed")},
    infer=_reshape_infer,
    zero_cost="relabels the same elements", fvcore=_zero, connections=_zero,
    memory=lambda p: reshape_memory(p, p.inputs[0], "reshape"),
))

define(OpDef(
    name="dropout",
    doc="Dropout: the identity at inference (training-time masking is not counted as "
        "arithmetic; its memory is modelled).",
    family="shape", attrs={"rate": Attr("float", 0.5, "drop probability in [0, 1)"),
                           "inplace": Attr("bool", False, "torch's inplace=True")},
    infer=_dropout_infer,
    zero_cost="the identity at inference", fvcore=_zero, connections=_zero,
    memory=_dropout_memory,
))

define(OpDef(
    name="stochastic_depth",
    doc="Stochastic depth (Huang et al. 2016; torchvision's StochasticDepth(p, 'row'), Keras' "
        "Dropout(noise_shape=(None, 1, 1, 1))): drops whole samples of a residual branch in "
        "training, the identity at inference.",
    family="shape", attrs={"rate": Attr("float", 0.0, "drop probability per sample in [0, 1)")},
    infer=_dropout_infer,
    zero_cost="the identity at inference", fvcore=_zero, connections=_zero,
    memory=_stochastic_depth_memory,
))

define(OpDef(
    name="zero_pad2d",
    doc="Zero padding of H and W (Keras ZeroPadding2D): (C, H + t + b, W + l + r).",
    family="shape",
    attrs={"padding": Attr("sides", doc="p, [ph, pw], [t, b, l, r] or [[t, b], [l, r]]")},
    infer=_pad_infer,
    zero_cost="data movement: writes zeros around a copy", fvcore=_zero, connections=_zero,
    memory=lambda p: p.op("constant_pad_nd", [p.inputs[0]], grad=_pad_grad),
))

define(OpDef(
    name="crop2d",
    doc="Cropping of H and W (Keras Cropping2D): (C, H - t - b, W - l - r).",
    family="shape",
    attrs={"cropping": Attr("sides", doc="c, [ch, cw], [t, b, l, r] or [[t, b], [l, r]]")},
    infer=_crop_infer,
    zero_cost="a view of the input", fvcore=_zero, connections=_zero,
    memory=_crop_memory,
))


# -- pad: constant, reflect or replicate ------------------------------------------------------------

PAD_MODES = ("constant", "reflect", "replicate")


def _general_pad_infer(ctx: OpContext) -> Shape:
    c, h, w = feature_map(ctx.in_shape, "pad")
    top, bottom, left, right = sides(ctx.attrs["padding"])
    if min(top, bottom, left, right) < 0:
        raise OpArgumentError(f"padding must not be negative, got {ctx.attrs['padding']!r}")
    if ctx.attrs["mode"] == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise OpArgumentError(
            f"reflect padding {(top, bottom, left, right)} must be smaller than the input it "
            f"mirrors ({h}x{w}) on every side, as torch requires")
    if ctx.attrs["mode"] != "constant" and ctx.attrs["value"] != 0:
        raise OpArgumentError(f"value is the fill of constant padding; {ctx.attrs['mode']} "
                              f"padding has none")
    return (c, h + top + bottom, w + left + right)


def _general_pad_memory(p: Prog) -> Val:
    """``constant_pad_nd`` (constant: nothing saved), ``reflection_pad2d`` or
    ``replication_pad2d`` (autograd saves the input; the CPU's autocast runs them in float32):
    a new tensor; the backward allocates the unpadded gradient in one call."""
    mode = p.ctx.attrs["mode"]
    if mode == "constant":
        return p.op("constant_pad_nd", [p.inputs[0]], grad=_pad_grad)
    label = f"{'reflection' if mode == 'reflect' else 'replication'}_pad2d"
    x = p.inputs[0]
    (xin,) = p.autocast(label, [x])
    y = p.op(label, [xin], save=[xin], grad=grads_like(0, label=f"{label}_backward"))
    if xin is not x:
        p.drop(xin)
    return y


define(OpDef(
    name="pad",
    doc="Padding of H and W by (t, b, l, r) with a constant (torch.constant_pad_nd, "
        "nn.ConstantPad2d, nn.ZeroPad2d), the mirror image without the edge (mode reflect: "
        "F.pad(mode='reflect'), nn.ReflectionPad2d) or the edge repeated (mode replicate: "
        "nn.ReplicationPad2d): (C, H + t + b, W + l + r), zero cost.",
    family="shape",
    attrs={"padding": Attr("sides", doc="p, [ph, pw], [t, b, l, r] or [[t, b], [l, r]]"),
           "mode": Attr("choice", "constant", "constant, reflect or replicate",
                        choices=PAD_MODES),
           "value": Attr("float", 0.0, "the fill of constant padding")},
    infer=_general_pad_infer,
    zero_cost="data movement: copies the input inside a border", fvcore=_zero,
    connections=_zero,
    memory=_general_pad_memory,
))
