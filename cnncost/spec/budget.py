"""What evaluating a spec's expressions may spend: steps, value sizes, integer sizes, calls.

Must not import torch. One ``Budget`` serves every expression of an expansion (and the spec
functions they call); each check happens before the operation that would go past a bound builds
its value. The bounds are ``cnncost.limits``'.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from cnncost.limits import Limits, current


class ExpressionError(ValueError):
    """An expression that does not parse or does not evaluate; the message says why."""


class BudgetExceeded(ExpressionError):
    """An evaluation went past one of its bounds (steps, value size, integer size, calls)."""


BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
MAX_POWER = 64  # keeps 10**10**10 from hanging the process
_SEQUENCES = (str, list, tuple, dict)


class Budget:
    """What the evaluations of one expansion may still spend (see ``cnncost.limits``)."""

    __slots__ = ("calls", "deepest", "limits", "steps", "total")

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or current()
        self.total = self.limits.max_total_steps  # left for the whole expansion
        self.steps = self.limits.max_expression_steps  # left for the current expression
        self.calls = 0  # spec functions being evaluated
        self.deepest = 0  # the most spec functions evaluated at once so far

    def spend(self, steps: int = 1) -> None:
        self.steps -= steps
        self.total -= steps
        if self.steps < 0:
            raise BudgetExceeded(f"more than {self.limits.max_expression_steps:,} evaluation "
                                 "steps (the limit CNNCOST_MAX_EXPRESSION_STEPS)")
        if self.total < 0:
            raise BudgetExceeded(f"the spec's expressions take more than "
                                 f"{self.limits.max_total_steps:,} evaluation steps in all "
                                 "(the limit CNNCOST_MAX_TOTAL_STEPS)")

    def check(self, value: Any) -> Any:
        """``value`` if it is within the bounds on size; raises BudgetExceeded otherwise."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value.bit_length() > self.limits.max_int_bits:
                raise BudgetExceeded(self._int_message())
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ExpressionError(f"the result {value} is not a finite number")
        elif isinstance(value, _SEQUENCES):
            self.spend(self.size(value) // 64)
        return value

    def _int_message(self) -> str:
        return (f"an integer of more than {self.limits.max_int_bits:,} bits (the limit "
                "CNNCOST_MAX_INT_BITS)")

    def size(self, value: Any, extra: int = 0) -> int:
        """Characters and elements in ``value``, nested; raises once past the bound."""
        limit = self.limits.max_value_size - extra
        total, todo = 0, [value]
        while todo:
            item = todo.pop()
            if isinstance(item, str):
                total += len(item)
            elif isinstance(item, (list, tuple)):
                total += len(item)
                todo.extend(x for x in item if isinstance(x, _SEQUENCES))
            elif isinstance(item, dict):
                total += len(item)
                todo.extend(x for kv in item.items() for x in kv if isinstance(x, _SEQUENCES))
            if total > limit:
                raise BudgetExceeded(self._size_message())
        return total

    def _size_message(self) -> str:
        return (f"a value of more than {self.limits.max_value_size:,} characters or elements "
                "(the limit CNNCOST_MAX_VALUE_SIZE)")

    def binop(self, op: type, left: Any, right: Any) -> Any:
        """Refuse, before computing it, a result past the bounds."""
        if op is ast.Mult:
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > self.limits.max_int_bits + 1:
                    raise BudgetExceeded(self._int_message())
            elif isinstance(left, (str, list, tuple)) or isinstance(right, (str, list, tuple)):
                seq, times = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
                if isinstance(times, int) and times > 0 and \
                        self.size(seq) * times > self.limits.max_value_size:
                    raise BudgetExceeded(self._size_message())
        elif op is ast.Add and isinstance(left, (str, list, tuple)):
            if isinstance(right, (str, list, tuple)):
                self.size(right, self.size(left))
        elif op is ast.Pow:
            if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                raise ExpressionError(f"exponent {right} is too large")
            if isinstance(left, int) and isinstance(right, int) and right > 0 and \
                    left.bit_length() * right > self.limits.max_int_bits + right:
                raise BudgetExceeded(self._int_message())
        elif op is ast.Mod and isinstance(left, str):
            raise ExpressionError("string formatting with % is not allowed; use str() and +")
        return self.check(BINOPS[op](left, right))
