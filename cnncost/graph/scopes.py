"""Which tensors a block call keeps alive: the inputs of every dotted scope, until its last node.

Must not import torch. A spec's dotted scopes are the module tree of the network (``layer1.0``
is the first block of the stage ``layer1``): in PyTorch the tensor a module is called with stays
referenced by the caller's frame (``x = self.layer1(x)``, ``nn.Sequential``'s ``input``) until
the call returns, even where nothing inside reads it any more. The torch bridge runs its graph
the same way (``cnncost.bridge.module.GraphModule.run``) and the eager memory model follows
(``cnncost.memory.models``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.graph.layergraph import LayerGraph


@dataclass(frozen=True)
class RunSchedule:
    """How a graph runs as eager code: the nodes in topological order and, after each step, the
    values (by producing node) its frame drops: ``frees``, those read for the last time there
    (graph outputs are kept), and ``scope_frees``, those the blocks ending there release."""

    order: tuple[str, ...]
    frees: tuple[tuple[str, ...], ...]
    scope_frees: tuple[tuple[str, ...], ...]


def run_schedule(graph: LayerGraph) -> RunSchedule:
    """The schedule ``GraphModule.run`` follows and the eager memory model replays."""
    order = graph.topo_order()
    position = {name: i for i, name in enumerate(order)}
    last_use: dict[str, int] = {}
    for name in order:
        for src in graph.inputs_of(name):
            last_use[src] = position[name]
    keep = set(graph.outputs)
    releases = scope_holds(graph)
    frees = tuple(tuple(src for src in dict.fromkeys(graph.inputs_of(name))
                        if last_use[src] == position[name] and src not in keep)
                  for name in order)
    return RunSchedule(tuple(order), frees, tuple(releases.get(name, ()) for name in order))


def scope_holds(graph: LayerGraph) -> dict[str, tuple[str, ...]]:
    """For each node, the tensors (by producing node) that a scope ending with it releases: the
    values read by a node inside the scope and produced outside it. Scopes are the dotted
    prefixes of node names (the node itself is a leaf module: its inputs live while it runs)."""
    order = graph.topo_order()
    position = {name: i for i, name in enumerate(order)}
    last: dict[str, int] = {}
    reads: dict[str, dict[str, None]] = {}
    for name in order:
        parts = name.split(".")
        for end in range(1, len(parts)):
            scope = ".".join(parts[:end])
            last[scope] = position[name]
            prefix = scope + "."
            for src in graph.inputs_of(name):
                if not src.startswith(prefix):
                    reads.setdefault(scope, {})[src] = None
    releases: dict[str, list[str]] = {}
    for scope, srcs in reads.items():
        releases.setdefault(order[last[scope]], []).extend(srcs)
    return {name: tuple(dict.fromkeys(srcs)) for name, srcs in releases.items()}
