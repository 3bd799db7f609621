"""Expressions and attributes of the items being expanded. Must not import torch.

Every operator item's attributes are evaluated (expressions over params, block arguments, repeat
indices and the shape of the item's input: ``in_channels``, ``in_height``, ``in_width``,
``in_shape``; ``shape_of('ref')`` and ``channels_of('ref')`` read earlier outputs) and normalised
(pairs and sides as tuples). One ``Budget`` bounds all the expressions of an expansion. A value
that is not text, a list or a mapping is taken as it is, without building an evaluator.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from cnncost.errors import OpArgumentError
from cnncost.graph.memo import NOT_FOUND, constant_attr, given_attrs, remember_attr
from cnncost.graph.problems import Failed, Problems
from cnncost.graph.references import Built
from cnncost.graph.scope import History, Scope
from cnncost.ops.registry import REQUIRED, Attr, OpDef, canonical_name, pair, sides
from cnncost.spec import model as m
from cnncost.spec.expr import (
    Budget,
    Evaluator,
    ExpressionError,
    Frame,
    UnknownName,
    interpolate,
)
from cnncost.spec.params import deep_evaluate

#: Names bound to the shape of an item's first input.
INPUT_NAMES = frozenset({"in_shape", "in_channels", "in_height", "in_width"})

Lookup = Callable[[str, Scope, History], "str | None"]


class Evaluation:
    """Evaluates the expressions of items against their scope and the nodes built so far."""

    def __init__(self, built: Built, problems: Problems, budget: Budget,
                 functions: Mapping[str, Callable[..., Any]], ops: Mapping[str, OpDef]) -> None:
        self.built = built
        self.problems = problems
        self.budget = budget
        self.functions = functions
        self.ops = ops
        self.lookup: Lookup = lambda text, scope, history: None  # set by the expander
        self._merged_defaults: dict[tuple[Any, ...], dict[str, Any]] = {}

    # -- evaluators -------------------------------------------------------------------------
    def evaluator(self, scope: Scope, first_input: str | None) -> Evaluator:
        """An evaluator for one item: its scope's names, its first input's shape, the spec's
        functions and ``shape_of``/``channels_of`` on earlier outputs."""
        env: Mapping[str, Any] = scope.env
        node = self.built.nodes.get(first_input) if first_input else None
        if node is not None:
            shape = node.out_shape
            env = Frame({"in_shape": list(shape), "in_channels": shape[0],
                         "in_height": shape[1] if len(shape) > 1 else None,
                         "in_width": shape[2] if len(shape) > 2 else None}, env)
        functions = scope.functions
        if functions is None:
            functions = scope.functions = self._functions(scope)
        return Evaluator(env, functions, self.budget)

    def _functions(self, scope: Scope) -> dict[str, Callable[..., Any]]:
        """The spec's functions and ``shape_of``/``channels_of`` on the outputs ``scope`` sees
        (built once per scope; ``shape_of`` reads the scope's history when it is called)."""
        built, lookup = self.built, self.lookup
        # the scope holds these functions (``scope.functions``): a weak reference back, so that
        # a scope and its functions are freed by reference counting, not left as a cycle
        home = weakref.ref(scope)

        def shape_of(ref: str) -> list[int]:
            scope = home()
            if scope is None:  # pragma: no cover - the functions are used through their scope
                raise ExpressionError("shape_of: called outside the scope it belongs to")
            found = lookup(str(ref), scope, scope.history)
            if found is None:
                raise ExpressionError(f"shape_of: no layer or input named {ref!r} before this "
                                      "point")
            if found in built.failed:
                raise Failed  # already reported upstream
            return list(built.nodes[found].out_shape)

        return {**self.functions, "shape_of": shape_of,
                "channels_of": lambda ref: shape_of(ref)[0]}

    def evaluate(self, raw: Any, scope: Scope, path: tuple[Any, ...], kind: str,
                 first_input: str | None = None, evaluator: Evaluator | None = None) -> Any:
        """``raw`` evaluated (text as an expression, through lists and mappings) and checked to
        be an integer (``kind`` "int") or a boolean ("bool").

        Raises:
            Failed: it does not evaluate or has the wrong type (the problem is recorded).
        """
        if isinstance(raw, (str, list, dict)):
            try:
                value = deep_evaluate(raw, evaluator or self.evaluator(scope, first_input))
            except ExpressionError as err:
                self.expression_problem(err, scope, path, first_input)
        else:
            value = raw
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            self.problems.fail("expression", f"{raw!r} must be an integer, got {value!r}"
                               + (" (use // or int() for integer division)"
                                  if isinstance(value, float) else ""), scope, path)
        if kind == "bool" and not isinstance(value, bool):
            self.problems.fail("expression", f"{raw!r} must be true or false, got {value!r}",
                               scope, path)
        return value

    def interpolate(self, text: str, scope: Scope, path: tuple[Any, ...],
                    first_input: str | None = None) -> str:
        """``text`` with every ``{expr}`` replaced by its value.

        Raises:
            Failed: an expression in it fails (the problem is recorded).
        """
        try:
            return interpolate(text, self.evaluator(scope, first_input))
        except ExpressionError as err:
            self.expression_problem(err, scope, path, first_input)

    def expression_problem(self, err: ExpressionError, scope: Scope, path: tuple[Any, ...],
                           first_input: str | None) -> NoReturn:
        """Report ``err`` and fail, unless it only says that the shape of a failed input is
        unknown: that input's own problem is reported already (no cascade of 'in_channels')."""
        if not (isinstance(err, UnknownName) and err.name in INPUT_NAMES
                and first_input in self.built.failed):
            self.problems.add("expression", str(err), scope, path)
        raise Failed from None

    def skip(self, body: m.Body, scope: Scope, path: tuple[Any, ...],
             first_input: str | None) -> bool:
        """True when the item's ``when`` is false."""
        if body.when is None:
            return False
        return not self.evaluate(body.when, scope, (*path, "when"), "bool", first_input)

    # -- attributes -------------------------------------------------------------------------
    def attrs(self, op_name: str, spec_attrs: Mapping[str, Attr], body: m.OpArgs, scope: Scope,
              path: tuple[Any, ...], node_name: str, first_input: str | None
              ) -> dict[str, Any] | None:
        """The operator's evaluated, normalised attributes: given, else the innermost scope's
        default, else the operator's; None after recording the problems of any that fail."""
        given = given_attrs(body)
        defaults = self._defaults(op_name, scope)
        attrs: dict[str, Any] = {}
        ok = True
        evaluator: Evaluator | None = None
        for name, attr in spec_attrs.items():
            raw = given[name] if name in given else defaults.get(name, attr.default)
            kind = attr.kind
            if raw is None or (type(raw) is int and kind == "int") or (
                    type(raw) is bool and kind == "bool"):
                attrs[name] = raw  # the common case, as normalise would leave it
                continue
            if raw is REQUIRED:
                self.problems.add("schema", f"{op_name} needs {name!r}", scope, path, node_name)
                ok = False
                continue
            value = constant_attr(attr, raw)
            if value is not NOT_FOUND:
                attrs[name] = value
                continue
            if evaluator is None and isinstance(raw, (str, list, dict)):
                evaluator = self.evaluator(scope, first_input)
            try:
                value = self.attr_value(attr, raw, scope, (*path, name), node_name, first_input,
                                        evaluator)
            except Failed:
                ok = False
                continue
            attrs[name] = value
            remember_attr(attr, raw, value)
        return attrs if ok else None

    def _defaults(self, op_name: str, scope: Scope) -> Mapping[str, Any]:
        """The operator's defaults in ``scope``, the innermost scope's winning (memoised: the
        defaults mappings of a spec are few and never change during an expansion)."""
        key = (op_name, *map(id, scope.defaults))
        merged = self._merged_defaults.get(key)
        if merged is None:
            merged = {}
            for defaults in reversed(scope.defaults):
                merged.update(defaults.get(op_name, {}))
            self._merged_defaults[key] = merged
        return merged

    def attr_value(self, attr: Attr, raw: Any, scope: Scope, path: tuple[Any, ...],
                   node_name: str, first_input: str | None,
                   evaluator: Evaluator | None = None) -> Any:
        """One attribute's value, by its kind.

        Raises:
            Failed: it does not evaluate, or is not a value of its kind.
        """
        kind = attr.kind
        if raw is None:
            return None
        if kind in ("str", "choice", "act"):
            braces = isinstance(raw, str) and ("{" in raw or "}" in raw)
            value = self.interpolate(raw, scope, path, first_input) if braces else raw
            if kind == "choice" and value not in attr.choices:
                self.problems.fail("argument", f"expected one of {', '.join(attr.choices)}, got "
                                   f"{value!r}", scope, path, node_name)
            if kind == "act" and value in ("", "none", "linear"):
                value = None  # Keras' activation=None / "linear"
            if kind == "act" and value is not None:
                canonical = canonical_name(value)
                if canonical is None or self.ops[canonical].family != "activation":
                    acts = [n for n, o in self.ops.items() if o.family == "activation"]
                    close = difflib.get_close_matches(str(value), acts, n=1)
                    self.problems.fail("argument", f"unknown activation {value!r}", scope, path,
                                       node_name,
                                       hint=f"did you mean {close[0]!r}?" if close else None)
                value = canonical
            return value
        if kind == "padding" and raw in ("same", "valid"):
            return raw
        value = self.evaluate(raw, scope, path, kind if kind in ("int", "bool") else "any",
                              first_input, evaluator)
        try:
            return normalise(kind, value)
        except (OpArgumentError, TypeError, ValueError) as err:
            self.problems.fail("argument", str(err), scope, path, node_name)


def _numeric_text(value: Any) -> str:
    """A hint for a number that reached a field as text (YAML 1.1 reads ``1e-5`` as a string;
    a field evaluates it, a parameter or a block argument's value keeps it)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return ""
    return (" (text that looks like a number: YAML 1.1 reads 1e-5 as a string; write 1.0e-5 "
            "or 0.00001 where the value is set)")


def _has_bool(value: Any) -> bool:
    """True for ``true``, or a list holding one (a bool is an int to Python, not to a spec)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_bool(v) for v in value)
    return False


