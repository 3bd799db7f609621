"""A lower bound on what a repeat will expand to, known before it runs. Must not import torch.

The node limit (``cnncost.limits.max_nodes``) is checked as layers are built; for nested repeats
of constant sizes (``times: 1000`` three deep is 10^9 layers) that would build the limit's worth
of layers before stopping. This module counts, without expanding anything, the layers and repeat
iterations that items are certain to produce: operator items and block calls without ``when``,
repeats without ``when`` whose ``times`` is a constant (a number, or an expression that reads no
name), and parallel branches. Anything that depends on the spec's names counts zero, so the bound
is never above what expansion builds.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from cnncost.ops.registry import canonical_name
from cnncost.spec import model as m
from cnncost.spec.expr import Evaluator, ExpressionError, parse


class Bound:
    """Memoised lower bounds on (repeat iterations, layers) of item lists and blocks."""

    def __init__(self, blocks: Mapping[str, tuple[m.BlockDef, Any]]) -> None:
        self.blocks = blocks
        self.memo: dict[int, tuple[int, int]] = {}
        self.open: set[str] = set()  # blocks being counted (a recursive block counts zero)

    def iteration(self, body: m.RepeatBody) -> tuple[int, int]:
        """Iterations and layers that one iteration of ``body`` will certainly expand to."""
        if body.layers is not None:
            return self.items(body.layers)
        block = body.block or ""
        return self.block(block) if "{" not in block else (0, 0)

    def repeat(self, body: m.RepeatBody) -> tuple[int, int]:
        """Iterations (its own included) and layers that ``body`` will certainly expand to
        (``when`` is the caller's to check)."""
        times = _constant(body.times)
        if times is None or times <= 0:
            return 0, 0
        iterations, layers = self.iteration(body)
        return times * (1 + iterations), times * layers

    def items(self, items: list[Any]) -> tuple[int, int]:
        key = id(items)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = (0, 0)
        iterations = layers = 0
        for item in items:
            name, body = m.item_parts(item)
            if body is not None and getattr(body, "when", None) is not None:
                continue
            if name == "repeat":
                i, n = self.repeat(body)
            elif name == "parallel":
                i, n = 0, 1  # the merge
                for branch in body.branches.values():
                    bi, bn = self.items(branch)
                    i, n = i + bi, n + bn
            elif canonical_name(name):
                i, n = 0, 1
            else:
                i, n = self.block(name)
            iterations += i
            layers += n
        self.memo[key] = (iterations, layers)
        return iterations, layers

    def block(self, name: str) -> tuple[int, int]:
        if name not in self.blocks or name in self.open:
            return 0, 0
        self.open.add(name)
        try:
            return self.items(self.blocks[name][0].layers)
        finally:
            self.open.discard(name)


def _constant(times: Any) -> int | None:
    """``times`` when it is an integer or an expression that reads no name, else None."""
    if isinstance(times, bool):
        return None
    if isinstance(times, int):
        return times
    try:
        tree = parse(times)
        if any(isinstance(n, ast.Name) for n in ast.walk(tree)):
            return None
        value = Evaluator({}).evaluate(times)
    except ExpressionError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
