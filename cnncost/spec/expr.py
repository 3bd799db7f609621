"""A small, whitelisted, budgeted expression evaluator for spec fields. Must not import torch.

Expressions are Python syntax, parsed with ``ast`` and evaluated by walking a whitelist of node
types; Python's ``eval`` is never called. Supported: int/float/str/bool/None literals, lists,
tuples and dicts; names bound by the caller (parameters, block arguments, repeat indices); ``+ -
* / // % **``; comparisons; ``and``/``or``/``not``; ``a if c else b``; subscripts and slices; calls
to the functions in ``BUILTINS`` and to spec-defined functions. ``round`` is Python's
(round-half-to-even), as Keras' and torchvision's own Python code uses it.

Every evaluation runs against a ``Budget`` (``cnncost.limits``): steps per expression and per
expansion, the size of any value built (string characters, list elements, nested), the bits of
any integer, the depth of spec-function calls, and the text and nesting of the expression itself.
Each check happens before the operation that would exceed it builds its value.

Why our own evaluator rather than simpleeval or asteval: both are well kept, and simpleeval has
limits on powers, string length and comprehension size, but neither bounds the steps of an
evaluation nor recursion through user functions (a spec function that calls itself twice runs
in exponential time), simpleeval's length check misses nested values (``['x' * 10**5] * 10**5``
is a short list whose ``str`` is 10^10 characters), and both accept more syntax than a spec needs
(attributes, comprehensions, assignments) that we would have to switch off again. The whitelist
here is 300 lines we can read in one sitting, its errors name the expression and are located by
the caller, and the budget is one object shared by the expressions and the spec functions they
call. Adding a dependency would not remove any of that code.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cnncost.errors import excerpt
from cnncost.limits import Limits, current


class ExpressionError(ValueError):
    """An expression that does not parse or does not evaluate; the message says why."""


class UnknownName(ExpressionError):
    """An expression reads a name that is not bound (``name``)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class BudgetExceeded(ExpressionError):
    """An evaluation went past one of its bounds (steps, value size, integer size, calls)."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor``, never more than 10 % below it.

    The rule of TensorFlow's MobileNet / EfficientNet code (``_make_divisible``): nearest multiple
    (ties up), at least ``min_value`` (default ``divisor``), bumped by one ``divisor`` if that lost
    more than 10 %.
    """
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return int(new_value)


def _ceil(x: float) -> int:
    return math.ceil(x)


def _floor(x: float) -> int:
    return math.floor(x)


def _round(x: float, ndigits: int | None = None) -> float:
    # round(10, -10**9) computes 10**(10**9) first
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 100):
        raise ValueError(f"round's digits must be an integer from -100 to 100, got {ndigits!r}")
    return round(x, ndigits)


def _sum(values: Any, start: float = 0) -> float:
    """Python's ``sum`` over numbers only (a sum of lists is a quadratic list builder)."""
    items = list(values)
    if not all(isinstance(v, (int, float)) for v in [*items, start]):
        raise TypeError("sum adds numbers only")
    return sum(items, start)


BUILTINS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "ceil": _ceil,
    "floor": _floor,
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,  # checked in Evaluator._call: the text's size is bounded
    "len": len,
    "sum": _sum,
    "range": range,  # materialised in Evaluator._call, after its length is checked
    "sqrt": math.sqrt,
    "make_divisible": make_divisible,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_MAX_POWER = 64  # keeps 10**10**10 from hanging the process
_MAX_DEPTH = 100  # nesting of one expression's syntax tree
_CONSTANTS = {"True": True, "False": False, "None": None}
_SEQUENCES = (str, list, tuple, dict)


def parse(text: str, limits: Limits | None = None) -> ast.expr:
    """Parse an expression; raise ExpressionError (with the column) on a syntax error.

    Raises:
        ExpressionError: a syntax error, a construct outside the whitelist, or an expression
            longer or more deeply nested than the limits allow.
    """
    limit = (limits or current()).max_expression_chars
    if len(text) > limit:
        raise ExpressionError(f"expression {excerpt(text, 40)!r} has {len(text):,} characters; "
                              f"at most {limit:,} (the limit CNNCOST_MAX_EXPRESSION_CHARS)")
    return _parse(text)


