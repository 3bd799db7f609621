"""Torch modules for normalisation, preprocessing, element-wise, shape and activation operators.

Imports torch. Leaves without child modules, like ``cnncost.bridge.layers``. Batch-norm is
``aten::batch_norm`` with ``weight`` / ``bias`` None where absent (what fvcore's handle reads as
'no affine'), layer-norm is ``aten::layer_norm`` over a channels-last permutation; constants of
preprocessing layers are plain attributes, never buffers, so that buffers are exactly the
non-trainable parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnncost.bridge.layers import PadLRTB, pad

# --------------------------------------------------------------------------- normalisation


def _per_channel(t: Tensor, rank: int) -> Tensor:
    """A [C] tensor viewed to broadcast over (N, C, ...) of ``rank`` dimensions."""
    return t.view(1, -1, *([1] * (rank - 2)))


class BatchNorm(nn.Module):
    """Batch normalisation with independent ``center`` / ``scale``: ``weight`` (scale) and ``bias``
    (center) are parameters or None, ``running_mean`` / ``running_var`` are buffers, and
    ``num_batches_tracked`` one too with ``counter`` (torch's BatchNorm2d has it; Keras has none). ``F.batch_norm`` with a None weight is what fvcore's handle reads as
    'no affine' (numel x 1 instead of x 2). Any rank (N, C, ...)."""

    running_mean: Tensor
    running_var: Tensor

    def __init__(self, channels: int, *, eps: float, center: bool, scale: bool,
                 momentum: float = 0.1, counter: bool = False) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels)) if scale else None
        self.bias = nn.Parameter(torch.zeros(channels)) if center else None
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        if counter:  # as torch's BatchNorm2d: a step counter, incremented in training
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        counter = getattr(self, "num_batches_tracked", None)
        if self.training and counter is not None:
            counter.add_(1)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.running_mean.shape[0]}, eps={self.eps}, scale={self.weight is not None}, "
                f"center={self.bias is not None}")


class ChannelLayerNorm(nn.Module):
    """Layer normalisation over the channel axis at each position (Keras
    ``LayerNormalization(axis=-1)`` on NHWC): a permute to channels-last, ``F.layer_norm`` over
    (C,), and back; with ``channels_last``, ``F.layer_norm`` over the last axis (torch's
    ``nn.LayerNorm(C)`` on (N, H, W, C)). fvcore counts numel x 5 with a weight, x 4 without."""

    def __init__(self, channels: int, *, eps: float, center: bool, scale: bool,
                 channels_last: bool = False) -> None:
        super().__init__()
        self.channels, self.eps, self.channels_last = channels, eps, channels_last
        self.weight = nn.Parameter(torch.ones(channels)) if scale else None
        self.bias = nn.Parameter(torch.zeros(channels)) if center else None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2 or self.channels_last:
            return F.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)
        last = (0, *range(2, x.dim()), 1)
        back = (0, x.dim() - 1, *range(1, x.dim() - 1))
        y = F.layer_norm(x.permute(last), (self.channels,), self.weight, self.bias, self.eps)
        return y.permute(back)


class LocalResponseNorm(nn.LocalResponseNorm):
    """torch's LocalResponseNorm, also for (N, C) inputs (torch needs 3 dimensions), and in half
    precision on the CPU, whose avg_pool3d has no bfloat16 / float16 kernel (computed in float32
    there, rounded back; CUDA runs it in the tensor's own dtype)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16):
            return self._norm(x.float()).to(x.dtype)
        return self._norm(x)

    def _norm(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return super().forward(x.unsqueeze(-1)).squeeze(-1)
        return super().forward(x)


class Affine(nn.Module):
    """Per-channel ``x * weight + bias`` (LeNet's trainable subsampling coefficient and bias)."""

    def __init__(self, channels: int, *, scale: bool, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels)) if scale else None
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.weight is not None:
            x = x * _per_channel(self.weight, x.dim())
        if self.bias is not None:
            x = x + _per_channel(self.bias, x.dim())
        return x


class Normalization(nn.Module):
    """Keras Normalization over the channel axis: ``(x - mean) / max(sqrt(variance), 1e-7)``;
    ``mean``, ``variance`` [C] and ``count`` (a scalar) are buffers, as Keras' non-trainable
    weights."""

    mean: Tensor
    variance: Tensor
    count: Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("variance", torch.ones(channels))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def forward(self, x: Tensor) -> Tensor:
        std = torch.sqrt(self.variance).clamp_min(1e-7)
        return (x - _per_channel(self.mean, x.dim())) / _per_channel(std, x.dim())


class Rescaling(nn.Module):
    """Keras Rescaling ``x * scale + offset``, one value or one per channel (no parameters: the
    constants are plain attributes, not buffers). A zero offset is not added."""

    def __init__(self, scale: Sequence[float], offset: Sequence[float]) -> None:
        super().__init__()
        self.scale, self.offset = list(scale), list(offset)

    def _const(self, values: list[float], x: Tensor) -> Tensor | float:
        return values[0] if len(values) == 1 else _per_channel(x.new_tensor(values), x.dim())

    def forward(self, x: Tensor) -> Tensor:
        y = x * self._const(self.scale, x)
        return y + self._const(self.offset, x) if any(self.offset) else y

    def extra_repr(self) -> str:
        return f"scale={self.scale}, offset={self.offset}"


# --------------------------------------------------------------------------- element-wise


class Add(nn.Module):
    """``sum_i s_i * x_i`` over inputs of one shape; a coefficient of 1 is not multiplied. With
    ``inplace``, the sum is accumulated into the first input (``x0.add_(x, alpha=s)``, as
    torchvision's ``out += identity``; the first coefficient must be 1)."""

    def __init__(self, scales: Sequence[float], inplace: bool = False) -> None:
        super().__init__()
        self.scales, self.inplace = list(scales), inplace

    def forward(self, *xs: Tensor) -> Tensor:
        scales = self.scales or [1.0] * len(xs)
        if self.inplace:
            out = xs[0]
            for x, s in zip(xs[1:], scales[1:]):
                out = out.add_(x, alpha=s)
            return out
        out = xs[0] if scales[0] == 1 else xs[0] * scales[0]
        for x, s in zip(xs[1:], scales[1:]):
            out = out + (x if s == 1 else x * s)
        return out

    def extra_repr(self) -> str:
        return f"scales={self.scales}, inplace={self.inplace}" if self.inplace else ""


class Multiply(nn.Module):
    """Element-wise product; a (N, C) gate broadcasts over (N, C, H, W)."""

    def forward(self, *xs: Tensor) -> Tensor:
        rank = max(x.dim() for x in xs)
        out = None
        for x in xs:
            x = x.view(*x.shape, *([1] * (rank - x.dim())))
            out = x if out is None else out * x
        assert out is not None
        return out


class Concat(nn.Module):
    """Concatenation along a per-sample axis (0 = channels, i.e. dim 1)."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, self.axis + 1)


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


class ChannelShuffle(nn.Module):
    """ShuffleNet's shuffle as view / transpose / reshape (ops fvcore ignores)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        n, c, *rest = x.shape
        y = x.view(n, self.groups, c // self.groups, *rest).transpose(1, 2)
        return y.reshape(n, c, *rest)


class StochasticDepth(nn.Module):
    """torchvision's ``stochastic_depth(x, p, "row", training)``: per sample, zero the input
    with probability p and scale the rest by 1 / (1 - p), in training; the identity otherwise."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        survival = 1.0 - self.rate
        noise = x.new_empty([x.shape[0]] + [1] * (x.dim() - 1)).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class Reshape(nn.Module):
    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)


class ZeroPad2d(nn.Module):
    """Keras ZeroPadding2D, (t, b, l, r) zeros around H and W."""

    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        top, bottom, left, right = padding
        self.pads: PadLRTB = (left, right, top, bottom)

    def forward(self, x: Tensor) -> Tensor:
        return pad(x, self.pads)

    def extra_repr(self) -> str:
        return f"pads={self.pads}"


class Crop2d(nn.Module):
    """Keras Cropping2D as slices of H then W whose bounds are fixed for the input size when
    built: a trace holds only ``aten::slice`` (fvcore ignores it), no shape arithmetic
    (``x.shape[-2] - bottom`` traces as ``aten::sub``, which fvcore reports unsupported)."""

    def __init__(self, cropping: tuple[int, int, int, int], in_hw: tuple[int, int]) -> None:
        super().__init__()
        top, bottom, left, right = cropping
        self.rows, self.cols = (top, in_hw[0] - bottom), (left, in_hw[1] - right)

    def forward(self, x: Tensor) -> Tensor:
        return x[..., self.rows[0]:self.rows[1], self.cols[0]:self.cols[1]]

    def extra_repr(self) -> str:
        return f"rows={self.rows}, cols={self.cols}"


# --------------------------------------------------------------------------- activations


class ScaledTanh(nn.Module):
    """LeCun's ``A * tanh(S * x)``."""

    def __init__(self, amplitude: float, slope: float) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: Tensor) -> Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope}"


#: Keyword arguments are the operator's attributes (``inplace`` where torch has it).
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "relu": lambda inplace=False: nn.ReLU(inplace),
    "relu6": lambda inplace=False: nn.ReLU6(inplace),
    "leaky_relu": lambda alpha=0.01, inplace=False: nn.LeakyReLU(alpha, inplace),
    "sigmoid": lambda: nn.Sigmoid(),
    "hard_sigmoid": lambda inplace=False: nn.Hardsigmoid(inplace),
    "tanh": lambda: nn.Tanh(),
    "scaled_tanh": lambda amplitude=1.7159, slope=0.6667: ScaledTanh(amplitude, slope),
    "swish": lambda inplace=False: nn.SiLU(inplace),
    "hard_swish": lambda inplace=False: nn.Hardswish(inplace),
    "gelu": lambda approximate="none": nn.GELU(approximate=approximate),
    "softmax": lambda: nn.Softmax(dim=1),  # over channels: axis 0 per sample
}
