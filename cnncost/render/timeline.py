"""Live memory along a forward pass or a training step, as the charts draw it. No torch.

Two sources give the curve:

* ``eager_memory_timeline(memory)`` reads a ``cnncost.memory`` analysis (the eager model: what
  PyTorch allocates, parameters and the input included, operator call by operator call, in an
  inference forward or a whole training step). Its events are folded into one point per run of
  one layer in one phase, each point the highest total of its run, so the curve's peak is the
  analysis' ``peak_bytes`` to the byte. This is what the HTML report draws when it has a memory
  analysis (``cnncost report --format html`` always has one).
* ``live_memory_timeline(report)`` needs only the cost report: it follows the schedule of
  ``cnncost.cost.memory.peak_live_bytes`` (layers in topological order; while a node runs, its
  output and every earlier tensor that a later node or the graph output still reads are live;
  each output its own buffer), so its peak is the report's ``peak_activation_bytes`` (the
  ``liveness`` memory model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnncost.cost.result import CostReport

if TYPE_CHECKING:
    from cnncost.memory.report import MemoryReport

#: What the curve counts, in the words every chart prints beside it.
MEMORY_MODEL = ("eager inference, topological schedule: each output its own buffer, freed after "
                "its last consumer (graph outputs stay live)")


@dataclass(frozen=True)
class LiveMemoryTimeline:
    """Live bytes while each node runs, in schedule order."""

    model: str  # the memory model, in words
    steps: tuple[str, ...]  # the node that runs at each step
    live_bytes: tuple[int, ...]  # bytes live while it runs (its output included)
    phases: tuple[str, ...] = ()  # the phase of each step (a training step's: forward, ...)
    held_bytes: int = 0  # held all along: parameters, buffers and the input batch (eager)
    quantity: str = "live activations"  # what the y axis counts, in words
    x_label: str = "forward pass: layers in schedule order"
    peak_where: str = ""  # where the peak is, in words (default: its node)

    @property
    def peak_bytes(self) -> int:
        return max(self.live_bytes, default=0)

    @property
    def peak_step(self) -> int:
        """The first step at which the peak is reached."""
        return self.live_bytes.index(self.peak_bytes) if self.live_bytes else 0

    @property
    def peak_node(self) -> str:
        if self.peak_where:
            return self.peak_where
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


def eager_memory_timeline(memory: MemoryReport) -> LiveMemoryTimeline:
    """The device memory of ``memory``'s (steady-state) step, one point per run of one layer in
    one phase: the highest total (parameters, buffers, input, activations, gradients, optimizer
    state) while that run lasted. The curve's peak is ``memory.peak_bytes``.

    Raises:
        ValueError: ``memory`` is not an eager analysis (the other models have no events).
    """
    if memory.model != "eager" or not memory.timeline:
        raise ValueError(f"the {memory.model!r} memory model has no timeline; use 'eager'")
    steps: list[str] = []
    phases: list[str] = []
    live: list[int] = []
    key: tuple[str, str] | None = None
    for event in memory.timeline:
        if (event.phase, event.layer) != key:
            key = (event.phase, event.layer)
            steps.append(event.layer or event.phase)
            phases.append(event.phase)
            live.append(event.live)
        else:
            live[-1] = max(live[-1], event.live)
    training = memory.mode == "training"
    what = (f"a training step ({memory.optimizer}, {memory.precision})" if training
            else f"an inference forward ({memory.precision})")
    model = (f"eager PyTorch on {memory.device}: every allocation and free of {what}, "
             "parameters, buffers and the input batch included; one point per layer and phase")
    return LiveMemoryTimeline(
        model=model, steps=tuple(steps), live_bytes=tuple(live), phases=tuple(phases),
        held_bytes=memory.weights_bytes + memory.buffers_bytes + memory.input_bytes,
        quantity="device memory",
        x_label=("training step: zero_grad, forward, loss, backward, optimizer, in order"
                 if training else "forward pass: layers in the order they run"),
        peak_where=f"{memory.peak_layer or memory.peak_phase} ({memory.peak_op}, "
                   f"{memory.peak_phase})")