def normalise(kind: str, value: Any) -> Any:
    """Canonical attribute values: pairs and sides as tuples, lists as tuples.

    Raises:
        OpArgumentError, TypeError, ValueError: ``value`` is not a value of ``kind``.
    """
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise OpArgumentError(f"expected an integer, got {value!r}")
        return value
    if kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise OpArgumentError(f"expected a number, got {value!r}" + _numeric_text(value))
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise OpArgumentError(f"expected true or false, got {value!r}")
        return value
    if kind in ("pair", "sides", "padding") and _has_bool(value):
        raise OpArgumentError(f"expected integers, got {value!r}")
    if kind == "pair":
        return pair(value)
    if kind == "sides":
        return sides(value)
    if kind == "padding":
        return value if value in ("same", "valid") else sides(value)
    if kind == "ints":
        if isinstance(value, int):
            value = [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise OpArgumentError(f"expected a list of integers, got {value!r}")
        return tuple(value)
    if kind == "floats":
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise OpArgumentError(f"expected a number or a list of numbers, got {value!r}")
        return tuple(float(v) for v in values)
    if kind == "table":
        if not all(isinstance(row, list) for row in value):
            raise OpArgumentError("a connection table is a list of lists of input channels")
        return tuple(tuple(row) for row in value)
    return value
