"""A small, whitelisted, budgeted expression evaluator for spec fields. Must not import torch.

Expressions are Python syntax, parsed with ``ast`` and evaluated by walking a whitelist of node
types; Python's ``eval`` is never called. Supported: int/float/str/bool/None literals, lists,
tuples and dicts; names bound by the caller (parameters, block arguments, repeat indices); ``+ -
* / // % **``; comparisons; ``and``/``or``/``not``; ``a if c else b``; subscripts and slices; calls
to the functions in ``BUILTINS`` and to spec-defined functions. ``round`` is Python's
(round-half-to-even), as Keras' and torchvision's own Python code uses it.

Every evaluation runs against a ``Budget`` (``cnncost.spec.budget``, bounds from
``cnncost.limits``): steps per expression and per expansion (a step per syntax node of each
expression evaluated, spec functions included), the size of any value built (string
characters, list elements, nested), the bits of any integer, the depth of spec-function calls,
and the text and nesting of the expression itself. Each check happens before the operation that would exceed it builds its
value. Each expression text is compiled once into a tree of closures (``_compile``).

Why our own evaluator rather than simpleeval or asteval: both are well kept, and simpleeval has
limits on powers, string length and comprehension size, but neither bounds the steps of an
evaluation nor recursion through user functions (a spec function that calls itself twice runs
in exponential time), simpleeval's length check misses nested values (``['x' * 10**5] * 10**5``
is a short list whose ``str`` is 10^10 characters), and both accept more syntax than a spec needs
(attributes, comprehensions, assignments) that we would have to switch off again. The whitelist
and its compiler here, and the budget in ``cnncost.spec.budget``, are a few hundred lines one can
read in one sitting; their errors name the expression and are located by the caller, and the
budget is one object shared by the expressions and the spec functions they call. Adding a
dependency would not remove any of that code. Decision: keep our evaluator, with the budget.
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
from cnncost.spec.budget import BINOPS, Budget, BudgetExceeded, ExpressionError

__all__ = ["BUILTINS", "Budget", "BudgetExceeded", "Evaluator", "ExpressionError", "SpecFunction",
           "UnknownName", "interpolate", "make_divisible", "parse"]


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
    "exp": math.exp,
    "log": math.log,  # log(x) natural, log(x, base)
    "log2": math.log2,
    "make_divisible": make_divisible,
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
_MAX_DEPTH = 100  # nesting of one expression's syntax tree
_CONSTANTS = {"True": True, "False": False, "None": None}


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
def _compiled(text: str) -> tuple[Code, int]:
    """``text`` compiled to a closure, and the number of its syntax nodes (the steps it costs)."""
    tree = _parse(text)
    return _compile(tree), sum(1 for _ in ast.walk(tree))


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
        if isinstance(sub, ast.BinOp) and type(sub.op) not in BINOPS:
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
            parse(self.expr, budget.limits)
            code, steps = _compiled(self.expr)
            budget.spend(steps)
            return code(Evaluator({**self.names, **bound}, self.functions, budget))
        finally:
            budget.calls -= 1

    def __call__(self, *values: Any, **keywords: Any) -> Any:
        return self.call(Budget(), list(values), keywords)


class Evaluator:
    """Evaluates parsed expressions against a mapping of names and callable functions."""

    __slots__ = ("budget", "functions", "names")

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
        parse(text, budget.limits)
        code, steps = _compiled(text)
        if budget.calls == 0:
            budget.steps = budget.limits.max_expression_steps
        try:
            budget.spend(steps)
            return code(self)
        except BudgetExceeded as err:
            raise BudgetExceeded(f"{excerpt(text)!r}: {err}") from None
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError(f"{excerpt(text)!r}: recursion too deep") from None
        except (ArithmeticError, TypeError, ValueError, LookupError) as err:
            raise ExpressionError(f"{excerpt(text)!r}: {type(err).__name__}: "
                                  f"{excerpt(err, 200)}") from None

    def call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call the spec function or built-in ``name``, within the budget."""
        fn = self.functions.get(name) or BUILTINS.get(name)
        if fn is None:
            raise ExpressionError(_unknown_name(name, {**BUILTINS, **self.functions}, "function"))
        budget = self.budget
        if isinstance(fn, SpecFunction):
            return budget.check(fn.call(budget, args, kwargs))
        if fn is range:
            span = range(*args, **kwargs)
            if len(span) > budget.limits.max_value_size:
                raise BudgetExceeded(budget._size_message())
            budget.spend(len(span) // 64)
            return list(span)
        if fn is str and args:
            budget.size(args[0])  # the text of a nested value is at least its size
        return budget.check(fn(*args, **kwargs))


# -- compilation: each syntax node becomes a closure over its children's closures ----------------

Code = Callable[[Evaluator], Any]


def _compile(node: ast.AST) -> Code:
    """A closure that evaluates ``node`` (checked by ``_check``) for an evaluator.

    Compiling once per expression text, instead of walking the tree at each evaluation, is what
    makes the thousands of evaluations of a large network cheap; every operation that can build
    a large value still goes through the budget.
    """
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda ev: value
    if isinstance(node, ast.Name):
        return _name(node.id)
    if isinstance(node, ast.BinOp):
        return _binop(type(node.op), _compile(node.left), _compile(node.right))
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda ev: not operand(ev)
        if isinstance(node.op, ast.USub):
            return lambda ev: -operand(ev)
        if isinstance(node.op, ast.UAdd):
            return lambda ev: +operand(ev)
        raise ExpressionError("operator ~ is not allowed")
    if isinstance(node, ast.BoolOp):
        return _boolop(isinstance(node.op, ast.And), [_compile(v) for v in node.values])
    if isinstance(node, ast.Compare):
        return _compare(_compile(node.left), [_CMPOPS[type(op)] for op in node.ops],
                        [_compile(c) for c in node.comparators])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
        return lambda ev: body(ev) if test(ev) else orelse(ev)
    if isinstance(node, (ast.List, ast.Tuple)):
        elements = [_compile(e) for e in node.elts]
        return lambda ev: [e(ev) for e in elements]
    if isinstance(node, ast.Dict):
        pairs = [(_compile(k), _compile(v)) for k, v in zip(node.keys, node.values)
                 if k is not None]
        return lambda ev: {k(ev): v(ev) for k, v in pairs}
    if isinstance(node, ast.Subscript):
        return _subscript(node)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        args = [_compile(a) for a in node.args]
        keywords = [(k.arg, _compile(k.value)) for k in node.keywords if k.arg]
        return lambda ev: ev.call(name, [a(ev) for a in args], {k: v(ev) for k, v in keywords})
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover


def _name(name: str) -> Code:
    def read(ev: Evaluator) -> Any:
        try:
            return ev.names[name]
        except KeyError:
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            raise UnknownName(_unknown_name(name, ev.names), name) from None

    return read


def _binop(op: type, left: Code, right: Code) -> Code:
    if op in (ast.Add, ast.Sub):
        plain = BINOPS[op]

        def add(ev: Evaluator) -> Any:
            a, b = left(ev), right(ev)
            if type(a) is int and type(b) is int:  # the common case: an int grows by a bit
                result = plain(a, b)
                if result.bit_length() > ev.budget.limits.max_int_bits:
                    return ev.budget.check(result)
                return result
            return ev.budget.binop(op, a, b)

        return add
    return lambda ev: ev.budget.binop(op, left(ev), right(ev))


def _boolop(conjunction: bool, values: list[Code]) -> Code:
    def evaluate(ev: Evaluator) -> Any:
        result: Any = conjunction
        for value in values:
            result = value(ev)
            if bool(result) != conjunction:
                return result
        return result

    return evaluate


def _compare(first: Code, ops: list[Callable[[Any, Any], bool]], rest: list[Code]) -> Code:
    def evaluate(ev: Evaluator) -> bool:
        left = first(ev)
        for op, right_code in zip(ops, rest):
            right = right_code(ev)
            if not op(left, right):
                return False
            left = right
        return True

    return evaluate


def _subscript(node: ast.Subscript) -> Code:
    target = _compile(node.value)
    if isinstance(node.slice, ast.Slice):
        s = node.slice
        parts = [_compile(p) if p is not None else None for p in (s.lower, s.upper, s.step)]
        return lambda ev: target(ev)[slice(*(p(ev) if p is not None else None for p in parts))]
    index = _compile(node.slice)
    return lambda ev: target(ev)[index(ev)]


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
