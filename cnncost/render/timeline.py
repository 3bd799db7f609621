"""Live activation memory at every step of the forward pass. Must not import torch.

``live_memory_timeline(report)`` is the one function the charts ask for this curve. Today it
follows the schedule of ``cnncost.cost.memory.peak_live_bytes`` (the report's layers in their
topological order; while a node runs, its output and every earlier tensor that a later node or
the graph output still reads are live; each output its own buffer), so its peak is the report's
``peak_activation_bytes``. A memory model with its own per-layer timeline replaces this function's
body, and every chart follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.cost.result import CostReport

#: What the curve counts, in the words every chart prints beside it.
MEMORY_MODEL = ("eager inference, topological schedule: each output its own buffer, freed after "
                "its last consumer (graph outputs stay live)")


@dataclass(frozen=True)
class LiveMemoryTimeline:
    """Live bytes while each node runs, in schedule order."""

    model: str  # the memory model, in words
    steps: tuple[str, ...]  # the node that runs at each step
    live_bytes: tuple[int, ...]  # bytes live while it runs (its output included)

    @property
    def peak_bytes(self) -> int:
        return max(self.live_bytes, default=0)

    @property
    def peak_step(self) -> int:
        """The first step at which the peak is reached."""
        return self.live_bytes.index(self.peak_bytes) if self.live_bytes else 0

    @property
    def peak_node(self) -> str:
        return self.steps[self.peak_step] if self.steps else ""


def live_memory_timeline(report: CostReport) -> LiveMemoryTimeline:
    """The live activation bytes at each step of the forward pass of ``report``.

    A tensor is freed after the last layer that reads it; a tensor that no layer reads is a graph
    output and stays live to the end (the report lists every node, so its sinks are its outputs).
    """
    order = [layer.name for layer in report.layers]
    position = {name: i for i, name in enumerate(order)}
    last_use: dict[str, int] = {}
    for layer in report.layers:  # in schedule order: the last reader of a tensor writes last
        for source in layer.inputs:
            last_use[source] = position[layer.name]
    for name in order:
        last_use.setdefault(name, len(order))  # read by nobody: a graph output, kept to the end
    frees: dict[int, int] = {}
    for layer in report.layers:
        frees[last_use[layer.name]] = frees.get(last_use[layer.name], 0) + layer.activation_bytes
    live, curve = 0, []
    for step, layer in enumerate(report.layers):
        live += layer.activation_bytes
        curve.append(live)
        live -= frees.get(step, 0)
    return LiveMemoryTimeline(MEMORY_MODEL, tuple(order), tuple(curve))
