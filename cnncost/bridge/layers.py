"""Torch modules for convolutions, linear layers and pooling where torch has no exact counterpart.

Imports torch. Every module here and in ``cnncost.bridge.pointwise`` is a *leaf*: it owns its
parameters directly (no child modules), so the module tree of ``cnncost.bridge.module`` mirrors the
graph's dotted names exactly. Fused activations are kept as plain (unregistered) attributes for
the same reason; they have no state.

What fvcore and ``FlopCounterMode`` see is part of the contract (``docs/operators.md``): convs are
``aten::_convolution`` / ``aten.convolution``, with padding applied by ``constant_pad_nd`` where
torch's symmetric padding cannot express it (so fvcore still counts the conv), and index / permute
/ pad / slice ops that fvcore ignores are preferred over ones it would report as unsupported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: (left, right, top, bottom), the order F.pad takes for the last two axes.
PadLRTB = tuple[int, int, int, int]


def tf_same_pads(i: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME along one axis, as TensorFlow documents it: output ``ceil(i / s)``; the
    odd pixel of the total padding goes after (bottom / right). Written independently of
    ``cnncost.ops.spatial`` so that the check tests the analytic rule rather than repeating it."""
    out = math.ceil(i / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - i, 0)
    return total // 2, total - total // 2


def pad(x: Tensor, pads: PadLRTB, value: float = 0.0) -> Tensor:
    """Constant padding as ``aten::constant_pad_nd``, which fvcore ignores (``F.pad`` traces as
    ``aten::pad``, which fvcore reports as an unsupported operator)."""
    return torch.constant_pad_nd(x, pads, value)


def set_act(module: nn.Module, act: nn.Module | None) -> None:
    """Attach a fused activation without registering it as a child module."""
    module.__dict__["act"] = act


def apply_act(module: nn.Module, y: Tensor) -> Tensor:
    act = module.__dict__.get("act")
    return y if act is None else act(y)


def _act_repr(module: nn.Module) -> str:
    act = module.__dict__.get("act")
    return "" if act is None else f", act={act}"


# --------------------------------------------------------------------------- convolutions


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` plus an explicit zero pad when the padding is asymmetric, and a fused
    activation. Parameters are ``weight`` [out, C/g, kh, kw] and ``bias`` [out], as torch's."""

    def __init__(self, c_in: int, out: int, kernel: tuple[int, int], *, stride: tuple[int, int],
                 dilation: tuple[int, int], groups: int, bias: bool,
                 pads: tuple[int, int, int, int], act: nn.Module | None = None) -> None:
        top, bottom, left, right = pads
        symmetric = top == bottom and left == right
        super().__init__(c_in, out, kernel, stride, (top, left) if symmetric else 0, dilation,
                         groups, bias)
        self.pre_pad: PadLRTB | None = None if symmetric else (left, right, top, bottom)
        set_act(self, act)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre_pad is not None:
            x = pad(x, self.pre_pad)
        return apply_act(self, super().forward(x))

    def extra_repr(self) -> str:
        pad = f", pre_pad={self.pre_pad}" if self.pre_pad else ""
        return super().extra_repr() + pad + _act_repr(self)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` with a fused activation: ``weight`` [C, out/g, kh, kw], ``bias``
    [out], as torch's."""

    def __init__(self, c_in: int, out: int, kernel: tuple[int, int], *, stride: tuple[int, int],
                 padding: tuple[int, int], output_padding: tuple[int, int],
                 dilation: tuple[int, int], groups: int, bias: bool,
                 act: nn.Module | None = None) -> None:
        super().__init__(c_in, out, kernel, stride, padding, output_padding, groups, bias,
                         dilation)
        set_act(self, act)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        return apply_act(self, super().forward(x, output_size))

    def extra_repr(self) -> str:
        return super().extra_repr() + _act_repr(self)


def _conv_weight(shape: Sequence[int]) -> nn.Parameter:
    """A conv weight initialised as torch initialises nn.Conv2d (kaiming uniform, a = sqrt(5))."""
    weight = nn.Parameter(torch.empty(*shape))
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return weight


