"""Activation memory: every tensor of a forward pass and the peak of live tensors.

Must not import torch.

Peak live memory at inference follows the graph's topological schedule: while a node runs, its
inputs and every earlier tensor that a later node (or the graph output) still reads are live,
plus the node's own output; a tensor is freed right after its last consumer ran. Each node's
output is counted as its own buffer (no in-place operations, no views), which is what a framework
without memory planning allocates; the input tensor counts.
"""

from __future__ import annotations

from math import prod

from cnncost.graph.layergraph import LayerGraph


def tensor_bytes(graph: LayerGraph, batch: int, bytes_per_element: int) -> dict[str, int]:
    """Output bytes of every node, for the whole batch."""
    return {n.name: prod(n.out_shape) * batch * bytes_per_element for n in graph}


def peak_live_bytes(graph: LayerGraph, sizes: dict[str, int]) -> int:
    """The largest sum of live tensors at any step of the topological schedule."""
    order = graph.topo_order()
    steps = len(order)
    # the step after which each tensor is freed: its last consumer's (the topological order
    # meets consumers in order), its own when nothing reads it, never for a graph output
    last_use: dict[str, int] = {}
    for step, node in enumerate(graph):
        last_use[node.name] = step
        for src in node.inputs:
            last_use[src] = step
    for name in graph.outputs:
        last_use[name] = steps
    freed = [0] * (steps + 1)
    for name, step in last_use.items():
        freed[step] += sizes[name]
    live = peak = 0
    for step, name in enumerate(order):
        live += sizes[name]
        peak = max(peak, live)
        live -= freed[step]
    return peak
