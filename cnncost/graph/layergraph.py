"""The expanded layer graph: frozen nodes behind a typed networkx wrapper. Must not import torch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import networkx as nx

from cnncost.errors import Location
from cnncost.ops.registry import OpContext, OpDef, Shape, get_op


@dataclass(frozen=True)
class LayerNode:
    """One layer of the expanded graph.

    Attributes:
        name: dotted hierarchical name (``inception_3a.branch_5x5.conv``); the torch bridge uses
            the same string as the module's qualified name.
        op: registered operator name.
        attrs: evaluated, normalised attributes (read-only mapping).
        inputs: names of the producing nodes, in argument order.
        in_shapes: per-sample input shapes, aligned with ``inputs``.
        out_shape: per-sample output shape.
        location: where the layer is written in the spec (the block definition for block bodies).
        call_stack: locations of the block calls that led here, outermost first.
    """

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    location: Location | None = None
    call_stack: tuple[Location, ...] = ()

    @property
    def opdef(self) -> OpDef:
        return get_op(self.op)

    @property
    def context(self) -> OpContext:
        return OpContext(self.attrs, self.in_shapes, self.out_shape)

    @property
    def scope(self) -> str:
        """The enclosing block's dotted name ('' at top level)."""
        return self.name.rpartition(".")[0]


def freeze_attrs(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(attrs))


class GraphError(ValueError):
    """Nodes that do not make a graph: a name twice, an input or output that is no node, or a
    cycle. The expander never builds such a graph; code that builds one by hand can."""


class LayerGraph:
    """A DAG of LayerNodes in a deterministic topological order (the order they were expanded)."""

    def __init__(self, name: str, nodes: list[LayerNode], outputs: tuple[str, ...]) -> None:
        """Raises: GraphError: the nodes do not make a DAG (see ``GraphError``)."""
        self.name = name
        self._nodes: dict[str, LayerNode] = {}
        self._g = nx.DiGraph()
        for index, node in enumerate(nodes):
            if node.name in self._nodes:
                raise GraphError(f"two nodes are named {node.name!r}")
            self._nodes[node.name] = node
            self._g.add_node(node.name, index=index)
        for node in nodes:
            weighted = int(get_op(node.op).weighted)
            for src in node.inputs:
                if src not in self._nodes:
                    raise GraphError(f"{node.name!r} reads {src!r}, which is not a node")
                # an edge carries its target's weight, for the longest-path depths
                self._g.add_edge(src, node.name, nodes=1, weighted=weighted)
        missing = [o for o in outputs if o not in self._nodes]
        if missing:
            raise GraphError(f"outputs {missing} are not nodes")
        self.outputs = outputs
        order = {n: i for i, n in enumerate(self._nodes)}
        # networkx's lexicographic sort keyed on expansion order: deterministic, and a cycle
        # (impossible from the expander) raises NetworkXUnfeasible
        try:
            self._topo = tuple(nx.lexicographical_topological_sort(self._g, key=order.__getitem__))
        except nx.NetworkXUnfeasible:
            raise GraphError(f"the nodes of {name!r} make a cycle") from None
        self._position = {n: i for i, n in enumerate(self._topo)}

    # -- access -----------------------------------------------------------------------------
    def node(self, name: str) -> LayerNode:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[LayerNode]:
        return (self._nodes[n] for n in self._topo)

    def topo_order(self) -> tuple[str, ...]:
        return self._topo

    def inputs_of(self, name: str) -> tuple[str, ...]:
        return self._nodes[name].inputs

    def consumers_of(self, name: str) -> tuple[str, ...]:
        """The nodes that read ``name``, in topological order."""
        return tuple(sorted(self._g.successors(name), key=self._position.__getitem__))

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self if n.op == "input")

    # -- structure --------------------------------------------------------------------------
    def longest_path(self, weighted_only: bool = False) -> list[str]:
        """Nodes on a longest path: by node count, or by weighted (conv/dense) layers.

        Edges carry their target node's weight; every maximal path starts at an input node
        (weight 0), so networkx's edge-weighted ``dag_longest_path`` is the node-weighted one.
        """
        if not self._g.number_of_edges():
            return list(self._topo[:1])
        weight = "weighted" if weighted_only else "nodes"
        return list(nx.dag_longest_path(self._g, weight=weight, topo_order=self._topo))

    def depth(self, weighted_only: bool = False) -> int:
        """Topological depth (nodes on the longest path, input included) or weighted depth."""
        path = self.longest_path(weighted_only)
        if weighted_only:
            return sum(self._nodes[n].opdef.weighted for n in path)
        return len(path)

    @property
    def nx_graph(self) -> nx.DiGraph:
        """A read-only view of the underlying networkx graph (node keys are dotted names)."""
        return self._g.copy(as_view=True)
