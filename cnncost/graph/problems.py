"""The problems one expansion finds: collected, located, folded. Must not import torch.

Expansion goes on past a problem so that a spec's problems are reported together; an item that
cannot be expanded raises ``Failed`` after recording its problem, and its enclosing sequence
carries on with the next item.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NoReturn

from cnncost.errors import Problem
from cnncost.graph.scope import Scope


class Failed(Exception):
    """An item could not be expanded; its problem is already recorded."""


class Problems:
    """The problems of one expansion, each located in the file its scope reads."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def __bool__(self) -> bool:
        return bool(self.found)

    def add(self, kind: str, message: str, scope: Scope, path: tuple[Any, ...],
            layer: str | None = None, hint: str | None = None, key: bool = False) -> None:
        """Record a problem at ``path`` of ``scope``'s file, naming the block calls that led
        there and the layer (by default, the scope's own dotted name)."""
        via = ""
        if scope.call_stack:
            via = " (called from " + " <- ".join(str(c) for c in reversed(scope.call_stack)) + ")"
        self.found.append(Problem(kind, message + via, scope.source.locate(path, key=key),
                                  layer or (scope.prefix[:-1] or None), hint))

    def fail(self, kind: str, message: str, scope: Scope, path: tuple[Any, ...],
             layer: str | None = None, hint: str | None = None, key: bool = False) -> NoReturn:
        """``add`` the problem, then give up on the item (raise ``Failed``)."""
        self.add(kind, message, scope, path, layer, hint, key)
        raise Failed

    def folded(self) -> list[Problem]:
        """One problem per (kind, place, message): a block repeated N times reports its error
        once, naming the other layers it hit."""
        groups: dict[tuple[Any, ...], list[Problem]] = {}
        for p in self.found:
            groups.setdefault((p.kind, p.location, p.message.split(" (called from")[0]),
                              []).append(p)
        out = []
        for same in groups.values():
            first = same[0]
            if len(same) > 1:
                others = [p.layer for p in same[1:] if p.layer]
                shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more"
                                                 if len(others) > 4 else "")
                extra = f"also in {shown}" if others else f"{len(same) - 1} more time(s)"
                first = replace(first, hint=f"{first.hint}; {extra}" if first.hint else extra)
            out.append(first)
        return out
