"""Pooling: max / average windows, global and adaptive pools, means. Must not import torch.

Window output sizes follow conv with dilation 1 (``cnncost.ops.spatial``); ``stride`` null means
the kernel; ``ceil_mode`` is torch's rule. Every window is costed at its full ``kh*kw`` area, even
where it overlaps padding or runs past the input in ceil mode (as conv MACs count padded taps).
torch's limit ``padding <= kernel / 2`` is not enforced (a bridge pads explicitly); ``ceil_mode``
has no effect with ``same``, whose size is ``ceil(i / s)`` by definition.
"""

from __future__ import annotations

from collections.abc import Callable

from cnncost.errors import OpArgumentError
from cnncost.memory.program import Back, Prog, Val, div_memory, grads_like, slice_grad
from cnncost.ops.kinds import define
from cnncost.ops.registry import Arithmetic, Attr, OpContext, OpDef, Shape, pair, positive
from cnncost.ops.spatial import Window, adaptive_windows, feature_map

_WINDOW_ATTRS = {
    "kernel": Attr("pair", doc="window size k or [kh, kw]"),
    "stride": Attr("pair", None, "stride; null means the kernel size"),
    "padding": Attr("padding", 0, "'same' (TensorFlow rule), 'valid', p, [ph, pw] or [t, b, l, r]"),
    "ceil_mode": Attr("bool", False, "torch ceil_mode (explicit / valid padding only)"),
}
_KEEPDIMS = Attr("bool", False, "keep (C, 1, 1) instead of (C,)")


def _window_infer(op: str) -> Callable[[OpContext], Shape]:
    def infer(ctx: OpContext) -> Shape:
        c, h, w = feature_map(ctx.in_shape, op)
        return (c, *Window.from_attrs(ctx.attrs).output_hw((h, w), ctx.attrs["ceil_mode"]))
    return infer


def _area(ctx: OpContext) -> int:
    kh, kw = pair(ctx.attrs["kernel"])
    return kh * kw


# -- memory: torch's pools where they apply, the bridge's padded Pool2d elsewhere ---------------

def _native_pads(ctx: OpContext) -> tuple[int, int] | None:
    """(ph, pw) when torch's pools pad natively (symmetric, at most half the kernel, not TF
    ``same``): the bridge's rule (``cnncost.bridge.builders._native_pads``)."""
    if ctx.attrs["padding"] == "same":
        return None
    window = Window.from_attrs(ctx.attrs)
    top, bottom, left, right = window.pads(ctx.in_shape[1:])
    kh, kw = window.kernel
    if top == bottom and left == right and 2 * top <= kh and 2 * left <= kw:
        return top, left
    return None


def _max_pool(p: Prog, x: Val, out_numel: int) -> Val:
    """``max_pool2d_with_indices`` (what eager PyTorch calls on CUDA even at inference): the
    int64 indices die at once at inference and are saved with the input in training."""
    y = p.op("max_pool2d_with_indices", [x], [(out_numel, x.dtype), (out_numel, "int64")],
             save=[x, 1], grad=grads_like(0, label="max_pool2d_with_indices_backward"))
    if not p.training:
        p.drop(p.last_outputs[1])
    return y


def _avg_pool(p: Prog, x: Val, out_numel: int) -> Val:
    return p.op("avg_pool2d", [x], [(out_numel, x.dtype)], save=[x],
                grad=grads_like(0, label="avg_pool2d_backward"))


def _window_memory(kind: str):  # type: ignore[no-untyped-def]
    def rule(p: Prog) -> Val:
        x = p.inputs[0]
        if _native_pads(p.ctx) is not None:
            return (_max_pool if kind == "max" else _avg_pool)(p, x, p.out_numel)
        return _general_pool(p, kind, x)
    return rule


