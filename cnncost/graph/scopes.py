"""Which tensors a block call keeps alive: the inputs of every dotted scope, until its last node.

Must not import torch. A spec's dotted scopes are the module tree of the network (``layer1.0``
is the first block of the stage ``layer1``): in PyTorch the tensor a module is called with stays
referenced by the caller's frame (``x = self.layer1(x)``, ``nn.Sequential``'s ``input``) until
the call returns, even where nothing inside reads it any more. The torch bridge runs its graph
the same way (``cnncost.bridge.module.GraphModule.run``) and the eager memory model follows
(``cnncost.memory.models``).
"""

from __future__ import annotations

from cnncost.graph.layergraph import LayerGraph


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
