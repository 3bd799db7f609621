"""Resampling: upsample (nn.Upsample / F.interpolate, nearest and bilinear). Must not import torch.

Output size per axis: ``size``, or ``floor(i · scale)`` (torch's rule for a scale factor). Every
output element is computed once:

- ``nearest`` copies the input element at ``floor(j · i / o)`` (with a scale factor, at
  ``floor(j / scale)``): no arithmetic (data movement);
- ``bilinear`` blends the four nearest input elements as PyTorch's CPU and CUDA kernels write it,
  ``h0·(w0·a + w1·b) + h1·(w0·c + w1·d)``: 6 multiplies and 3 adds per output element. The
  source indices and weights depend on the output row or column only (``align_corners`` changes
  them, not their number) and are computed once per row and per column of a call, not per
  element or sample: they are not counted.

fvcore's handles count ``n`` for ``aten::upsample_nearest2d`` and ``4n`` for
``aten::upsample_bilinear2d`` (one per input tap); FlopCounterMode has no formula for either
(and torchvision's convention counts conv and linear layers only).
"""

from __future__ import annotations

import math

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.memory.program import Prog, Val, grads_like
from cnncost.ops.kinds import define
from cnncost.ops.registry import Arithmetic, Attr, OpContext, OpDef, Shape, pair
from cnncost.ops.spatial import feature_map

UPSAMPLE_MODES = ("nearest", "bilinear")

#: Per output element: cnncost (6 multiplies + 3 adds for bilinear) and fvcore's handles.
_COST = {"nearest": 0, "bilinear": 9}
_FVCORE = {"nearest": 1, "bilinear": 4}


def _scales(value: object) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    assert isinstance(value, (list, tuple))
    if len(value) == 1:
        return (float(value[0]), float(value[0]))
    if len(value) != 2:
        raise OpArgumentError(f"scale must be one factor or [height, width], got {value!r}")
    return (float(value[0]), float(value[1]))


def _infer(ctx: OpContext) -> Shape:
    c, h, w = feature_map(ctx.in_shape, "upsample")
    size, scale = ctx.attrs["size"], ctx.attrs["scale"]
    if (size is None) == (scale is None):
        raise OpArgumentError("give exactly one of size (the output [height, width]) and scale "
                              "(a factor, or [height, width] factors)")
    if ctx.attrs["align_corners"] and ctx.attrs["mode"] == "nearest":
        raise OpArgumentError("align_corners applies to bilinear interpolation only, as torch "
                              "requires; nearest has no corners to align")
    if size is not None:
        oh, ow = pair(size)
        if oh <= 0 or ow <= 0:
            raise OpArgumentError(f"size must be positive, got {[oh, ow]}")
        return (c, oh, ow)
    sh, sw = _scales(scale)
    if sh <= 0 or sw <= 0:
        raise OpArgumentError(f"scale must be positive, got {[sh, sw]}")
    oh, ow = math.floor(float(h) * sh), math.floor(float(w) * sw)
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"scale {[sh, sw]} maps the {h}x{w} input to {oh}x{ow}; the output must "
                         f"be at least 1x1")
    return (c, oh, ow)


def _memory(p: Prog) -> Val:
    """``upsample_nearest2d`` / ``upsample_bilinear2d``: one new tensor, nothing saved (CUDA's
    autocast runs both in float32: the cast dies when the call returns); the backward allocates
    the input's gradient in one call."""
    label = f"upsample_{p.ctx.attrs['mode']}2d"
    x = p.inputs[0]
    (xin,) = p.autocast(label, [x])
    y = p.op(label, [xin], grad=grads_like(0, label=f"{label}_backward"))
    if xin is not x:
        p.drop(xin)
    return y


define(OpDef(
    name="upsample",
    doc="Resizing of H and W to a size or by a scale factor (nn.Upsample, F.interpolate), "
        "nearest or bilinear (with or without align_corners): other 0 for nearest (a copy), "
        "9*n for bilinear (6 multiplies + 3 adds per output element; the per-row and "
        "per-column weights are not counted). fvcore counts n (nearest) or 4*n (bilinear); "
        "FlopCounterMode nothing.",
    family="resample",
    attrs={"size": Attr("pair", None, "output size s or [height, width]"),
           "scale": Attr("floats", None, "scale factor s or [sh, sw]: output floor(i * s)"),
           "mode": Attr("choice", "nearest", "nearest or bilinear", choices=UPSAMPLE_MODES),
           "align_corners": Attr("bool", False, "bilinear only: torch's align_corners=True")},
    infer=_infer,
    arithmetic=lambda ctx: Arithmetic(0, ctx.out_numel * _COST[ctx.attrs["mode"]]),
    fvcore=lambda ctx: ctx.out_numel * _FVCORE[ctx.attrs["mode"]],
    connections=None,
    memory=_memory,
))
