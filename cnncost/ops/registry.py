"""The operator registry: one definition per operator, shape-only formulas. Must not import torch.

Every operator the spec language knows is registered here exactly once (a duplicate raises), with
the functions that give its output shape, parameters, arithmetic and per-convention counts. An
operator that is not registered is an error at load time, never a silent zero.

Shapes are per sample (the batch dimension is excluded and applied by the cost engine): a feature
map is ``(C, H, W)`` (NCHW without N), a vector is ``(F,)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

from cnncost.errors import OpArgumentError

Shape = tuple[int, ...]

#: Sentinel default for a required attribute.
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

#: Attribute kinds understood by the spec layer (validation) and the expander (normalisation):
#: int, float, bool, str, choice (one of ``choices``), pair (int or [a, b] -> (a, b)),
#: sides (int, [v, h] or [t, b, l, r] -> (t, b, l, r)), padding (sides or "same"/"valid"),
#: ints (list of int), floats (list of float), table (list of lists of int),
#: act (an activation operator's name, or null for none).
ATTR_KINDS = ("int", "float", "bool", "str", "choice", "pair", "sides", "padding", "ints",
              "floats", "table", "act")


@dataclass(frozen=True)
class Attr:
    """One operator attribute: its kind, default (``REQUIRED`` if none) and documentation."""

    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.kind in ATTR_KINDS, self.kind

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Params:
    """Parameter counts of one layer."""

    trainable: int = 0
    non_trainable: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def __add__(self, other: Params) -> Params:
        return Params(self.trainable + other.trainable, self.non_trainable + other.non_trainable)


@dataclass(frozen=True)
class Arithmetic:
    """Arithmetic of one layer for one sample.

    ``macs`` are multiply-accumulates (conv, linear, matmul-like work); ``other_flops`` is every
    other elementary floating-point operation (bias add, compare, exp, divide, ...), one each.
    The complete FLOP count is ``2 * macs + other_flops``.
    """

    macs: int = 0
    other_flops: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.other_flops

    def __add__(self, other: Arithmetic) -> Arithmetic:
        return Arithmetic(self.macs + other.macs, self.other_flops + other.other_flops)


@dataclass(frozen=True)
class OpContext:
    """What a formula sees: evaluated attributes, input shapes and (after inference) output shape."""

    attrs: Mapping[str, Any]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape = ()

    @property
    def in_shape(self) -> Shape:
        """The first (for most operators the only) input shape."""
        return self.in_shapes[0]

    @property
    def out_numel(self) -> int:
        return prod(self.out_shape)

    @property
    def in_numel(self) -> int:
        return prod(self.in_shapes[0])


def _no_params(ctx: OpContext) -> Params:
    return Params()


def _no_arithmetic(ctx: OpContext) -> Arithmetic:
    return Arithmetic()


@dataclass(frozen=True)
class OpDef:
    """The definition of one operator.

    Attributes:
        name: the operator's name in specs (``conv2d``).
        doc: one paragraph for ``cnncost schema`` and the README: formula and what is not modelled.
        family: conv, linear, norm, activation, pool, elementwise, shape, preprocess, io.
        attrs: the attributes a spec may set (``name``, ``input(s)``, ``when`` are common to all).
        infer: output shape from ``ctx.attrs`` and ``ctx.in_shapes``; raises ShapeError /
            OpArgumentError.
        params: trainable / non-trainable parameter counts.
        arithmetic: MACs and other FLOPs for one sample (cnncost's complete convention).
        arity: (min, max) number of inputs; max None means unbounded.
        weighted: a weighted layer (counts for weighted depth: conv / dense).
        fvcore: what fvcore's FlopCountAnalysis counts for one layer of this operator (None
            for a layer it does not count, as when ``torch_op`` names an op fvcore has no
            handle for), or None when fvcore never counts the operator (reports list such
            operators and layers, never hide them).
        connections: LeCun et al. (1998)'s connection count, or None where undefined.
        zero_cost: for operators that cost nothing at inference, the reason (documented).
        aliases: other names a spec may use (``dense`` for ``linear``); nodes carry ``name``.
        memory: the memory rule: replays, on a ``cnncost.memory.program.Prog``, what the torch
            bridge's module of one node allocates, saves for the backward and frees, and returns
            the node's output tensor (every operator has one: a test enforces it).
    """

    name: str
    doc: str
    family: str
    infer: Callable[[OpContext], Shape]
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    params: Callable[[OpContext], Params] = _no_params
    arithmetic: Callable[[OpContext], Arithmetic] = _no_arithmetic
    arity: tuple[int, int | None] = (1, 1)
    weighted: bool = False
    fvcore: Callable[[OpContext], int | None] | None = None
    connections: Callable[[OpContext], int] | None = None
    zero_cost: str | None = None
    aliases: tuple[str, ...] = ()
    memory: Callable[[Any], Any] | None = None

    def context(self, attrs: Mapping[str, Any], in_shapes: tuple[Shape, ...],
                out_shape: Shape = ()) -> OpContext:
        return OpContext(attrs, in_shapes, out_shape)

    def fvcore_units(self, ctx: OpContext) -> int | None:
        """fvcore's count for one layer (one sample), or None where fvcore does not count it."""
        return None if self.fvcore is None else self.fvcore(ctx)


