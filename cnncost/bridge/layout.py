"""Torch modules for views, padding, resampling, means and layer scale. Imports torch.

Leaves without child modules, like ``cnncost.bridge.layers``. Each calls what a PyTorch model
writes for the operator (``torch.chunk``, ``torch.split``, ``Tensor.narrow``, ``permute``,
``transpose``, ``F.pad``, ``F.interpolate``, ``Tensor.mean``, ``gamma * x``), with per-sample axes
shifted by one for the batch; the sizes each needs are fixed when it is built, so a trace sees no
shape arithmetic (fvcore would report ``aten::sub`` as an unsupported operator).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnncost.bridge.layers import pad


class Slice(nn.Module):
    """``x.narrow(axis + 1, start, length)``: a view."""

    def __init__(self, axis: int, start: int, length: int) -> None:
        super().__init__()
        self.axis, self.start, self.length = axis, start, length

    def forward(self, x: Tensor) -> Tensor:
        return x.narrow(self.axis + 1, self.start, self.length)

    def extra_repr(self) -> str:
        return f"axis={self.axis}, start={self.start}, length={self.length}"


class Split(nn.Module):
    """``torch.split(x, sizes, axis + 1)[index]``: one of the views."""

    def __init__(self, sizes: Sequence[int], index: int, axis: int) -> None:
        super().__init__()
        self.sizes, self.index, self.axis = list(sizes), index, axis

    def forward(self, x: Tensor) -> Tensor:
        return torch.split(x, self.sizes, self.axis + 1)[self.index]

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, index={self.index}, axis={self.axis}"


class Chunk(nn.Module):
    """``torch.chunk(x, chunks, axis + 1)[index]``: one of the views."""

    def __init__(self, chunks: int, index: int, axis: int) -> None:
        super().__init__()
        self.chunks, self.index, self.axis = chunks, index, axis

    def forward(self, x: Tensor) -> Tensor:
        return torch.chunk(x, self.chunks, self.axis + 1)[self.index]

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, index={self.index}, axis={self.axis}"


class Permute(nn.Module):
    """``x.permute(0, *[d + 1 for d in dims])`` (torchvision's ``ops.Permute``)."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = [0, *(d + 1 for d in dims)]

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Transpose(nn.Module):
    """``x.transpose(a + 1, b + 1)``."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.a, self.b = dims[0] + 1, dims[1] + 1

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(self.a, self.b)

    def extra_repr(self) -> str:
        return f"{self.a}, {self.b}"


class Pad(nn.Module):
    """(t, b, l, r) padding: ``constant_pad_nd`` for a constant (an op fvcore ignores), else
    ``F.pad(mode=...)`` (reflect, replicate; fvcore reports it unsupported and counts 0)."""

    def __init__(self, padding: tuple[int, int, int, int], mode: str, value: float) -> None:
        super().__init__()
        top, bottom, left, right = padding
        self.pads = (left, right, top, bottom)
        self.mode, self.value = mode, value

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "constant":
            return pad(x, self.pads, self.value)
        return F.pad(x, self.pads, mode=self.mode)

    def extra_repr(self) -> str:
        return f"pads={self.pads}, mode={self.mode}" + (
            f", value={self.value}" if self.mode == "constant" else "")


class Upsample(nn.Upsample):
    """``nn.Upsample`` (``F.interpolate``) to a size or by a scale factor; ``align_corners`` is
    passed for bilinear only (torch refuses it for nearest)."""

    def __init__(self, size: tuple[int, int] | None, scale: Sequence[float] | None, mode: str,
                 align_corners: bool) -> None:
        factor: float | tuple[float, ...] | None = None
        if scale is not None:
            factor = scale[0] if len(scale) == 1 else tuple(scale)
        super().__init__(size=size, scale_factor=factor, mode=mode,
                         align_corners=align_corners if mode == "bilinear" else None)


class Mean(nn.Module):
    """``x.mean(dims, keepdim)`` over per-sample axes."""

    def __init__(self, axes: Sequence[int], keepdims: bool) -> None:
        super().__init__()
        self.dims, self.keepdims = [a + 1 for a in axes], keepdims

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(self.dims, keepdim=self.keepdims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, keepdim={self.keepdims}"


class LayerScale(nn.Module):
    """``weight * x`` with ``weight`` [C, 1, ...] (torchvision's ConvNeXt ``layer_scale``, its
    initial value 1e-6), or with ``vector``, ``x * weight.reshape(C, 1, ...)`` with ``weight``
    [C] (timm's ConvNeXt ``gamma`` and ``LayerScale2d``)."""

    def __init__(self, channels: int, rank: int, init: float = 1e-6,
                 vector: bool = False) -> None:
        super().__init__()
        self.broadcast = (channels, *([1] * (rank - 1)))
        self.vector = vector
        self.weight = nn.Parameter(torch.full((channels,) if vector else self.broadcast, init))

    def forward(self, x: Tensor) -> Tensor:
        if self.vector:
            return x.mul(self.weight.reshape(self.broadcast))
        return self.weight * x