def _general_pool(p: Prog, kind: str, x: Val) -> Val:
    """The bridge's ``Pool2d``: two pads (the padding, then the ceil-mode extension; each a new
    tensor even when empty), the pool, and slices back to the output size (views, skipped when
    they keep everything). Average pooling divides window sums by the counted cells of a padded
    (1, 1, H, W) tensor of ones."""
    c, h, w = p.ctx.in_shape
    window = Window.from_attrs(p.ctx.attrs)
    top, bottom, left, right = window.pads((h, w))
    (kh, kw), (sh, sw) = window.kernel, window.stride
    oh, ow = p.ctx.out_shape[1:]
    ceil = p.ctx.attrs["ceil_mode"] and p.ctx.attrs["padding"] != "same"
    full = [_pool_out(i, k, s, lo, hi, ceil) for i, k, s, lo, hi in
            ((h, kh, sh, top, bottom), (w, kw, sw, left, right))]
    reach = [(o - 1) * s + k - i - lo for o, s, k, i, lo in
             zip(full, (sh, sw), (kh, kw), (h, w), (top, left))]
    first = (h + top + min(bottom, max(reach[0], 0)), w + left + min(right, max(reach[1], 0)))
    second = (first[0] + max(reach[0] - bottom, 0), first[1] + max(reach[1] - right, 0))
    pooled = p.numel((c, full[0], full[1]))

    def windows(t: Val, per: int, label: str) -> Val:
        a = p.op(label, [t], [(per * first[0] * first[1], t.dtype)], grad=grads_like(0))
        b = p.op(label, [a], [(per * second[0] * second[1], t.dtype)], grad=grads_like(0))
        p.drop(a)
        return b

    if kind == "max":
        padded = windows(x, p.batch * c, "constant_pad_nd")
        y = _max_pool(p, padded, pooled)
        p.drop(padded)
    else:
        padded = windows(x, p.batch * c, "constant_pad_nd")
        sums = _avg_pool(p, padded, pooled)
        p.drop(padded)
        ones = p.const("new_ones", h * w, x.dtype)
        ones_padded = windows(ones, 1, "constant_pad_nd")
        cells = p.op("avg_pool2d", [ones_padded], [(full[0] * full[1], x.dtype)])
        p.drop(ones_padded)
        y = div_memory(p, sums, cells, pooled)
        p.drop(sums)
    if oh < full[0]:
        y = p.view(y, p.numel((c, oh, full[1])), "slice", grad=slice_grad)
    if ow < full[1]:
        y = p.view(y, p.numel((c, oh, ow)), "slice", grad=slice_grad)
    return y


def _pool_out(i: int, k: int, s: int, lo: int, hi: int, ceil_mode: bool) -> int:
    o = (i + lo + hi - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= i + lo:
        o -= 1
    return o


def _mean_grad(b: Back) -> None:
    """``mean``'s backward: ``grad.expand(sizes) / count``, a new tensor of the input's size."""
    b.give(0, b.like(0, "div"))


def _global_memory(kind: str):  # type: ignore[no-untyped-def]
    def rule(p: Prog) -> Val:
        x = p.inputs[0]
        n = p.numel((p.ctx.in_shape[0],))
        if kind == "avg":
            y = p.op("mean", [x], [(n, x.dtype)], grad=_mean_grad)
        else:
            y = p.op("adaptive_max_pool2d", [x], [(n, x.dtype), (n, "int64")], save=[x, 1],
                     grad=grads_like(0, label="adaptive_max_pool2d_backward"))
            if not p.training:
                p.drop(p.last_outputs[1])
        return y if p.ctx.attrs["keepdims"] else p.view(y, label="flatten")
    return rule


def _adaptive_memory(p: Prog) -> Val:
    x = p.inputs[0]
    if pair(p.ctx.attrs["size"]) == (1, 1):  # torch computes it as a mean
        return p.op("mean", [x], [(p.out_numel, x.dtype)], grad=_mean_grad)
    return p.op("_adaptive_avg_pool2d", [x], [(p.out_numel, x.dtype)], save=[x],
                grad=grads_like(0, label="_adaptive_avg_pool2d_backward"))


define(OpDef(
    name="max_pool2d",
    doc="Max pooling over kh x kw windows: no params; other n*(kh*kw - 1) compares; "
        "connections n*kh*kw. Padding never wins the max. fvcore does not count it.",
    family="pool",
    attrs=_WINDOW_ATTRS,
    infer=_window_infer("max_pool2d"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel * (_area(ctx) - 1)),
    fvcore=None,
    connections=lambda ctx: ctx.out_numel * _area(ctx),
    memory=_window_memory("max"),
))

define(OpDef(
    name="avg_pool2d",
    doc="Average pooling over kh x kw windows: no params; other n*kh*kw (kh*kw - 1 adds and 1 "
        "divide); connections n*kh*kw. count_include_pad changes only the divisor, not the "
        "count. fvcore does not count it.",
    family="pool",
    attrs={**_WINDOW_ATTRS,
           "count_include_pad": Attr("bool", True, "divide by kh*kw even where padded")},
    infer=_window_infer("avg_pool2d"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel * _area(ctx)),
    fvcore=None,
    connections=lambda ctx: ctx.out_numel * _area(ctx),
    memory=_window_memory("avg"),
))


def _global_infer(op: str) -> Callable[[OpContext], Shape]:
    def infer(ctx: OpContext) -> Shape:
        c = feature_map(ctx.in_shape, op)[0]
        return (c, 1, 1) if ctx.attrs["keepdims"] else (c,)
    return infer


#: How a model computes a global average: the arithmetic is the same, what fvcore sees is not.
GLOBAL_AVG_TORCH_OPS = ("adaptive_avg_pool2d", "mean")


def _global_avg_fvcore(ctx: OpContext) -> int | None:
    # fvcore has a handle for aten::adaptive_avg_pool2d (N_in), none for aten::mean
    return ctx.in_numel if ctx.attrs["torch_op"] == "adaptive_avg_pool2d" else None


define(OpDef(
    name="global_avg_pool",
    doc="Mean over H x W per channel, (C, H, W) -> (C,) or (C, 1, 1): other N_in (adds and "
        "one divide per channel, rounded to one per element). torch_op names how the modelled "
        "network computes it: adaptive_avg_pool2d (AdaptiveAvgPool2d(1), torchvision's; also what "
        "the bridge builds for Keras' GlobalAveragePooling2D; fvcore counts N_in) or mean "
        "(x.mean((2, 3)), timm's SEModule; fvcore does not count it).",
    family="pool",
    attrs={"keepdims": _KEEPDIMS,
           "torch_op": Attr("choice", "adaptive_avg_pool2d",
                            "the torch op of the modelled network (what fvcore counts)",
                            choices=GLOBAL_AVG_TORCH_OPS)},
    infer=_global_infer("global_avg_pool"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel),
    fvcore=_global_avg_fvcore,
    connections=None,
    memory=_global_memory("avg"),
))

define(OpDef(
    name="global_max_pool",
    doc="Max over H x W per channel, (C, H, W) -> (C,) or (C, 1, 1): other N_in - C compares. "
        "fvcore does not count it.",
    family="pool",
    attrs={"keepdims": _KEEPDIMS},
    infer=_global_infer("global_max_pool"),
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel - ctx.in_shape[0]),
    fvcore=None,
    connections=None,
    memory=_global_memory("max"),
))


