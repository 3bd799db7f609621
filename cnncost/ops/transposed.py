"""Transposed convolution (conv_transpose2d), family conv. Must not import torch.

torch's ``nn.ConvTranspose2d``: every input element scatters its kernel into the output,
``w: [C, out/g, kh, kw]``. Output per axis, input ``i``, kernel ``k``, stride ``s``, padding
``p`` (rows and columns cut from both sides of the full result), dilation ``d``, output padding
``a`` (rows and columns added after, bottom / right; ``a`` smaller than ``s`` or ``d``)::

    o = (i - 1)·s - 2p + d·(k - 1) + a + 1

MACs count every kernel tap of every input element, ``N_in·(out/g)·kh·kw``, including the taps
that land in the cut padding (PyTorch computes them, then discards them), exactly what fvcore's
``conv_flop_jit`` (``prod(w) · prod(x[2:])`` per sample) and FlopCounterMode's
``conv_flop_count(transposed=True)`` count. Counting the output positions instead
(``n·(C/g)·kh·kw``, a convolution's rule, as some counters do) is wrong by a factor of about
``s²`` for a strided upsampling layer.
"""

from __future__ import annotations

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.memory.program import Prog, Val
from cnncost.ops.activation import check_activation
from cnncost.ops.conv import (
    _ACT,
    _ACT_INPLACE,
    _BIAS,
    _DILATION,
    _KERNEL,
    _OUT,
    _STRIDE,
    convolution_memory,
    fused_act_memory,
)
from cnncost.ops.kinds import define
from cnncost.ops.registry import (
    Arithmetic,
    Attr,
    OpContext,
    OpDef,
    Params,
    Shape,
    pair,
    positive,
)
from cnncost.ops.spatial import feature_map


def transposed_size(i: int, k: int, s: int, p: int, d: int, a: int) -> int:
    """Output length along one axis (torch's ``ConvTranspose2d`` rule); may be <= 0."""
    return (i - 1) * s - 2 * p + d * (k - 1) + a + 1


def _window(ctx: OpContext) -> tuple[tuple[int, int], ...]:
    """(kernel, stride, padding, dilation, output_padding), checked.

    Raises:
        OpArgumentError: a non-positive kernel, stride or dilation, a negative padding, or an
            output padding not smaller than the stride or the dilation.
    """
    a = ctx.attrs
    kernel, stride, dilation = pair(a["kernel"]), pair(a["stride"]), pair(a["dilation"])
    padding, extra = pair(a["padding"]), pair(a["output_padding"])
    for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        for v in value:
            positive(name, v)
    if min(padding) < 0 or min(extra) < 0:
        raise OpArgumentError(f"padding {list(padding)} and output_padding {list(extra)} must "
                              f"not be negative")
    for axis, (e, s, d) in enumerate(zip(extra, stride, dilation)):
        if e >= s and e >= d:
            raise OpArgumentError(
                f"output_padding {e} ({'height' if axis == 0 else 'width'}) must be smaller "
                f"than the stride ({s}) or the dilation ({d}), as torch requires: it only "
                f"chooses among the input sizes a strided convolution maps to one output size")
    return kernel, stride, padding, dilation, extra


def _infer(ctx: OpContext) -> Shape:
    c, h, w = feature_map(ctx.in_shape, "conv_transpose2d")
    out = positive("out", ctx.attrs["out"])
    groups = positive("groups", ctx.attrs["groups"])
    if c % groups or out % groups:
        raise OpArgumentError(
            f"groups={groups} must divide both the input channels ({c}) and out ({out})")
    check_activation(ctx.attrs.get("act"), ctx.attrs.get("act_inplace", False))
    kernel, stride, padding, dilation, extra = _window(ctx)
    oh, ow = (transposed_size(i, *args) for i, *args in
              zip((h, w), kernel, stride, padding, dilation, extra))
    if oh <= 0 or ow <= 0:
        raise ShapeError(
            f"output {oh}x{ow} is not positive: input {h}x{w}, kernel {list(kernel)}, stride "
            f"{list(stride)}, padding {list(padding)} cuts more than the kernel adds")
    return (out, oh, ow)


def _taps(ctx: OpContext) -> int:
    """Weights per input channel: (out/g)·kh·kw."""
    kh, kw = pair(ctx.attrs["kernel"])
    return ctx.attrs["out"] // ctx.attrs["groups"] * kh * kw


def _params(ctx: OpContext) -> Params:
    return Params(ctx.in_shape[0] * _taps(ctx) + ctx.attrs["out"] * int(ctx.attrs["bias"]))


def _arithmetic(ctx: OpContext) -> Arithmetic:
    return Arithmetic(ctx.in_numel * _taps(ctx), ctx.out_numel * int(ctx.attrs["bias"]))


def _memory(p: Prog) -> Val:
    """``F.conv_transpose2d``: one ``convolution`` (transposed), as a convolution's rule: the
    input and weight saved, every gradient from one ``convolution_backward``."""
    a = p.ctx.attrs
    weight = p.param(p.ctx.in_shape[0] * _taps(p.ctx))
    bias = p.param(a["out"]) if a["bias"] else None
    return fused_act_memory(p, convolution_memory(p, p.inputs[0], weight, bias, p.out_numel))


define(OpDef(
    name="conv_transpose2d",
    doc="Transposed 2-D convolution (nn.ConvTranspose2d), w: [C, out/g, kh, kw]: output "
        "(i-1)*s - 2p + d*(k-1) + output_padding + 1 per axis; params C*(out/g)*kh*kw + "
        "out*bias; macs N_in*(out/g)*kh*kw (every tap of every input element, those landing in "
        "the cut padding included, as fvcore and FlopCounterMode count), other n*bias. The "
        "fused act is costed separately by the engine.",
    family="conv",
    attrs={"out": _OUT, "kernel": _KERNEL, "stride": _STRIDE,
           "padding": Attr("pair", 0, "rows / columns cut from both sides: p or [ph, pw]"),
           "output_padding": Attr("pair", 0, "rows / columns added at the bottom / right, "
                                             "smaller than the stride or the dilation"),
           "dilation": _DILATION,
           "groups": Attr("int", 1, "channel groups g (must divide C and out)"),
           "bias": _BIAS, "act": _ACT, "act_inplace": _ACT_INPLACE},
    infer=_infer, params=_params, arithmetic=_arithmetic, weighted=True,
    fvcore=lambda ctx: _arithmetic(ctx).macs,
    connections=lambda ctx: _arithmetic(ctx).macs + _arithmetic(ctx).other_flops,
    memory=_memory,
))
