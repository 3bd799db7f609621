"""Fixtures for the operator-formula tests: evaluate one operator on shapes, defaults filled in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cnncost.ops.registry import Arithmetic, OpContext, Params, Shape, canonical_name, get_op


@dataclass(frozen=True)
class Outcome:
    out: Shape
    params: Params
    arithmetic: Arithmetic
    fvcore: int | None
    connections: int | None


def evaluate_op(op: str, attrs: dict[str, Any], *in_shapes: Shape) -> Outcome:
    """Run an operator's formulas the way the engine does: defaults filled, infer first."""
    name = canonical_name(op)
    assert name is not None, f"unknown operator {op}"
    opdef = get_op(name)
    unknown = set(attrs) - set(opdef.attrs)
    assert not unknown, f"{op} has no attributes {unknown}"
    full = {key: attr.default for key, attr in opdef.attrs.items() if not attr.required}
    full.update(attrs)
    missing = set(opdef.attrs) - set(full)
    assert not missing, f"{op} needs {missing}"
    out = opdef.infer(OpContext(full, tuple(in_shapes)))
    ctx = OpContext(full, tuple(in_shapes), out)
    return Outcome(
        out=out,
        params=opdef.params(ctx),
        arithmetic=opdef.arithmetic(ctx),
        fvcore=None if opdef.fvcore is None else opdef.fvcore(ctx),
        connections=None if opdef.connections is None else opdef.connections(ctx),
    )


@pytest.fixture
def evaluate() -> Callable[..., Outcome]:
    return evaluate_op