# -- adaptive_avg_pool2d: torch's windows [floor(j*i/o), ceil((j+1)*i/o)) per axis ------------

def _adaptive_infer(ctx: OpContext) -> Shape:
    c = feature_map(ctx.in_shape, "adaptive_avg_pool2d")[0]
    oh, ow = pair(ctx.attrs["size"])
    positive("size", oh)
    positive("size", ow)
    return (c, oh, ow)  # o > i is legal, as in torch (overlapping windows)


def _adaptive_arithmetic(ctx: OpContext) -> Arithmetic:
    c, h, w = ctx.in_shape
    oh, ow = ctx.out_shape[1], ctx.out_shape[2]
    rows = sum(end - start for start, end in adaptive_windows(h, oh))
    cols = sum(end - start for start, end in adaptive_windows(w, ow))
    return Arithmetic(0, c * rows * cols)  # sum of window areas = (sum of heights)(sum of widths)


define(OpDef(
    name="adaptive_avg_pool2d",
    doc="torch AdaptiveAvgPool2d to size (oh, ow), windows [floor(j*i/o), ceil((j+1)*i/o)) per "
        "axis: other C*sum of window areas (adds and one divide per window, rounded to one per "
        "element read). fvcore counts N_in.",
    family="pool",
    attrs={"size": Attr("pair", doc="output size o or [oh, ow]")},
    infer=_adaptive_infer,
    arithmetic=_adaptive_arithmetic,
    fvcore=lambda ctx: ctx.in_numel,
    connections=None,
    memory=_adaptive_memory,
))


# -- mean over chosen per-sample axes ---------------------------------------------------------

def _mean_axes(ctx: OpContext) -> tuple[int, ...]:
    rank, axes = len(ctx.in_shape), tuple(ctx.attrs["axes"])
    if not axes or len(set(axes)) != len(axes) or any(not 0 <= a < rank for a in axes):
        raise OpArgumentError(
            f"axes must name distinct per-sample axes in [0, {rank}) (0 = channels, torch's "
            f"dim=1; no negative axes), got {list(axes)}")
    return axes


def _mean_infer(ctx: OpContext) -> Shape:
    axes, keep = _mean_axes(ctx), ctx.attrs["keepdims"]
    return tuple(1 if i in axes else d for i, d in enumerate(ctx.in_shape)
                 if keep or i not in axes)


define(OpDef(
    name="mean",
    doc="Mean over chosen per-sample axes (x.mean(dims, keepdim)), e.g. [1, 2] for the spatial "
        "mean of a (C, H, W) map: other N_in (the adds and one divide per output, rounded to "
        "one per element read). fvcore has no handle for aten::mean (it does not count it).",
    family="pool",
    attrs={"axes": Attr("ints", doc="per-sample axes to average over, 0 = channels"),
           "keepdims": Attr("bool", False, "keep each reduced axis with size 1")},
    infer=_mean_infer,
    arithmetic=lambda ctx: Arithmetic(0, ctx.in_numel),
    fvcore=None,
    connections=None,
    memory=lambda p: p.op("mean", [p.inputs[0]], grad=_mean_grad),
))
