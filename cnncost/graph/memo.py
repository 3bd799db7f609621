"""What an expansion computes once per distinct input, across expansions. Must not import torch.

- Output shapes, by operator, attributes and input shapes: shape inference is a pure function of
  these (the formulas are shape-only), and networks repeat the same layer on the same shapes (a
  chain of equal convolutions, ResNet-152's 36 identical bottlenecks, every variant of a zoo).
- Attribute values written as constants (a number, a list of numbers, a mode such as ``same``):
  their evaluated, normalised value depends on the attribute's kind alone. Expressions are
  evaluated every time (their names change from scope to scope).
- The attributes an item gives (a frozen spec model's set fields, minus the common keys).

Only values are memoised, never failures (a problem is recorded where it happens). Each entry
keeps the objects whose identities its key holds (operator definitions, attribute declarations,
raw values, spec items), so that an identity can never be reused by another object while the
entry lives; each memo is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.ops.registry import Attr, OpContext, OpDef, Shape
from cnncost.spec import model as m

#: Entries a memo holds before it starts again (a bound on memory, not a tuning knob).
MEMO_SIZE = 1 << 16

class Signature:
    """What a layer's shape and counts depend on: its operator, attributes and input shapes,
    hashed once. Layers with the same configuration share one ``Signature`` object (the one
    the shape memo holds), so the counts memo finds theirs by identity, not by comparing and
    hashing the attributes again (``cnncost.cost.counts.layer_counts``)."""

    __slots__ = ("hash", "key")

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return other is self or (type(other) is Signature and other.hash == self.hash
                                 and other.key == self.key)

    def __repr__(self) -> str:
        return f"Signature({self.key!r})"


_SHAPES: dict[Signature, tuple[OpDef, Shape, Signature]] = {}
_CONSTANTS: dict[tuple[int, int], tuple[Attr, Any, Any]] = {}
_GIVEN: dict[int, tuple[m.OpArgs, dict[str, Any]]] = {}
_NOT_FOUND: Any = object()


def _store(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = value


def infer_shape(opdef: OpDef, attrs: Mapping[str, Any], in_shapes: tuple[Shape, ...]
                ) -> tuple[Shape, Signature | None]:
    """``opdef.infer`` of ``attrs`` on ``in_shapes``, as a tuple, computed once per distinct
    input, and the layer's ``Signature`` (None when an attribute is unhashable).

    Raises:
        Whatever ``opdef.infer`` raises (ShapeError, OpArgumentError).
    """
    try:
        signature = Signature((opdef.name, tuple(attrs.items()), in_shapes))
    except TypeError:  # an unhashable value: inferred every time
        return tuple(opdef.infer(OpContext(attrs, in_shapes))), None
    hit = _SHAPES.get(signature)
    if hit is not None and hit[0] is opdef:
        return hit[1], hit[2]
    shape = tuple(opdef.infer(OpContext(attrs, in_shapes)))
    _store(_SHAPES, signature, (opdef, shape, signature))
    return shape, signature


def constant_attr(attr: Attr, raw: Any) -> Any:
    """The memoised value of constant ``raw`` for ``attr``, or ``NOT_FOUND``."""
    hit = _CONSTANTS.get((id(attr), id(raw)))
    if hit is not None and hit[0] is attr and hit[1] is raw:
        return hit[2]
    return _NOT_FOUND


def remember_attr(attr: Attr, raw: Any, value: Any) -> None:
    """Remember ``value`` as what ``raw`` means for ``attr`` when ``raw`` is a constant: no
    text to evaluate in it (a number, a list of numbers), or, for a text attribute, text
    without ``{expr}`` (a padding mode is a constant too)."""
    if isinstance(raw, str):
        if attr.kind in ("str", "choice", "act"):
            constant = "{" not in raw and "}" not in raw
        else:
            constant = attr.kind == "padding" and raw in ("same", "valid")
    else:
        constant = not _holds_text(raw)
    if constant:
        _store(_CONSTANTS, (id(attr), id(raw)), (attr, raw, value))


def _holds_text(value: Any) -> bool:
    if isinstance(value, str | dict):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_text(v) for v in value)
    return False


def given_attrs(body: m.OpArgs) -> dict[str, Any]:
    """The attributes ``body`` sets (not its name, inputs or condition); do not modify."""
    hit = _GIVEN.get(id(body))
    if hit is not None and hit[0] is body:
        return hit[1]
    given = {k: getattr(body, k) for k in body.model_fields_set if k not in m.COMMON_KEYS}
    _store(_GIVEN, id(body), (body, given))
    return given


NOT_FOUND = _NOT_FOUND

#: Every memo of this module (a cache, never a source of truth: emptying them changes nothing).
MEMOS: tuple[dict[Any, Any], ...] = (_SHAPES, _CONSTANTS, _GIVEN)
