"""The expanded layer graph: frozen nodes behind a typed networkx wrapper. Must not import torch.

networkx is imported when a graph first needs it (a graph built by hand, out of order; the
``nx_graph`` view): an analysis needs only the expansion order, the consumers of each node and
the longest paths, which this module keeps itself, and importing networkx is a fifth of a
second of every ``cnncost report``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cnncost.errors import Location
from cnncost.ops.registry import OpContext, OpDef, Shape, get_op

if TYPE_CHECKING:
    import networkx as nx


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
        signature: what its shape and counts depend on (operator, attributes, input shapes),
            hashed once and shared by the layers configured alike
            (``cnncost.graph.memo.Signature``); None for a node built by hand. A node copied
            with other attributes or shapes (``dataclasses.replace``) must be given
            ``signature=None``, or its counts are those of the original.
    """

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    location: Location | None = None
    call_stack: tuple[Location, ...] = ()
    signature: Hashable | None = field(default=None, compare=False, repr=False)

    @classmethod
    def trusted(cls, name: str, op: str, attrs: Mapping[str, Any], inputs: tuple[str, ...],
                in_shapes: tuple[Shape, ...], out_shape: Shape, location: Location | None,
                call_stack: tuple[Location, ...], signature: Hashable | None) -> LayerNode:
        """A node from every field, made without the frozen dataclass's ``__init__`` (one
        ``object.__setattr__`` per field, a tenth of an expansion): for the expander and its
        replays, which give every field. Equal to ``LayerNode(...)`` of the same fields
        (tests/graph/test_expand.py)."""
        node = object.__new__(cls)
        node.__dict__.update(name=name, op=op, attrs=attrs, inputs=inputs, in_shapes=in_shapes,
                             out_shape=out_shape, location=location, call_stack=call_stack,
                             signature=signature)
        return node

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
        for node in nodes:
            if node.name in self._nodes:
                raise GraphError(f"two nodes are named {node.name!r}")
            self._nodes[node.name] = node
        order = {n: i for i, n in enumerate(self._nodes)}
        consumers: dict[str, list[str]] = {}
        in_order = True
        for node in nodes:
            for src in dict.fromkeys(node.inputs):
                if src not in order:
                    raise GraphError(f"{node.name!r} reads {src!r}, which is not a node")
                consumers.setdefault(src, []).append(node.name)
                in_order = in_order and order[src] < order[node.name]
        missing = [o for o in outputs if o not in self._nodes]
        if missing:
            raise GraphError(f"outputs {missing} are not nodes")
        self.outputs = outputs
        self._g: nx.DiGraph | None = None  # built on first use: most analyses never need it
        if in_order:
            # the expander's order (every node after its inputs) is what networkx's
            # lexicographic sort keyed on that order returns: no need to sort
            self._topo = tuple(self._nodes)
        else:
            # a deterministic order for a graph built by hand; a cycle raises NetworkXUnfeasible
            import networkx as nx

            try:
                self._topo = tuple(nx.lexicographical_topological_sort(
                    self._graph(), key=order.__getitem__))
            except nx.NetworkXUnfeasible:
                raise GraphError(f"the nodes of {name!r} make a cycle") from None
        self._position = {n: i for i, n in enumerate(self._topo)}
        # the nodes themselves in that order: iterating needs no lookup by name
        self._ordered = tuple(self._nodes[n] for n in self._topo) if not in_order else tuple(
            self._nodes.values())
        # consumers were met in expansion order: the topological order unless sorted above
        self._consumers = {n: tuple(c) if in_order else tuple(
            sorted(c, key=self._position.__getitem__)) for n, c in consumers.items()}
        self._paths: dict[bool, tuple[str, ...]] = {}
        self._weighted_depth = 0
        self._inputs: tuple[str, ...] | None = None

    def _graph(self) -> nx.DiGraph:
        """The networkx graph: one node per layer (with its expansion ``index``), one edge per
        input (carrying its target's weight: ``nodes`` 1, ``weighted`` 1 for conv/dense)."""
        if self._g is None:
            import networkx as nx

            g: nx.DiGraph = nx.DiGraph()
            for index, name in enumerate(self._nodes):
                g.add_node(name, index=index)
            for node in self._nodes.values():
                weighted = int(get_op(node.op).weighted)
                for src in node.inputs:
                    g.add_edge(src, node.name, nodes=1, weighted=weighted)
            self._g = g
        return self._g

    # -- access -----------------------------------------------------------------------------
    def node(self, name: str) -> LayerNode:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[LayerNode]:
        return iter(self._ordered)

    def topo_order(self) -> tuple[str, ...]:
        return self._topo

    def inputs_of(self, name: str) -> tuple[str, ...]:
        return self._nodes[name].inputs

    def consumers_of(self, name: str) -> tuple[str, ...]:
        """The nodes that read ``name``, in topological order.

        Raises: KeyError: ``name`` is not a node.
        """
        if name not in self._nodes:
            raise KeyError(name)
        return self._consumers.get(name, ())

    @property
    def input_names(self) -> tuple[str, ...]:
        if self._inputs is None:
            self._inputs = tuple(n.name for n in self if n.op == "input")
        return self._inputs

    # -- structure --------------------------------------------------------------------------
    def longest_path(self, weighted_only: bool = False) -> list[str]:
        """Nodes on a longest path: by node count, or by weighted (conv/dense) layers.

        A dynamic programme over the topological order (ties go to the earliest node, as with
        networkx's ``dag_longest_path``): networkx's version builds a list of candidates per node
        and a graph of 100,000 layers, or a sweep of 10,000 networks, pays for it.
        """
        if not self._paths:
            self._paths, self._weighted_depth = self._longest()
        return list(self._paths[weighted_only])

    def _longest(self) -> tuple[dict[bool, tuple[str, ...]], int]:
        """Both longest paths (by node count: False; by weighted layers: True), in one pass, and
        the weighted layers on the second."""
        if not self._ordered:
            return {False: (), True: ()}, 0
        best: dict[str, tuple[int, int]] = {}  # (nodes, weighted layers) to here
        back: dict[str, tuple[str | None, str | None]] = {}
        weights: dict[str, int] = {}  # per operator: one registry lookup each, not one per node
        for node in self._ordered:
            weight = weights.get(node.op)
            if weight is None:
                weight = weights[node.op] = int(get_op(node.op).weighted)
            count = weighted = 0
            by_count = by_weight = None
            for src in node.inputs:
                c, w = best[src]
                if c > count:
                    count, by_count = c, src
                if w > weighted:
                    weighted, by_weight = w, src
            name = node.name
            best[name] = (count + 1, weighted + weight)
            back[name] = (by_count, by_weight)
        paths = {}
        for which, index in ((False, 0), (True, 1)):
            end, top = self._topo[0], -1
            for name in self._topo:  # the first of the longest
                if best[name][index] > top:
                    end, top = name, best[name][index]
            path = []
            at: str | None = end
            while at is not None:
                path.append(at)
                at = back[at][index]
            paths[which] = tuple(reversed(path))
        return paths, best[paths[True][-1]][1]

    def depth(self, weighted_only: bool = False) -> int:
        """Topological depth (nodes on the longest path, input included) or weighted depth."""
        path = self.longest_path(weighted_only)
        return self._weighted_depth if weighted_only else len(path)

    @property
    def nx_graph(self) -> nx.DiGraph:
        """A read-only view of the underlying networkx graph (node keys are dotted names)."""
        return self._graph().copy(as_view=True)
