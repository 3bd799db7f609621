"""The architecture as a drawing: nodes, edges and nested clusters at one block depth.

Must not import torch or any rendering library. Both the Graphviz drawing (``render.dot``) and
the HTML report's graph draw this structure; the HTML page computes the same one in the browser
when a block is opened or closed, and a browser test holds the two equal.

At depth ``d`` a block at ``d`` dotted levels is one node (its sums from ``report.blocks``), a
layer above that level is a node of its own, and every block above ``d`` levels that holds a node
is a cluster (a box around its nodes). An edge joins two nodes when a layer of one reads a layer
of the other; edges inside one collapsed block disappear.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.cost.result import CostReport
from cnncost.ops.registry import get_op
from cnncost.render.breakdown import units_at
from cnncost.report.table import enclosing_blocks

#: Colour of each operator family (``OpDef.family``), shared by the drawings and the HTML page.
FAMILY_COLOURS = {
    "io": "#e5e7eb", "preprocess": "#e5e7eb", "conv": "#bfdbfe", "linear": "#fecaca",
    "norm": "#e9d5ff", "activation": "#bbf7d0", "pool": "#fed7aa", "elementwise": "#fef08a",
    "shape": "#f3f4f6", "resample": "#a5f3fc", "block": "#ffffff", "other": "#f3f4f6",
}


def family_of(op: str) -> str:
    """The operator family (``conv``, ``pool``...), ``block`` for a block, ``other`` if unknown."""
    if not op:
        return "block"
    try:
        return get_op(op).family
    except KeyError:
        return "other"


@dataclass(frozen=True)
class Node:
    name: str  # full dotted name: a layer or a collapsed block
    label: str  # the name inside its cluster
    kind: str  # "layer" or "block"
    op: str  # "" for a block
    family: str
    out_shape: tuple[int, ...]  # a block's: its last layer's, in schedule order
    layers: int
    params_total: int
    macs: int
    activation_bytes: int
    cluster: str  # the innermost open block around it, "" at top level


@dataclass(frozen=True)
class Cluster:
    name: str
    label: str  # the name inside its parent cluster
    parent: str  # "" at top level
    layers: int


@dataclass(frozen=True)
class Drawing:
    model: str
    title: str
    depth: int | None  # None: every layer
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]  # (producer node, consumer node), first-seen order
    clusters: tuple[Cluster, ...]  # parents before children


def relative(name: str, parent: str) -> str:
    return name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name


def block_shapes(report: CostReport) -> dict[str, tuple[int, ...]]:
    """Each block's output shape, drawn on its closed node: its last layer's in schedule order."""
    blocks = {b.name for b in report.blocks}
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in report.layers:
        for block in enclosing_blocks(layer.name, blocks):
            shapes[block] = layer.out_shape
    return shapes


def drawing_of(report: CostReport, depth: int | None = None) -> Drawing:
    """The nodes, edges and clusters of ``report`` at ``depth`` (``None``: every layer).

    Raises:
        UsageError: ``depth`` is below 1.
    """
    units = units_at(report, depth)
    shown = {u.name for u in units}
    blocks = {b.name: b for b in report.blocks}
    node_of: dict[str, str] = {}  # layer -> the node that shows it
    shapes = {**block_shapes(report), **{x.name: x.out_shape for x in report.layers}}
    for layer in report.layers:
        owner = layer.name
        if layer.name not in shown:
            owner = next(b for b in enclosing_blocks(layer.name, blocks) if b in shown)
        node_of[layer.name] = owner
    clusters: dict[str, Cluster] = {}
    nodes = []
    for unit in units:
        around = [b for b in enclosing_blocks(unit.name, blocks) if b != unit.name]
        parent = ""
        for block in around:
            if block not in clusters:
                clusters[block] = Cluster(block, relative(block, parent), parent,
                                          blocks[block].layers)
            parent = block
        nodes.append(Node(unit.name, relative(unit.name, parent), unit.kind, unit.op,
                          family_of(unit.op), shapes[unit.name], unit.layers,
                          unit.params_total, unit.macs, unit.activation_bytes, parent))
    edges: dict[tuple[str, str], None] = {}
    for layer in report.layers:
        for source in layer.inputs:
            edge = (node_of[source], node_of[layer.name])
            if edge[0] != edge[1]:
                edges[edge] = None
    return Drawing(report.model, report.title, depth, tuple(nodes), tuple(edges),
                   tuple(clusters.values()))