@lru_cache(maxsize=8192)
def _parse(text: str) -> ast.expr:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        col = f" at column {err.offset}" if err.offset else ""
        raise ExpressionError(f"invalid expression {excerpt(text)!r}{col}: {err.msg}") from None
    except (RecursionError, MemoryError, ValueError):  # the parser's own limits
        raise ExpressionError(f"expression {excerpt(text, 40)!r} is nested too deeply") from None
    _check(tree.body, text)
    return tree.body


_ALLOWED = (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
            ast.Call, ast.List, ast.Tuple, ast.Dict, ast.Subscript, ast.Slice, ast.Load,
            ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.keyword)


def _check(root: ast.AST, text: str) -> None:
    shown = excerpt(text)
    todo = [(root, 1)]
    while todo:  # iterative: a deep tree must not exhaust the stack before it is refused
        sub, depth = todo.pop()
        if depth > _MAX_DEPTH:
            raise ExpressionError(f"expression {excerpt(text, 40)!r} nests more than "
                                  f"{_MAX_DEPTH} levels")
        if not isinstance(sub, _ALLOWED):
            raise ExpressionError(
                f"{type(sub).__name__} is not allowed in expressions ({shown!r}); use arithmetic, "
                "comparisons, 'a if c else b', literals, subscripts and the built-in functions")
        if isinstance(sub, ast.BinOp) and type(sub.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(sub.op).__name__} is not allowed in expression "
                                  f"{shown!r}")
        if isinstance(sub, ast.Call) and not isinstance(sub.func, ast.Name):
            raise ExpressionError(f"only named functions can be called in expression {shown!r}")
        if isinstance(sub, ast.keyword) and sub.arg is None:
            raise ExpressionError(f"**keyword unpacking is not allowed in expression {shown!r}; "
                                  "name each keyword argument")
        if isinstance(sub, ast.Dict) and any(k is None for k in sub.keys):
            raise ExpressionError(f"** unpacking is not allowed in expression {shown!r}")
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(sub))


class Budget:
    """What the evaluations of one expansion may still spend (see ``cnncost.limits``)."""

    __slots__ = ("limits", "total", "steps", "calls")

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or current()
        self.total = self.limits.max_total_steps  # left for the whole expansion
        self.steps = self.limits.max_expression_steps  # left for the current expression
        self.calls = 0  # spec functions being evaluated

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
            if isinstance(right, (int, float)) and abs(right) > _MAX_POWER:
                raise ExpressionError(f"exponent {right} is too large")
            if isinstance(left, int) and isinstance(right, int) and right > 0 and \
                    left.bit_length() * right > self.limits.max_int_bits + right:
                raise BudgetExceeded(self._int_message())
        elif op is ast.Mod and isinstance(left, str):
            raise ExpressionError("string formatting with % is not allowed; use str() and +")
        return self.check(_BINOPS[op](left, right))


class SpecFunction:
    """A function defined in a spec (``functions:``): an expression over its arguments and the
    spec's names, evaluated under the caller's budget."""

    def __init__(self, name: str, args: list[str], expr: str, names: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]]) -> None:
        self.name, self.args, self.expr = name, args, expr
        self.names, self.functions = names, functions

    def call(self, budget: Budget, values: list[Any], keywords: dict[str, Any]) -> Any:
        bound = dict(zip(self.args, values))
        for key, value in keywords.items():
            if key not in self.args or key in bound:
                raise ExpressionError(f"{self.name}() got an unexpected or repeated argument "
                                      f"{excerpt(key)!r}")
            bound[key] = value
        if len(values) > len(self.args) or len(bound) != len(self.args):
            raise ExpressionError(f"{self.name}() takes {len(self.args)} argument(s), got "
                                  f"{len(values) + len(keywords)}")
        if budget.calls >= budget.limits.max_call_depth:
            raise BudgetExceeded(f"spec functions call each other more than "
                                 f"{budget.limits.max_call_depth} deep (the limit "
                                 "CNNCOST_MAX_CALL_DEPTH)")
        budget.calls += 1
        try:
            evaluator = Evaluator({**self.names, **bound}, self.functions, budget)
            return evaluator._eval(parse(self.expr, budget.limits))
        finally:
            budget.calls -= 1

    def __call__(self, *values: Any, **keywords: Any) -> Any:
        return self.call(Budget(), list(values), keywords)


