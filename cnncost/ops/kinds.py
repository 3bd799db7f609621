"""Kind checks on raw attribute values, before each operator's ``infer``. Must not import torch.

Formulas receive evaluated values (``out: c / 2`` evaluates to the float ``32.0``; PyYAML reads
``1e-5`` as a string), so every operator is registered through ``define``, which checks each
value against its ``Attr.kind`` first: counts stay ``int``s and a wrong kind is an
``OpArgumentError``, never a ``TypeError``. ``pair``, ``sides``, ``padding``, ``table`` and
``act`` values are checked by the normalisers the formulas call (``pair``, ``sides``,
``spatial.padding``, ``conv._check_table``, ``activation.check_activation``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from cnncost.errors import OpArgumentError
from cnncost.ops.registry import Attr, OpContext, OpDef, Shape, register


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_list_of(value: Any, item: Callable[[Any], bool]) -> bool:
    return isinstance(value, (list, tuple)) and all(item(v) for v in value)


# kind: (test, what the value must be)
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "ints": (lambda v: _is_list_of(v, _is_int), "a list of integers"),
    # Keras' Rescaling takes a scalar or one value per channel: a bare number is accepted too
    "floats": (lambda v: _is_number(v) or _is_list_of(v, _is_number),
               "a number or a list of numbers"),
}


def check_attrs(attrs: Mapping[str, Attr], values: Mapping[str, Any]) -> None:
    """Check every declared attribute's value against its kind (null where the default is null).

    Raises:
        OpArgumentError: an attribute is missing or of the wrong kind.
    """
    for name, attr in attrs.items():
        if name not in values:
            raise OpArgumentError(f"missing attribute {name!r}")
        value = values[name]
        if value is None and attr.default is None:
            continue
        if attr.kind == "choice":
            if value not in attr.choices:
                options = ", ".join(repr(c) for c in attr.choices)
                raise OpArgumentError(f"{name} must be one of {options}, got {value!r}")
        elif attr.kind in _CHECKS:
            test, what = _CHECKS[attr.kind]
            if not test(value):
                raise OpArgumentError(f"{name} must be {what}, got {value!r}")


def define(op: OpDef) -> OpDef:
    """Register ``op`` with its attribute kinds checked before its own ``infer``."""
    inner = op.infer

    def infer(ctx: OpContext) -> Shape:
        check_attrs(op.attrs, ctx.attrs)
        return inner(ctx)

    return register(replace(op, infer=infer))
