"""Counting conventions: what a report's MACs and FLOPs include. Must not import torch.

Every report states its convention. Each convention maps one layer (operator definition, its
context, cnncost's complete arithmetic) to the MACs and FLOPs it counts, or to None when it does
not count that operator at all; such operators are listed in the report with cnncost's own count,
never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnncost.errors import Problem
from cnncost.ops.registry import Arithmetic, OpContext, OpDef


@dataclass(frozen=True)
class Convention:
    name: str
    title: str
    description: str
    #: (op, ctx, complete arithmetic incl. fused activation) -> (macs, flops) or None
    count: Callable[[OpDef, OpContext, Arithmetic], tuple[int, int] | None]


def _complete(op: OpDef, ctx: OpContext, arith: Arithmetic) -> tuple[int, int]:
    return arith.macs, arith.flops


def _torchvision(op: OpDef, ctx: OpContext, arith: Arithmetic) -> tuple[int, int] | None:
    if op.family not in ("conv", "linear"):
        return None
    macs = op.arithmetic(ctx).macs
    return macs, 2 * macs


def _fvcore(op: OpDef, ctx: OpContext, arith: Arithmetic) -> tuple[int, int] | None:
    units = op.fvcore_units(ctx)
    return None if units is None else (units, 2 * units)


class ConventionUndefined(Exception):
    """A convention has no definition for an operator present in the graph."""


def _connections(op: OpDef, ctx: OpContext, arith: Arithmetic) -> tuple[int, int]:
    if op.connections is None:
        raise ConventionUndefined(op.name)
    count = op.connections(ctx)
    return count, count


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "cnncost", "cnncost complete count",
            "Every operator counts (docs/operators.md): MACs are multiply-accumulates of conv, "
            "linear and distance layers; FLOPs = 2 x MACs + every other elementary operation: "
            "bias adds, batch-norm at inference (2 per element), activations, pooling, "
            "elementwise add/multiply, normalisation and preprocessing layers.",
            _complete),
        Convention(
            "torchvision", "torchvision GFLOPS column",
            "MACs of conv and linear layers only (torchvision's documented 'GFLOPS' are these "
            "GMACs); no bias, batch-norm, activation, pooling or elementwise work. "
            "FLOPs = 2 x MACs (what torch.utils.flop_counter.FlopCounterMode reports).",
            _torchvision),
        Convention(
            "fvcore", "fvcore FlopCountAnalysis",
            "What fvcore counts, in its unit (one fused multiply-add = 1): conv and linear MACs "
            "without bias, batch-norm at inference numel x (2 with scale, else 1), layer-norm "
            "numel x 5 (4 without affine), adaptive average pooling numel of the input. fvcore "
            "skips max/avg pooling, activations, add, multiply and the other operators listed "
            "below the report. FLOPs = 2 x that count.",
            _fvcore),
        Convention(
            "connections", "LeCun et al. (1998) connections",
            "Connections as counted in 'Gradient-based learning applied to document "
            "recognition': each input-to-unit link of a conv, pooling or full layer plus one for "
            "each trainable bias; reported in both the MACs and FLOPs columns.",
            _connections),
    )
}


def get_convention(name: str) -> Convention:
    """The convention called ``name``; KeyError if unknown."""
    return CONVENTIONS[name]


def undefined_problem(convention: str, op: str, layer: str, location: object) -> Problem:
    return Problem("convention", f"convention {convention!r} does not define operator {op!r}",
                   location if location else None, layer,  # type: ignore[arg-type]
                   hint="use another --convention")
