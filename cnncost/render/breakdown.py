"""Where the cost goes: a report cut into the units shown at one block depth. Must not import torch.

At depth ``d`` the units are the rows the table shows as leaves with ``--depth d``: every block at
``d`` dotted levels (collapsed, with its sums from ``report.blocks``) and every layer above that
level (its row from ``report.layers``). They partition the model, so each metric of the units adds
up to the report's total. The numbers are the report's; nothing here counts anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.cost.result import CostReport
from cnncost.report.table import Row, report_rows


@dataclass(frozen=True)
class Unit:
    """A collapsed block or a layer: one bar of a chart, one node of a drawing."""

    name: str
    kind: str  # "block" or "layer"
    op: str  # "" for a block
    layers: int
    params_total: int
    macs: int
    flops: int
    activation_bytes: int


def max_depth(report: CostReport) -> int:
    """Dotted levels of the deepest layer name: the depth at which every layer shows."""
    return max((layer.name.count(".") + 1 for layer in report.layers), default=1)


def units_at(report: CostReport, depth: int | None) -> list[Unit]:
    """The units at ``depth`` (``None``: every layer), in the order of the forward pass.

    Raises:
        UsageError: ``depth`` is below 1.
    """
    return [_unit(row) for row in report_rows(report, depth)
            if row.kind == "layer" or row.collapsed]


def _unit(row: Row) -> Unit:
    return Unit(row.name, row.kind, row.op, row.layers, row.params_total, row.macs, row.flops,
                row.activation_bytes)


def chart_depth(report: CostReport, most: float = 0.6) -> int:
    """The shallowest depth at which no unit holds more than ``most`` of the layers (DenseNet's
    ``features``, which holds them all at depth 1, opens up), else every layer."""
    deepest = max_depth(report)
    for depth in range(1, deepest):
        if max(u.layers for u in units_at(report, depth)) <= most * len(report.layers):
            return depth
    return deepest


def drawing_depth(report: CostReport, max_nodes: int = 150) -> int:
    """The deepest depth whose drawing has at most ``max_nodes`` nodes (at least 1)."""
    best = 1
    for depth in range(1, max_depth(report) + 1):
        if len(units_at(report, depth)) > max_nodes:
            break
        best = depth
    return best