class Evaluator:
    """Evaluates parsed expressions against a mapping of names and callable functions."""

    __slots__ = ("names", "functions", "budget")

    def __init__(self, names: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]] | None = None,
                 budget: Budget | None = None) -> None:
        self.names = names
        self.functions = functions or {}
        self.budget = budget or Budget()

    def evaluate(self, text: str) -> Any:
        """The value of ``text``.

        Raises:
            ExpressionError: it does not parse or evaluate, or goes past the budget (the message
                names the expression).
        """
        budget = self.budget
        node = parse(text, budget.limits)
        if budget.calls == 0:
            budget.steps = budget.limits.max_expression_steps
        try:
            return self._eval(node)
        except BudgetExceeded as err:
            raise BudgetExceeded(f"{excerpt(text)!r}: {err}") from None
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError(f"{excerpt(text)!r}: recursion too deep") from None
        except (ArithmeticError, TypeError, ValueError, LookupError) as err:
            raise ExpressionError(f"{excerpt(text)!r}: {type(err).__name__}: "
                                  f"{excerpt(err, 200)}") from None

    def _eval(self, node: ast.AST) -> Any:
        self.budget.spend()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise UnknownName(_unknown_name(node.id, self.names), node.id)
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left), self._eval(node.right)
            return self.budget.binop(type(node.op), left, right)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not value
            if isinstance(node.op, ast.USub):
                return -value
            if isinstance(node.op, ast.UAdd):
                return +value
            raise ExpressionError("operator ~ is not allowed")
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for value_node in node.values:
                    result = self._eval(value_node)
                    if not result:
                        return result
                return result
            result = False
            for value_node in node.values:
                result = self._eval(value_node)
                if result:
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self._eval(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body) if self._eval(node.test) else self._eval(node.orelse)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values)
                    if k is not None}
        if isinstance(node, ast.Subscript):
            target = self._eval(node.value)
            if isinstance(node.slice, ast.Slice):
                s = node.slice
                return target[slice(*(self._eval(p) if p is not None else None
                                      for p in (s.lower, s.upper, s.step)))]
            return target[self._eval(node.slice)]
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover

    def _call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        fn = self.functions.get(name) or BUILTINS.get(name)
        if fn is None:
            known = {**BUILTINS, **self.functions}
            raise ExpressionError(_unknown_name(name, known, "function"))
        args = [self._eval(a) for a in node.args]
        kwargs = {k.arg: self._eval(k.value) for k in node.keywords if k.arg}
        if isinstance(fn, SpecFunction):
            return self.budget.check(fn.call(self.budget, args, kwargs))
        if fn is range:
            span = range(*args, **kwargs)
            if len(span) > self.budget.limits.max_value_size:
                raise BudgetExceeded(self.budget._size_message())
            self.budget.spend(len(span) // 64)
            return list(span)
        if fn is str and args:
            self.budget.size(args[0])  # repr of a nested value is at least its size
        return self.budget.check(fn(*args, **kwargs))


def _unknown_name(name: str, known: Mapping[str, Any], what: str = "name") -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {excerpt(name)!r}{hint}"


def interpolate(template: str, evaluator: Evaluator) -> str:
    """Replace every ``{expr}`` in ``template`` with its value (``{{``/``}}`` escape braces).

    Raises:
        ExpressionError: an unclosed ``{``, an expression that fails, or a result past the
            bound on value size.
    """
    out: list[str] = []
    size = 0
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            out.append("{")
            i += 2
        elif ch == "}" and template.startswith("}}", i):
            out.append("}")
            i += 2
        elif ch == "{":
            end = template.find("}", i)
            if end < 0:
                raise ExpressionError(f"unclosed '{{' in {excerpt(template)!r}")
            value = evaluator.evaluate(template[i + 1:end])
            size += evaluator.budget.size(value, size)
            out.append(str(value))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
