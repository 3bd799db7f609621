"""The items of an imported spec's bodies, before they are YAML. Must not import torch.

An ``Item`` is one entry of a body (the top-level ``layers:`` or a block's): an operator, a call
of a block, or a repeat of a block. Names are full dotted names until the writer makes them
relative to the body they are written in; inputs are ``NodeRef`` (a node, by full name, or by
name relative to the block inside a block definition) or ``InputRef`` (a block's k-th input),
each slot a tuple of alternatives (``downsample.1|input``: the first that exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnncost.importer.ir import Expr


@dataclass(frozen=True)
class NodeRef:
    """A node, by name."""

    name: str


@dataclass(frozen=True)
class InputRef:
    """A block's ``index``-th input."""

    index: int


Ref = NodeRef | InputRef
Slot = tuple[Ref, ...]


@dataclass
class Item:
    """One entry of a body (see the module docstring).

    Attributes:
        kind: ``op``, ``call`` or ``repeat``.
        name: the node (op), the call's scope, or the repeat's prefix.
        key: the operator or the block.
        attrs: operator attributes or block arguments: literals or ``Expr``.
        slots: the inputs, one tuple of alternatives per input.
        output: the node the item outputs (for a call, the block's last node).
        index: the execution position of the item's first layer.
        in_channels: channels of the first input (op items).
        when: the block argument that decides whether the item exists (block bodies).
        times, start: a repeat's iteration count and first index (``prefix.{start}``).
        nodes: every node the item holds (for a call or repeat, those inside it).
    """

    kind: str
    name: str
    key: str
    attrs: dict[str, Any]
    slots: list[Slot]
    output: str
    index: int
    in_channels: int | None = None
    when: str | None = None
    times: int = 0
    start: int = 0
    nodes: frozenset[str] = field(default_factory=frozenset)
    all_args: dict[str, Any] = field(default_factory=dict)

    def holds(self, name: str) -> bool:
        """Whether node ``name`` is this item's or inside it."""
        return name in self.nodes


def literal_text(value: Any) -> str:
    """A value as expression text (Python syntax: ``True``, ``'same'``, ``[1, 2]``)."""
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal_text(v) for v in value) + "]"
    return repr(value)
