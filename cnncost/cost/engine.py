"""The analytic cost engine: LayerGraph -> CostReport. Must not import torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnncost.cost import memory
from cnncost.cost.conventions import get_convention, undefined_problem
from cnncost.cost.counts import layer_counts
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
from cnncost.gcpause import paused
from cnncost.graph.layergraph import LayerGraph

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
                  batch: int = 1, dtype: str = "float32", layers: bool = True) -> CostReport:
    """Cost every layer of ``graph`` under ``convention`` for ``batch`` samples of ``dtype``;
    ``layers`` False: the totals only (the report's layers and blocks empty).

    Raises:
        KeyError: unknown convention or dtype (the API validates them first).
        SpecError: the convention does not define an operator present in the graph.
    """
    with paused():  # the collector off while the rows are made (cnncost.gcpause)
        return _analyze(graph, meta, convention, batch, dtype, layers)


def _analyze(graph: LayerGraph, meta: ReportMeta, convention: str, batch: int, dtype: str,
             layers: bool) -> CostReport:
    conv = get_convention(convention)
    bpe = DTYPES[dtype]
    rows: list[LayerCost] = []
    sizes: dict[str, int] = {}
    uncounted: dict[str, list[int]] = {}
    problems = []
    trainable = non_trainable = macs = flops = 0
    for node in graph:
        counts = layer_counts(node, conv)
        for op in counts.undefined:
            problems.append(undefined_problem(conv.name, op, node.name, node.location))
        for label, part_macs, part_flops in counts.uncounted:
            entry = uncounted.setdefault(label, [0, 0, 0])
            entry[0] += 1
            entry[1] += part_macs * batch
            entry[2] += part_flops * batch
        out_bytes = counts.out_numel * batch * bpe
        sizes[node.name] = out_bytes
        params_total = counts.params_trainable + counts.params_non_trainable
        if layers:
            rows.append(LayerCost.trusted(
                name=node.name, op=node.op, inputs=node.inputs, out_shape=node.out_shape,
                params_trainable=counts.params_trainable,
                params_non_trainable=counts.params_non_trainable,
                macs=counts.macs * batch, flops=counts.flops * batch, counted=counts.counted,
                activation_bytes=out_bytes,
                bytes_read=counts.in_numel * batch * bpe + params_total * bpe,
                bytes_written=out_bytes, location=node.location))
        trainable += counts.params_trainable
        non_trainable += counts.params_non_trainable
        macs += counts.macs
        flops += counts.flops
    if problems:
        raise SpecError(problems)
    totals = Totals(
        params_trainable=trainable,
        params_non_trainable=non_trainable,
        weight_bytes=(trainable + non_trainable) * bpe,
        macs=macs * batch,
        flops=flops * batch,
        activation_bytes=sum(sizes.values()),
        peak_activation_bytes=memory.peak_live_bytes(graph, sizes),
        depth=graph.depth(),
        weighted_depth=graph.depth(weighted_only=True),
        layers=len(sizes),
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
    """One row per dotted-name prefix, in order of first appearance, summing its leaf layers.

    Each layer is added to its own scope only; the scopes' sums then flow to their parents,
    innermost first, so a layer costs the same however deeply it is nested.
    """
    sums: dict[str, list[int]] = {}
    acc: list[int] = []
    scope = None
    for row in rows:
        name = row.name
        if "." not in name:
            continue
        here = name.rpartition(".")[0]
        if here != scope:
            scope = here
            acc = sums.get(here) or open_scope(sums, here, [0] * 6)
        acc[1] += 1
        acc[2] += row.params_trainable
        acc[3] += row.params_non_trainable
        acc[4] += row.macs
        acc[5] += row.flops
        acc[6] += row.activation_bytes
    for name, values in reversed(sums.items()):  # a scope was opened after its parent
        if "." in name:
            parent = sums[name.rpartition(".")[0]]
            for i in range(1, 7):
                parent[i] += values[i]
    return tuple(BlockCost(name, *values) for name, values in sums.items())


def open_scope(sums: dict[str, list[int]], scope: str, zeros: list[int]) -> list[int]:
    """The accumulator of ``scope`` (``[level, *zeros]``), opened after those of its enclosing
    scopes, so that ``sums`` lists the scopes in order of first appearance."""
    acc = sums.get(scope)
    if acc is not None:
        return acc
    missing = [scope]
    while "." in missing[-1]:
        parent = missing[-1].rpartition(".")[0]
        if parent in sums:
            break
        missing.append(parent)
    for name in reversed(missing):
        sums[name] = [name.count(".") + 1, *zeros]
    return sums[scope]