def _conv_bias(out: int, fan_in: int) -> nn.Parameter:
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return nn.Parameter(torch.empty(out).uniform_(-bound, bound))


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D: depthwise ``depthwise_weight`` [C*m, 1, kh, kw] without bias
    (stride, padding and dilation apply here), then pointwise ``pointwise_weight`` [out, C*m, 1, 1]
    with ``bias`` [out]; no activation between the two."""

    def __init__(self, c_in: int, out: int, kernel: tuple[int, int], *, multiplier: int,
                 stride: tuple[int, int], dilation: tuple[int, int], bias: bool,
                 pads: tuple[int, int, int, int], act: nn.Module | None = None) -> None:
        super().__init__()
        self.c_in, self.stride, self.dilation = c_in, stride, dilation
        top, bottom, left, right = pads
        self.pads: PadLRTB = (left, right, top, bottom)
        self.depthwise_weight = _conv_weight((c_in * multiplier, 1, *kernel))
        self.pointwise_weight = _conv_weight((out, c_in * multiplier, 1, 1))
        self.bias = _conv_bias(out, c_in * multiplier) if bias else None
        set_act(self, act)

    def forward(self, x: Tensor) -> Tensor:
        if any(self.pads):
            x = pad(x, self.pads)
        y = F.conv2d(x, self.depthwise_weight, None, self.stride, 0, self.dilation, self.c_in)
        return apply_act(self, F.conv2d(y, self.pointwise_weight, self.bias))

    def extra_repr(self) -> str:
        return (f"{self.c_in}, {self.pointwise_weight.shape[0]}, "
                f"kernel={tuple(self.depthwise_weight.shape[2:])}, stride={self.stride}, "
                f"pads={self.pads}{_act_repr(self)}")


class TableConv2d(nn.Module):
    """A connection-table conv (LeCun's C3): output map ``o`` convolves only the input maps
    ``table[o]``. Consecutive output maps that read the same inputs share one conv, ``weight{g}``
    [maps, len(row), kh, kw] with ``bias{g}`` [maps] (``weight`` / ``bias`` when there is only one
    group), so parameters are exactly ``sum(len(row)) * kh * kw + out * bias`` and every conv is
    an ``aten::_convolution`` that fvcore counts. Input maps are selected by slicing or indexing,
    which fvcore ignores."""

    def __init__(self, table: Sequence[Sequence[int]], kernel: tuple[int, int], *,
                 stride: tuple[int, int], bias: bool, pads: tuple[int, int, int, int],
                 act: nn.Module | None = None) -> None:
        super().__init__()
        set_act(self, act)
        groups: list[tuple[tuple[int, ...], int]] = []
        for row in table:
            if groups and groups[-1][0] == tuple(row):
                groups[-1] = (groups[-1][0], groups[-1][1] + 1)
            else:
                groups.append((tuple(row), 1))
        self.rows = [row for row, _ in groups]
        self.stride = stride
        top, bottom, left, right = pads
        self.pads: PadLRTB = (left, right, top, bottom)
        self.names = [""] if len(groups) == 1 else [str(g) for g in range(len(groups))]
        for suffix, (row, maps) in zip(self.names, groups):
            self.register_parameter(f"weight{suffix}", _conv_weight((maps, len(row), *kernel)))
            fan_in = len(row) * kernel[0] * kernel[1]
            self.register_parameter(f"bias{suffix}", _conv_bias(maps, fan_in) if bias else None)

    @staticmethod
    def _select(x: Tensor, row: tuple[int, ...]) -> Tensor:
        if list(row) == list(range(row[0], row[0] + len(row))):
            return x[:, row[0]:row[0] + len(row)]
        return x[:, list(row)]

    def forward(self, x: Tensor) -> Tensor:
        if any(self.pads):
            x = pad(x, self.pads)
        outs = [F.conv2d(self._select(x, row), getattr(self, f"weight{suffix}"),
                         getattr(self, f"bias{suffix}"), self.stride)
                for suffix, row in zip(self.names, self.rows)]
        return apply_act(self, outs[0] if len(outs) == 1 else torch.cat(outs, 1))

    def extra_repr(self) -> str:
        return f"groups of identical rows={len(self.rows)}, stride={self.stride}, pads={self.pads}"


class Linear(nn.Linear):
    """``nn.Linear`` with a fused activation."""

    def __init__(self, features: int, out: int, *, bias: bool,
                 act: nn.Module | None = None) -> None:
        super().__init__(features, out, bias)
        set_act(self, act)

    def forward(self, x: Tensor) -> Tensor:
        return apply_act(self, super().forward(x))

    def extra_repr(self) -> str:
        return super().extra_repr() + _act_repr(self)


class RBF(nn.Module):
    """LeCun's Euclidean RBF output ``y_o = sum_f (x_f - c_of)^2``; ``centres`` [out, F] is a
    buffer (fixed by hand, not trained), initialised to random +-1 codes like the paper's
    bitmaps. Broadcast subtract / square / sum: no matmul, so neither fvcore nor
    FlopCounterMode counts it (the catalog's fvcore None, and outside torchvision's convention)."""

    centres: Tensor

    def __init__(self, features: int, out: int) -> None:
        super().__init__()
        self.register_buffer("centres", torch.randint(0, 2, (out, features)).float() * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        return ((x.unsqueeze(1) - self.centres) ** 2).sum(-1)


# --------------------------------------------------------------------------- pooling


def pool_out(i: int, k: int, s: int, lo: int, hi: int, ceil_mode: bool) -> int:
    """torch's ``pooling_output_shape`` with a (lo, hi) padding; ceil mode drops a last window
    that would start inside the hi padding (as torch does)."""
    o = (i + lo + hi - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= i + lo:
        o -= 1
    return o


class Pool2d(nn.Module):
    """Max or average pooling with any (t, b, l, r) padding and torch's ceil mode, for the cases
    ``nn.MaxPool2d`` / ``nn.AvgPool2d`` cannot express (asymmetric or TF ``same`` padding, a pad
    over half the kernel). Max: the input is padded with -inf. Average: windows are summed over a
    zero-padded input and divided by the count of cells torch would count (padding included iff
    ``count_include_pad``; cells past the padding, reached in ceil mode, never), so it equals
    torch's AvgPool2d wherever that one applies."""

    def __init__(self, kind: str, in_hw: tuple[int, int], kernel: tuple[int, int],
                 stride: tuple[int, int], pads: tuple[int, int, int, int], ceil_mode: bool,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        assert kind in ("max", "avg"), kind
        self.kind, self.kernel, self.stride = kind, kernel, stride
        self.count_include_pad = count_include_pad
        top, bottom, left, right = pads
        out = [pool_out(i, k, s, lo, hi, ceil_mode)
               for i, k, s, lo, hi in zip(in_hw, kernel, stride, (top, left), (bottom, right))]
        self.out_hw = (out[0], out[1])
        # windows reach (o-1)*s + k cells of the padded axis; past i + lo + hi is the ceil extension
        reach = [(o - 1) * s + k - i - lo for o, s, k, i, lo in
                 zip(out, stride, kernel, in_hw, (top, left))]
        self.pads: PadLRTB = (left, right, top, bottom)
        self.extended: PadLRTB = (left, max(reach[1], 0), top, max(reach[0], 0))

    def _windows(self, x: Tensor, value: float) -> Tensor:
        left, right, top, bottom = self.pads
        _, ext_right, _, ext_bottom = self.extended
        x = pad(x, (left, min(right, ext_right), top, min(bottom, ext_bottom)), value)
        x = pad(x, (0, max(ext_right - right, 0), 0, max(ext_bottom - bottom, 0)),
                -math.inf if self.kind == "max" else 0.0)
        return x

    def forward(self, x: Tensor) -> Tensor:
        oh, ow = self.out_hw
        if self.kind == "max":
            y = F.max_pool2d(self._windows(x, -math.inf), self.kernel, self.stride)
            return y[..., :oh, :ow]
        sums = F.avg_pool2d(self._windows(x, 0.0), self.kernel, self.stride, divisor_override=1)
        ones = x.new_ones((1, 1, *x.shape[2:]))
        cells = F.avg_pool2d(self._windows(ones, float(self.count_include_pad)), self.kernel,
                             self.stride, divisor_override=1)
        return (sums / cells)[..., :oh, :ow]

    def extra_repr(self) -> str:
        return (f"{self.kind}, kernel={self.kernel}, stride={self.stride}, pads={self.pads}, "
                f"out={self.out_hw}, count_include_pad={self.count_include_pad}")


class GlobalPool(nn.Module):
    """Global average or max pooling, flattened to (N, C) unless ``keepdims``.

    Average: ``adaptive_avg_pool2d(x, 1)`` (fvcore counts the input numel) or, with
    ``torch_op="mean"``, ``x.mean((2, 3))`` as timm's SEModule computes it (fvcore does not count
    aten::mean). Max: ``adaptive_max_pool2d(x, 1)``.
    """

    def __init__(self, kind: str, keepdims: bool, torch_op: str = "adaptive_avg_pool2d") -> None:
        super().__init__()
        self.kind, self.keepdims, self.torch_op = kind, keepdims, torch_op

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "avg" and self.torch_op == "mean":
            y = x.mean((2, 3), keepdim=True)
        else:
            pool = F.adaptive_avg_pool2d if self.kind == "avg" else F.adaptive_max_pool2d
            y = pool(x, 1)
        return y if self.keepdims else y.flatten(1)

    def extra_repr(self) -> str:
        op = f", {self.torch_op}" if self.kind == "avg" else ""
        return f"{self.kind}, keepdims={self.keepdims}{op}"
