"""Scopes and sequences of the expansion: what a name and ``@-k`` mean where. Must not import torch.

A scope is a block body, a repeat iteration or a parallel branch: it prefixes the local names of
its items with its dotted name and binds the names expressions read. A sequence's history is the
output of each item so far, after the history of the sequence around it (a view of the outer one,
not a copy, so that N repeat iterations cost N and not N^2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnncost.errors import Location
from cnncost.spec.yamlsource import SourceMap


class History:
    """The outputs of a sequence's items, after the first ``cut`` of ``parent``'s."""

    __slots__ = ("cut", "items", "parent")

    def __init__(self, items: list[str] | None = None, parent: History | None = None) -> None:
        self.parent = parent
        self.cut = len(parent) if parent is not None else 0
        self.items = items if items is not None else []

    def __len__(self) -> int:
        return self.cut + len(self.items)

    def __bool__(self) -> bool:
        return self.cut > 0 or bool(self.items)

    def append(self, name: str) -> None:
        self.items.append(name)

    def last(self) -> str | None:
        return self.back(1)

    def back(self, k: int) -> str | None:
        """The output of the k-th previous item (``@-k``), or None when there are fewer."""
        index = len(self) - k
        if index < 0:
            return None
        history: History | None = self
        while history is not None:
            if index >= history.cut:
                return history.items[index - history.cut]
            history = history.parent
        return None  # pragma: no cover - cut is never larger than the parent


class Namespace(dict[str, str]):
    """Local reference -> node name in one scope, with the next free number of each automatic
    name (``relu``, ``relu_1``, ...), so that naming the k-th ReLU does not probe k names."""

    __slots__ = ("next_index",)

    def __init__(self) -> None:
        super().__init__()
        self.next_index: dict[tuple[str, str], int] = {}


@dataclass
class Scope:
    """A naming scope: a block body, a repeat iteration or a parallel branch."""

    prefix: str  # prepended to local names to form node names ('' or 'inception_3a.')
    env: dict[str, Any]
    defaults: tuple[Mapping[str, Mapping[str, Any]], ...]  # innermost first
    source: SourceMap
    call_stack: tuple[Location, ...] = ()
    parent: Scope | None = None  # enclosing scope inside the same block body
    names: Namespace = field(default_factory=Namespace)
    history: History = field(default_factory=History)  # outputs of the current sequence's items
    blocks: tuple[str, ...] = ()  # the blocks being called, outermost first (a cycle check)
    depth: int = 0  # nesting of block calls, repeats and parallel branches
    functions: dict[str, Any] | None = None  # what its expressions may call (graph.evaluation)

    def child(self, local: str) -> Scope:
        return Scope(f"{self.prefix}{local}.", dict(self.env), self.defaults, self.source,
                     self.call_stack, self, blocks=self.blocks, depth=self.depth + 1)

    def visible(self) -> list[str]:
        out: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out
