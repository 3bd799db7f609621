"""Variant selection, ``--set`` overrides, derived ``let`` values and spec functions.

Must not import torch.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from cnncost.errors import Problem, SpecError
from cnncost.limits import current, holding
from cnncost.spec.expr import Budget, Evaluator, ExpressionError, SpecFunction, UnknownName
from cnncost.spec.loader import LoadedSpec


@dataclass(frozen=True)
class Bindings:
    """The names expressions see at the top of a spec, and the callable spec functions."""

    variant: str | None
    params: dict[str, Any]  # after variant and overrides
    names: dict[str, Any]  # params + let
    functions: dict[str, Callable[..., Any]]


def resolve_params(loaded: LoadedSpec, variant: str | None = None,
                   overrides: Mapping[str, Any] | None = None) -> Bindings:
    """Apply a variant and overrides to the spec's params, then evaluate ``let`` in order.

    Raises:
        SpecError: unknown variant or parameter, or a ``let`` expression that fails.
    """
    spec, smap = loaded.spec, loaded.source
    problems: list[Problem] = []
    chosen = variant if variant is not None else spec.default_variant
    params = dict(spec.params)
    if chosen is not None:
        if chosen not in spec.variants:
            close = difflib.get_close_matches(chosen, list(spec.variants), n=1)
            known = ", ".join(spec.variants) or "none"
            raise SpecError([Problem(
                "unknown-variant", f"unknown variant {chosen!r} (variants: {known})",
                smap.locate(("variants",), key=True) if spec.variants else smap.locate(()),
                hint=f"did you mean {close[0]!r}?" if close else None)])
        params.update(spec.variants[chosen])
    for key, value in (overrides or {}).items():
        if key not in spec.params:
            close = difflib.get_close_matches(key, list(spec.params), n=1)
            problems.append(Problem(
                "unknown-param", f"--set {key}: {key!r} is not a parameter of {spec.name} "
                f"(parameters: {', '.join(spec.params) or 'none'})",
                smap.locate(("params",), key=True) if spec.params else smap.locate(()),
                hint=f"did you mean {close[0]!r}?" if close else None))
        params[key] = value
    if problems:
        raise SpecError(problems)
    names: dict[str, Any] = dict(params)
    functions: dict[str, Callable[..., Any]] = _Functions()
    # each function calls the others through a weak proxy of the mapping that holds them (the
    # bindings hold it as long as anything is evaluated): no cycle for the collector to find
    callable_by_name = cast("dict[str, Callable[..., Any]]", weakref.proxy(functions))
    for fname, (fdef, _origin) in loaded.functions.items():
        # the functions see ``names`` as it grows: a let value may be read by a function
        functions[fname] = SpecFunction(fname, fdef.args, fdef.expr, names, callable_by_name)
    limits = current()
    with holding(limits):
        evaluator = Evaluator(names, functions, Budget(limits))
        failed: set[str] = set()
        for key, value in spec.let.items():
            try:
                names[key] = deep_evaluate(value, evaluator)
            except ExpressionError as err:
                failed.add(key)
                if not (isinstance(err, UnknownName) and err.name in failed):  # no cascade
                    problems.append(Problem("expression", f"let {key}: {err}",
                                            smap.locate(("let", key))))
    if problems:
        raise SpecError(problems)
    for function in functions.values():  # the names they read are final now
        if isinstance(function, SpecFunction):
            function.remember()
    return Bindings(chosen, params, names, functions)


class _Functions(dict[str, Callable[..., Any]]):
    """The spec's functions by name (a dict that a weak reference can point at)."""


def deep_evaluate(value: Any, evaluator: Evaluator) -> Any:
    """Evaluate strings as expressions, recursively through lists and dicts."""
    if isinstance(value, str):
        return evaluator.evaluate(value)
    if isinstance(value, list):
        return [deep_evaluate(v, evaluator) for v in value]
    if isinstance(value, dict):
        return {k: deep_evaluate(v, evaluator) for k, v in value.items()}
    return value
