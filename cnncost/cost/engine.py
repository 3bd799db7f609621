"""The analytic cost engine: LayerGraph -> CostReport. Must not import torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from typing import Any

from cnncost.cost import memory
from cnncost.cost.conventions import ConventionUndefined, get_convention, undefined_problem
from cnncost.cost.result import (
    BlockCost,
    ConventionInfo,
    CostReport,
    DocumentedFigure,
    LayerCost,
    Totals,
    UncountedOp,
)
from cnncost.errors import SpecError
from cnncost.graph.layergraph import LayerGraph
from cnncost.ops.activation import activation_arithmetic
from cnncost.ops.registry import Arithmetic, OpContext, get_op

#: Bytes per element of the supported dtypes.
DTYPES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


@dataclass(frozen=True)
class ReportMeta:
    """What the report says about where the graph came from."""

    model: str
    title: str = ""
    variant: str | None = None
    overrides: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    documented: tuple[DocumentedFigure, ...] = ()
    spec_file: str | None = None


def analyze_graph(graph: LayerGraph, meta: ReportMeta, *, convention: str = "cnncost",
                  batch: int = 1, dtype: str = "float32") -> CostReport:
    """Cost every layer of ``graph`` under ``convention`` for ``batch`` samples of ``dtype``.

    Raises:
        KeyError: unknown convention or dtype (the API validates them first).
        SpecError: the convention does not define an operator present in the graph.
    """
    conv = get_convention(convention)
    bpe = DTYPES[dtype]
    sizes = memory.tensor_bytes(graph, batch, bpe)
    rows: list[LayerCost] = []
    uncounted: dict[str, list[int]] = {}
    problems = []
    for node in graph:
        opdef = get_op(node.op)
        ctx = node.context
        params = opdef.params(ctx)
        parts: list[tuple[str, Any, OpContext, Arithmetic]] = [
            (node.op, opdef, ctx, opdef.arithmetic(ctx))]
        act = node.attrs.get("act")
        if act:
            act_def = get_op(act)
            act_ctx = OpContext({}, (node.out_shape,), node.out_shape)
            parts.append((f"{act} (fused)", act_def, act_ctx,
                          activation_arithmetic(act, node.out_shape)))
        macs = flops = 0
        counted = True
        for label, part_def, part_ctx, arith in parts:
            try:
                result = conv.count(part_def, part_ctx, arith)
            except ConventionUndefined:
                problems.append(undefined_problem(conv.name, part_def.name, node.name,
                                                  node.location))
                continue
            if result is None:
                if label == node.op:
                    counted = False
                if arith.flops:
                    entry = uncounted.setdefault(label, [0, 0, 0])
                    entry[0] += 1
                    entry[1] += arith.macs * batch
                    entry[2] += arith.flops * batch
                continue
            macs += result[0]
            flops += result[1]
        in_bytes = sum(prod(s) for s in node.in_shapes) * batch * bpe
        rows.append(LayerCost(
            name=node.name, op=node.op, inputs=node.inputs, out_shape=node.out_shape,
            params_trainable=params.trainable, params_non_trainable=params.non_trainable,
            macs=macs * batch, flops=flops * batch, counted=counted,
            activation_bytes=sizes[node.name], bytes_read=in_bytes + params.total * bpe,
            bytes_written=sizes[node.name], location=node.location))
    if problems:
        raise SpecError(problems)
    totals = Totals(
        params_trainable=sum(r.params_trainable for r in rows),
        params_non_trainable=sum(r.params_non_trainable for r in rows),
        weight_bytes=sum(r.params_total for r in rows) * bpe,
        macs=sum(r.macs for r in rows),
        flops=sum(r.flops for r in rows),
        activation_bytes=sum(sizes.values()),
        peak_activation_bytes=memory.peak_live_bytes(graph, sizes),
        depth=graph.depth(),
        weighted_depth=graph.depth(weighted_only=True),
        layers=len(rows),
        input_shapes=tuple(graph.node(n).out_shape for n in graph.input_names),
        output_shapes=tuple(graph.node(n).out_shape for n in graph.outputs),
    )
    return CostReport(
        model=meta.model, title=meta.title, variant=meta.variant,
        overrides=dict(meta.overrides or {}),
        convention=ConventionInfo(conv.name, conv.title, conv.description),
        batch=batch, dtype=dtype, bytes_per_element=bpe, layers=tuple(rows),
        blocks=aggregate_blocks(rows), totals=totals,
        uncounted=tuple(UncountedOp(op, n, m, f) for op, (n, m, f) in sorted(uncounted.items())),
        documented=meta.documented, spec_file=meta.spec_file, params=dict(meta.params or {}))


def aggregate_blocks(rows: list[LayerCost]) -> tuple[BlockCost, ...]:
    """One row per dotted-name prefix, in order of first appearance, summing its leaf layers."""
    sums: dict[str, list[int]] = {}
    for row in rows:
        parts = row.name.split(".")
        for level in range(1, len(parts)):
            block = ".".join(parts[:level])
            acc = sums.setdefault(block, [level, 0, 0, 0, 0, 0, 0])
            acc[1] += 1
            acc[2] += row.params_trainable
            acc[3] += row.params_non_trainable
            acc[4] += row.macs
            acc[5] += row.flops
            acc[6] += row.activation_bytes
    return tuple(BlockCost(name, *values) for name, values in sums.items())
