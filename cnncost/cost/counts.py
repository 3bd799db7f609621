"""One layer's counts under a counting convention, memoised. Must not import torch.

A layer's parameters, arithmetic and convention counts are functions of its operator, its
attributes, its input shapes and its output shape only (the formulas are shape-only), so layers
that agree on these share one computation: the 36 identical bottlenecks of ResNet-152's third
stage, a chain of equal convolutions, the same block in every variant of a zoo or every point
of a sweep that leaves it unchanged. The memo holds per-sample counts (the batch and dtype are
applied by the engine) and keeps the operator and convention objects it was computed with, so
that a re-registered operator or another convention never reads a stale entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from cnncost.cost.conventions import Convention, ConventionUndefined
from cnncost.graph.layergraph import LayerNode
from cnncost.ops.activation import activation_arithmetic
from cnncost.ops.registry import OpContext, OpDef, get_op

#: Entries the memo holds before it starts again (a bound on its memory, not a tuning knob: a
#: sweep of a few hundred thousand distinct layers recomputes some of them).
MEMO_SIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class LayerCounts:
    """What one layer counts for one sample under one convention.

    Attributes:
        params_trainable, params_non_trainable: the layer's parameters.
        macs, flops: what the convention counts (the fused activation included).
        counted: False when the convention does not count the layer's own operator.
        uncounted: (label, macs, flops) of each part the convention leaves out that has
            arithmetic (the operator, or ``"<act> (fused)"``), cnncost's complete count.
        undefined: the operators of the layer the convention does not define.
        in_numel, out_numel: elements of the inputs (together) and of the output.
    """

    params_trainable: int
    params_non_trainable: int
    macs: int
    flops: int
    counted: bool
    uncounted: tuple[tuple[str, int, int], ...]
    undefined: tuple[str, ...]
    in_numel: int
    out_numel: int


_MEMO: dict[tuple[Any, ...], tuple[OpDef, Convention, LayerCounts]] = {}


def layer_counts(node: LayerNode, convention: Convention) -> LayerCounts:
    """The counts of ``node`` under ``convention``, computed once per distinct layer.

    Raises:
        Whatever the operator's formulas raise (nothing is memoised then).
    """
    opdef = get_op(node.op)
    try:
        # an expanded layer's signature stands for its operator, attributes and shapes
        key = ((node.signature, id(convention)) if node.signature is not None else
               (node.op, tuple(node.attrs.items()), node.in_shapes, node.out_shape,
                id(convention)))
        hit = _MEMO.get(key)
    except TypeError:  # an unhashable attribute (a graph built by hand): not memoised
        return compute_counts(node, opdef, convention)
    if hit is not None and hit[0] is opdef and hit[1] is convention:
        return hit[2]
    counts = compute_counts(node, opdef, convention)
    if len(_MEMO) >= MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = (opdef, convention, counts)  # the objects stay alive: their ids stay theirs
    return counts


def compute_counts(node: LayerNode, opdef: OpDef, convention: Convention) -> LayerCounts:
    """The counts of ``node`` (``layer_counts`` without the memo)."""
    ctx = node.context
    params = opdef.params(ctx)
    parts: list[tuple[str, OpDef, OpContext, Any]] = [
        (node.op, opdef, ctx, opdef.arithmetic(ctx))]
    act = node.attrs.get("act")
    if act:
        parts.append((f"{act} (fused)", get_op(act), OpContext({}, (node.out_shape,),
                                                               node.out_shape),
                      activation_arithmetic(act, node.out_shape)))
    macs = flops = 0
    counted = True
    uncounted: list[tuple[str, int, int]] = []
    undefined: list[str] = []
    for label, part_def, part_ctx, arith in parts:
        try:
            result = convention.count(part_def, part_ctx, arith)
        except ConventionUndefined:
            undefined.append(part_def.name)
            continue
        if result is None:
            if label == node.op:
                counted = False
            if arith.flops:
                uncounted.append((label, arith.macs, arith.flops))
            continue
        macs += result[0]
        flops += result[1]
    return LayerCounts(params.trainable, params.non_trainable, macs, flops, counted,
                       tuple(uncounted), tuple(undefined),
                       sum(prod(s) for s in node.in_shapes), prod(node.out_shape))
