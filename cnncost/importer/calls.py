"""What a mapping of the table reads and returns. Must not import torch.

A mapping (``cnncost.importer.table``) is a function ``Call -> list[Emit] | Alias``: it reads the
traced call (its module, its arguments with every tensor replaced by a ``Value``, its output)
and says which cnncost layer(s) it becomes, or that it is its input under another name (a
no-op such as ``contiguous``). It raises ``Unsupported`` with the reason when cnncost has no
operator for what the call does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cnncost.importer.ir import Origin

_MISSING: Any = object()


class Unsupported(Exception):
    """cnncost cannot express this call; the message says why."""


@dataclass(frozen=True)
class Value:
    """A tensor of the traced model: the layer that produces it and its per-sample shape
    (``param`` instead names a parameter or buffer of the model used as a tensor, ``stored``
    its shape as the model holds it, before any reshape)."""

    node: str
    shape: tuple[int, ...]
    param: str | None = None
    stored: tuple[int, ...] | None = None

    @property
    def rank(self) -> int:
        """Dimensions with the batch: torch's ``dim()``."""
        return len(self.shape) + 1

    def axis(self, dim: int) -> int:
        """Torch's ``dim`` (batch first, negative from the end) as a per-sample axis.

        Raises:
            Unsupported: ``dim`` is the batch dimension or out of range.
        """
        d = dim + self.rank if dim < 0 else dim
        if not 0 < d < self.rank:
            raise Unsupported(f"dimension {dim} of a rank-{self.rank} tensor: cnncost "
                              "operators act per sample, never across the batch")
        return d - 1


@dataclass(frozen=True)
class Emit:
    """One cnncost layer a call becomes. ``suffix`` names a second layer of the same call
    (``<name>_<suffix>``); ``name`` gives the layer a full name of its own (a layer scale is
    named after its parameter); the last Emit of a call is its output, unless the Emits carry
    ``part``: then the call returns several tensors (``chunk``) and Emit ``part=k`` is the k-th."""

    op: str
    attrs: dict[str, Any]
    inputs: tuple[Value, ...]
    suffix: str | None = None
    name: str | None = None
    part: int | None = None


def emitted(index: int, shape: tuple[int, ...]) -> Value:
    """The output of this call's ``index``-th Emit, as an input of a later Emit of the call."""
    return Value(f"@{index}", shape)


@dataclass(frozen=True)
class Alias:
    """The call returns its input unchanged (``contiguous``, ``nn.Identity``)."""

    value: Value


@dataclass
class Call:
    """A traced call as a mapping sees it: ``kind`` is module, function or method; ``target``
    the name shown in messages; for a method, ``args[0]`` is the tensor it is called on."""

    kind: str
    target: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    out: Any
    module: Any = None
    origin: Origin | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, index: int, name: str, default: Any = _MISSING) -> Any:
        """Argument ``name`` given at position ``index`` or by keyword.

        Raises:
            Unsupported: required and not given.
        """
        if index < len(self.args):
            return self.args[index]
        if name in self.kwargs:
            return self.kwargs[name]
        if default is _MISSING:
            raise Unsupported(f"{self.target} called without {name!r}")
        return default

    def tensor(self, index: int = 0, name: str = "input") -> Value:
        """The tensor argument at ``index`` / ``name``.

        Raises:
            Unsupported: that argument is not a tensor of the graph.
        """
        value = self.get(index, name)
        if not isinstance(value, Value) or value.param is not None:
            raise Unsupported(f"{self.target}: argument {name!r} is "
                              f"{'a parameter' if isinstance(value, Value) else repr(value)}, "
                              "not a tensor computed by the model")
        return value

    def tensors(self) -> list[Value]:
        """Every tensor among the arguments, in order (lists and tuples flattened)."""
        return list(_values((*self.args, *self.kwargs.values())))

    @property
    def out_value(self) -> Value:
        if not isinstance(self.out, Value):
            raise Unsupported(f"{self.target} returns {type(self.out).__name__}, not one tensor")
        return self.out

    @property
    def input_size(self) -> tuple[int, ...]:
        """The per-sample shape of the model's input (an upsampling to it is ``resolution``)."""
        return tuple(self.extra.get("input_shape", ()))


def _values(items: Any) -> Iterator[Value]:
    for item in items:
        if isinstance(item, Value):
            yield item
        elif isinstance(item, (list, tuple)):
            yield from _values(item)
