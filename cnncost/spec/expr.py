"""A small, whitelisted expression evaluator for numeric spec fields. Must not import torch.

Expressions are Python syntax, parsed with ``ast`` and evaluated by walking a whitelist of node
types; Python's ``eval`` is never called. Supported: int/float/str/bool/None literals, lists,
tuples and dicts; names bound by the caller (parameters, block arguments, repeat indices); ``+ -
* / // % **``; comparisons; ``and``/``or``/``not``; ``a if c else b``; subscripts and slices; calls
to the functions in ``BUILTINS`` and to spec-defined functions. ``round`` is Python's
(round-half-to-even), as Keras' and torchvision's own Python code uses it.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any


class ExpressionError(ValueError):
    """An expression that does not parse or does not evaluate; the message says why."""


class UnknownName(ExpressionError):
    """An expression reads a name that is not bound (``name``)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


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


BUILTINS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "ceil": _ceil,
    "floor": _floor,
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "len": len,
    "sum": sum,
    "range": lambda *a: list(range(*a)),
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


@lru_cache(maxsize=8192)
def parse(text: str) -> ast.expr:
    """Parse an expression; raise ExpressionError (with the column) on a syntax error."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        col = f" at column {err.offset}" if err.offset else ""
        raise ExpressionError(f"invalid expression {text!r}{col}: {err.msg}") from None
    _check(tree.body, text)
    return tree.body


_ALLOWED = (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
            ast.Call, ast.List, ast.Tuple, ast.Dict, ast.Subscript, ast.Slice, ast.Load,
            ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.keyword)


def _check(node: ast.AST, text: str) -> None:
    for sub in ast.walk(node):
        if not isinstance(sub, _ALLOWED):
            raise ExpressionError(
                f"{type(sub).__name__} is not allowed in expressions ({text!r}); use arithmetic, "
                "comparisons, 'a if c else b', literals, subscripts and the built-in functions")
        if isinstance(sub, ast.BinOp) and type(sub.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(sub.op).__name__} is not allowed in {text!r}")
        if isinstance(sub, ast.Call) and not isinstance(sub.func, ast.Name):
            raise ExpressionError(f"only named functions can be called in {text!r}")


def names_in(text: str) -> set[str]:
    """The free names an expression reads (for dependency checks and 'unknown name' hints)."""
    return {n.id for n in ast.walk(parse(text)) if isinstance(n, ast.Name)}


class Evaluator:
    """Evaluates parsed expressions against a mapping of names and callable functions."""

    def __init__(self, names: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.names = names
        self.functions = {**BUILTINS, **(functions or {})}

    def evaluate(self, text: str) -> Any:
        node = parse(text)
        try:
            return self._eval(node)
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError(f"{text!r}: recursion too deep") from None
        except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as err:
            raise ExpressionError(f"{text!r}: {type(err).__name__}: {err}") from None

    def _eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            raise UnknownName(_unknown_name(node.id, self.names), node.id)
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left), self._eval(node.right)
            if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) \
                    and abs(right) > _MAX_POWER:
                raise ExpressionError(f"exponent {right} is too large")
            return _BINOPS[type(node.op)](left, right)
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
            assert isinstance(node.func, ast.Name)
            fn = self.functions.get(node.func.id)
            if fn is None:
                raise ExpressionError(_unknown_name(node.func.id, self.functions, "function"))
            args = [self._eval(a) for a in node.args]
            kwargs = {k.arg: self._eval(k.value) for k in node.keywords if k.arg}
            return fn(*args, **kwargs)
        raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover


def _unknown_name(name: str, known: Mapping[str, Any], what: str = "name") -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {name!r}{hint}"


def interpolate(template: str, evaluator: Evaluator) -> str:
    """Replace every ``{expr}`` in ``template`` with its value (``{{``/``}}`` escape braces)."""
    out: list[str] = []
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
                raise ExpressionError(f"unclosed '{{' in {template!r}")
            out.append(str(evaluator.evaluate(template[i + 1:end])))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
