"""LayerGraph -> nn.Module whose module tree mirrors the dotted node names. Imports torch.

``to_module(graph)`` builds one leaf module per node (``cnncost.bridge.builders``) and files it
under its dotted name: ``inception_3a.branch_5x5.conv`` is ``model.inception_3a.branch_5x5.conv``
and its ``named_modules()`` name is exactly the node name, so fvcore's per-module counts join the
analytic rows by name. Intermediate scopes are plain ``Scope`` containers that are never called.

The forward follows the graph: nodes run in the graph's topological order, each reading its
inputs by name; a tensor is dropped after its last consumer and after the last node of every
dotted scope that reads it (a block keeps what it was called with until it returns, as nested
nn.Modules do: ``cnncost.graph.scopes``; the eager memory model assumes the same), and the graph
outputs are returned (one tensor, or a tuple in ``graph.outputs`` order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch import Tensor, nn

from cnncost.bridge.builders import build_layer
from cnncost.graph.layergraph import LayerGraph
from cnncost.graph.scopes import run_schedule

#: ``around(name, call)`` wraps one node's call (``call()`` runs the node and returns its output);
#: the profiler times nodes with it.
Around = Callable[[str, Callable[[], Tensor]], Tensor]


class Scope(nn.Module):
    """A container for the nodes of one dotted scope; never called (no forward of its own)."""


def _attach(root: nn.Module, name: str, module: nn.Module) -> None:
    """File ``module`` under the dotted ``name``, creating Scope containers on the way.

    Written to ``_modules`` directly: node names such as ``eval`` or ``type`` are legal in a spec
    but rejected by ``add_module`` because nn.Module has attributes of that name.
    """
    parent = root
    *scopes, leaf = name.split(".")
    if any(not part for part in (*scopes, leaf)):
        raise ValueError(f"node name {name!r} has an empty dotted part")
    for part in scopes:
        child = parent._modules.get(part)
        if child is None:
            child = Scope()
            parent._modules[part] = child
        parent = child
    previous = parent._modules.get(leaf)
    if isinstance(previous, Scope):  # nodes under this name came first: adopt them
        module._modules.update(previous._modules)
    elif previous is not None:
        raise ValueError(f"two modules for node {name!r}")
    parent._modules[leaf] = module


class GraphModule(nn.Module):
    """The module of a LayerGraph; see the module docstring."""

    def __init__(self, graph: LayerGraph) -> None:
        super().__init__()
        self.graph_name = graph.name
        self.input_names: tuple[str, ...] = graph.input_names
        self.output_names: tuple[str, ...] = tuple(graph.outputs)
        schedule = run_schedule(graph)
        self.steps: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
            (name, graph.inputs_of(name)) for name in schedule.order)
        #: per step, the values read for the last time there, and those whose last enclosing
        #: block ends there (see cnncost.graph.scopes)
        self.frees: tuple[tuple[str, ...], ...] = schedule.frees
        self.scope_frees: tuple[tuple[str, ...], ...] = schedule.scope_frees
        leaves: dict[str, nn.Module] = {}
        for node in graph:
            module = build_layer(node)
            _attach(self, node.name, module)
            leaves[node.name] = module
        # A plain dict (not a ModuleDict): the modules are registered once, under their names.
        self.__dict__["leaves"] = leaves

    def leaf(self, name: str) -> nn.Module:
        """The module of node ``name``."""
        leaves: dict[str, nn.Module] = self.__dict__["leaves"]
        return leaves[name]

    def named_leaves(self) -> Iterator[tuple[str, nn.Module]]:
        """(node name, module) in topological order."""
        for name, _ in self.steps:
            yield name, self.leaf(name)

    def forward(self, *inputs: Tensor) -> Any:
        return self.run(inputs)

    def run(self, inputs: tuple[Tensor, ...], around: Around | None = None) -> Any:
        """Run the graph on ``inputs`` (one tensor per graph input, in ``input_names`` order),
        wrapping each node's call in ``around`` if given."""
        if len(inputs) != len(self.input_names):
            raise TypeError(f"{self.graph_name} takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        given = dict(zip(self.input_names, inputs))
        values: dict[str, Tensor] = {}
        pending: dict[str, int] = {}
        for scope_frees in self.scope_frees:
            for src in scope_frees:
                pending[src] = pending.get(src, 0) + 1
        scoped: dict[str, Tensor] = {}  # what enclosing blocks were called with
        for (name, sources), frees, scope_frees in zip(self.steps, self.frees,
                                                       self.scope_frees):
            module = self.leaf(name)
            args = [values[s] for s in sources] if sources else [given[name]]

            def call(module: nn.Module = module, args: list[Tensor] = args) -> Tensor:
                return module(*args)

            values[name] = call() if around is None else around(name, call)
            del args, call
            if name in pending:
                scoped[name] = values[name]
            for src in frees:
                del values[src]
            for src in scope_frees:
                pending[src] -= 1
                if not pending[src]:
                    del scoped[src]
        outputs = tuple(values[name] for name in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs


def to_module(graph: LayerGraph) -> GraphModule:
    """The nn.Module of ``graph`` (random initialisation, training mode as torch creates it)."""
    return GraphModule(graph)


def owner(name: str, nodes: set[str] | frozenset[str]) -> str | None:
    """The node that owns a module / parameter path: its longest dotted prefix that is a node."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in nodes:
            return prefix
    return None
