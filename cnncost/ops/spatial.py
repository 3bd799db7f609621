"""Shape arithmetic shared by the operator families. Must not import torch.

Padding modes, window output sizes, adaptive windows and rank checks, written once.
Spatial output, per axis, with input ``i``, kernel ``k``, stride ``s``, dilation ``d`` and
effective kernel ``ke = d*(k-1) + 1``:

- explicit ``(lo, hi)`` padding: ``floor((i + lo + hi - ke) / s) + 1`` (``valid`` is lo = hi = 0);
- ``same`` (TensorFlow): ``o = ceil(i / s)``, total pad ``max((o-1)*s + ke - i, 0)``,
  ``lo = total // 2``, ``hi = total - lo`` (the odd pixel goes bottom / right);
- ``ceil_mode`` (torch pools, explicit padding only): the floor becomes a ceil, then a last window
  that would start in the bottom / right padding is dropped (``(o-1)*s >= i + lo`` -> ``o -= 1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.ops.registry import Shape, pair, positive, sides

#: A normalised padding: ``"same"``, ``"valid"`` or explicit ``(top, bottom, left, right)``.
Padding = str | tuple[int, int, int, int]


def padding(value: Any) -> Padding:
    """``"same"`` / ``"valid"`` (any case), ``p``, ``[ph, pw]``, ``[t, b, l, r]`` or
    ``[[t, b], [l, r]]`` -> ``"same"``, ``"valid"`` or ``(t, b, l, r)``.

    Raises:
        OpArgumentError: an unknown mode, a malformed list or a negative size.
    """
    if isinstance(value, str):
        mode = value.lower()
        if mode not in ("same", "valid"):
            raise OpArgumentError(
                f"padding must be 'same', 'valid' or sizes (p, [ph, pw], [t, b, l, r]), "
                f"got {value!r}")
        return mode
    pads = sides(value)
    if min(pads) < 0:
        raise OpArgumentError(f"padding must not be negative, got {value!r}")
    return pads


def axis_size(i: int, k: int, s: int, d: int, lo: int, hi: int, ceil_mode: bool = False) -> int:
    """Output length along one axis, torch's rule (``pooling_output_shape``); may be <= 0."""
    ke = d * (k - 1) + 1
    span = i + lo + hi - ke
    o = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= i + lo:
        o -= 1  # the last window would start inside the bottom / right padding
    return o


def same_pads(i: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's ``same`` padding along one axis: ``(lo, hi)``, the odd pixel at ``hi``."""
    ke = d * (k - 1) + 1
    o = -(-i // s)
    total = max((o - 1) * s + ke - i, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Window:
    """A sliding window over ``(H, W)``: kernel, stride, dilation and padding, normalised."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: Padding

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Window:
        """Read ``kernel``, ``stride`` (null -> the kernel, as pools do; absent -> 1),
        ``dilation`` (absent -> 1) and ``padding`` (absent -> 0).

        Raises:
            OpArgumentError: a non-positive kernel, stride or dilation; a bad padding.
        """
        kernel = pair(attrs["kernel"])
        stride_raw = attrs.get("stride", 1)
        stride = kernel if stride_raw is None else pair(stride_raw)
        dilation = pair(attrs.get("dilation", 1))
        for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
            for v in value:
                positive(name, v)
        return cls(kernel, stride, dilation, padding(attrs.get("padding", 0)))

    def pads(self, in_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """Explicit ``(top, bottom, left, right)`` padding for an input of ``in_hw``."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            top, bottom = same_pads(in_hw[0], self.kernel[0], self.stride[0], self.dilation[0])
            left, right = same_pads(in_hw[1], self.kernel[1], self.stride[1], self.dilation[1])
            return (top, bottom, left, right)
        assert not isinstance(self.padding, str)
        return self.padding

    def output_hw(self, in_hw: tuple[int, int], ceil_mode: bool = False) -> tuple[int, int]:
        """``(H', W')``; ``ceil_mode`` has no effect with ``same`` (its size is ``ceil(i/s)``).

        Raises:
            ShapeError: an output side is not positive.
        """
        top, bottom, left, right = self.pads(in_hw)
        ceil_mode = ceil_mode and self.padding != "same"
        oh = axis_size(in_hw[0], self.kernel[0], self.stride[0], self.dilation[0], top, bottom,
                       ceil_mode)
        ow = axis_size(in_hw[1], self.kernel[1], self.stride[1], self.dilation[1], left, right,
                       ceil_mode)
        if oh <= 0 or ow <= 0:
            dilated = "" if self.dilation == (1, 1) else f" dilated {_x(self.dilation)}"
            raise ShapeError(
                f"output {oh}x{ow} is not positive: input {_x(in_hw)}, kernel "
                f"{_x(self.kernel)}{dilated}, stride {_x(self.stride)}, padding "
                f"{(top, bottom, left, right)}; use a smaller kernel or pad the input")
        return oh, ow


def adaptive_windows(i: int, o: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows along one axis: ``[floor(j*i/o), ceil((j+1)*i/o))``."""
    return [((j * i) // o, -(-((j + 1) * i) // o)) for j in range(o)]


def feature_map(shape: Shape, op: str) -> tuple[int, int, int]:
    """``(C, H, W)`` from a per-sample shape.

    Raises:
        ShapeError: the shape is not rank 3.
    """
    if len(shape) != 3:
        raise ShapeError(f"{op} expects a (C, H, W) feature map, got shape {shape}")
    return shape[0], shape[1], shape[2]


def channels(shape: Shape, op: str) -> int:
    """The channel count ``shape[0]`` of a tensor of rank >= 1.

    Raises:
        ShapeError: the shape is a scalar.
    """
    if not shape:
        raise ShapeError(f"{op} expects a tensor with a channel axis, got shape {shape}")
    return shape[0]


def _x(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)