_REGISTRY: dict[str, OpDef] = {}
_ALIASES: dict[str, str] = {}


def register(op: OpDef) -> OpDef:
    """Register an operator; registering a name (or alias) twice raises ValueError."""
    for name in (op.name, *op.aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"operator {name!r} is registered twice")
    _REGISTRY[op.name] = op
    _ALIASES.update({alias: op.name for alias in op.aliases})
    return op


def canonical_name(name: str) -> str | None:
    """The registered name for ``name`` or one of its aliases; None if unknown."""
    _load_families()
    if name in _REGISTRY:
        return name
    return _ALIASES.get(name)


def all_names() -> tuple[str, ...]:
    """Every name a spec may use for an operator (aliases included)."""
    _load_families()
    return (*_REGISTRY, *_ALIASES)


def registered() -> int:
    """How many names are registered (operators and aliases): names are only ever added, so a
    change of this count is a change of what a spec may name."""
    _load_families()
    return len(_REGISTRY) + len(_ALIASES)


def get_op(name: str) -> OpDef:
    """The operator called ``name``; KeyError if there is none."""
    _load_families()
    return _REGISTRY[name]


def all_ops() -> Mapping[str, OpDef]:
    """Every registered operator, by name, in registration order."""
    _load_families()
    return dict(_REGISTRY)


_FAMILIES_LOADED = False


def _load_families() -> None:
    # Importing the package registers every family (one module each). Asked for every layer
    # of every expansion: the import statement runs once, a flag answers after that.
    global _FAMILIES_LOADED
    if not _FAMILIES_LOADED:
        import cnncost.ops  # noqa: F401

        _FAMILIES_LOADED = True


# ---------------------------------------------------------------------------------------------
# Helpers shared by the operator families.


def pair(value: Any) -> tuple[int, int]:
    """``k`` or ``[kh, kw]`` -> ``(kh, kw)``."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    raise OpArgumentError(f"expected an integer or a pair [h, w], got {value!r}")


def sides(value: Any) -> tuple[int, int, int, int]:
    """``p``, ``[ph, pw]``, ``[[t, b], [l, r]]`` or ``[t, b, l, r]`` -> ``(t, b, l, r)``."""
    if isinstance(value, int):
        return (value, value, value, value)
    if isinstance(value, (list, tuple)):
        flat = list(value)
        if len(flat) == 2 and all(isinstance(v, (list, tuple)) for v in flat):
            flat = [*flat[0], *flat[1]]
            if len(flat) == 4 and all(isinstance(v, int) for v in flat):
                return (flat[0], flat[1], flat[2], flat[3])
        elif len(flat) == 2 and all(isinstance(v, int) for v in flat):
            return (flat[0], flat[0], flat[1], flat[1])
        elif len(flat) == 4 and all(isinstance(v, int) for v in flat):
            return (flat[0], flat[1], flat[2], flat[3])
    raise OpArgumentError(
        f"expected p, [vertical, horizontal], [top, bottom, left, right] or [[t, b], [l, r]], "
        f"got {value!r}")


def positive(name: str, value: int) -> int:
    """Raise OpArgumentError unless ``value`` > 0."""
    if value <= 0:
        raise OpArgumentError(f"{name} must be positive, got {value}")
    return value
