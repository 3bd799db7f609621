"""The result of a memory analysis. Must not import torch.

Every figure is bytes the device holds at once, parameters, buffers and the input batch
included (``weights_bytes`` and friends are the parts). A training analysis simulates two steps:
the first (no gradients or optimizer state yet when it starts) and the steady state (every later
step: the optimizer state exists from the start, the gradients are freed by ``zero_grad``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cnncost.graph.layergraph import LayerGraph
    from cnncost.memory.engine import Event, Simulator
    from cnncost.memory.models import MemoryConfig


@dataclass(frozen=True)
class PhasePeak:
    """The highest live total of one phase (forward, loss, backward, optimizer) and where."""

    phase: str
    peak_bytes: int
    layer: str
    op: str
    end_bytes: int


@dataclass(frozen=True)
class StepMemory:
    """One step (an inference forward, or a training step)."""

    number: int
    start_bytes: int
    phases: tuple[PhasePeak, ...]
    categories: dict[str, dict[str, int]]  # phase end -> category -> bytes
    forward: dict[str, tuple[int, int, int, int]]  # layer -> (before, peak, after, allocated)
    backward: dict[str, tuple[int, int]]  # layer -> (peak, allocated)
    saved: dict[str, int]  # layer -> bytes of the distinct activations its autograd nodes saved
    events: tuple[Event, ...] = ()

    @property
    def peak(self) -> PhasePeak:
        return max(self.phases, key=lambda p: p.peak_bytes)

    @classmethod
    def of(cls, sim: Simulator, start: int, ends: dict[str, int], number: int = 1) -> StepMemory:
        phases = []
        for name, stats in sim.phases.items():
            if name in ("zero_grad",):
                continue
            end = ends.get(name, ends.get("forward", 0) if name == "loss" else sim.live)
            phases.append(PhasePeak(name, stats.peak, stats.peak_layer, stats.peak_label, end))
        forward = {layer: (s.before, s.peak, s.after, s.allocated)
                   for layer, s in sim.phases.get("forward", _Empty()).layers.items()}
        backward = {layer: (s.peak, s.allocated)
                    for layer, s in sim.phases.get("backward", _Empty()).layers.items()}
        saved = {layer: sum(record.values()) for layer, record in sim.saved_by_layer.items()}
        sim.saved_by_layer = {}
        events = tuple(sim.events)
        sim.events = []
        categories, sim.snapshots = sim.snapshots, {}
        return cls(number, start, tuple(phases), categories, forward, backward, saved, events)


class _Empty:
    layers: ClassVar[dict[str, Any]] = {}


@dataclass(frozen=True)
class LayerMemory:
    """One layer in the (steady-state) step: live totals when its forward started, its peak and
    after it returned (its inputs freed if it was their last reader), the bytes it allocated,
    the activations its autograd nodes saved for the backward and, in training, the highest
    total while its backward ran."""

    name: str
    op: str
    before_bytes: int
    peak_bytes: int
    after_bytes: int
    allocated_bytes: int
    saved_bytes: int = 0
    backward_peak_bytes: int = 0


@dataclass(frozen=True)
class BlockMemory:
    """A dotted scope over the (steady-state) step: the highest total while any of its layers
    ran (forward, and backward in training), and the bytes its layers allocated and saved."""

    name: str
    level: int
    layers: int
    peak_bytes: int
    allocated_bytes: int
    saved_bytes: int
    backward_peak_bytes: int


def aggregate_blocks(layers: tuple[LayerMemory, ...]) -> tuple[BlockMemory, ...]:
    """One row per dotted-name prefix, in order of first appearance (as the cost report's)."""
    acc: dict[str, list[int]] = {}
    for row in layers:
        parts = row.name.split(".")
        for level in range(1, len(parts)):
            block = ".".join(parts[:level])
            a = acc.setdefault(block, [level, 0, 0, 0, 0, 0])
            a[1] += 1
            a[2] = max(a[2], row.peak_bytes)
            a[3] += row.allocated_bytes
            a[4] += row.saved_bytes
            a[5] = max(a[5], row.backward_peak_bytes)
    return tuple(BlockMemory(name, *values) for name, values in acc.items())


@dataclass(frozen=True)
class MemoryReport:
    """A memory analysis: the config, its parts, the peaks, one row per layer, the timeline."""

    model: str
    mode: str
    batch: int
    dtype: str
    precision: str
    optimizer: str | None
    implementation: str | None
    device: str
    weights_bytes: int
    buffers_bytes: int
    input_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    saved_bytes: int  # activations held for the backward when the forward (and loss) ended
    peak_bytes: int  # the steady state's (inference: the forward's)
    peak_phase: str
    peak_layer: str
    peak_op: str
    first_step_peak_bytes: int
    phases: tuple[PhasePeak, ...]
    layers: tuple[LayerMemory, ...]
    steps: tuple[StepMemory, ...] = field(repr=False, default=())
    blocks: tuple[BlockMemory, ...] = ()

    @property
    def activation_peak_bytes(self) -> int:
        """The peak above the parameters, buffers and input batch (the ``liveness`` and ``sum``
        models count the input among the activations, as the report's figures always have)."""
        held = self.input_bytes if self.model == "eager" else 0
        return self.peak_bytes - self.weights_bytes - self.buffers_bytes - held

    @property
    def timeline(self) -> tuple[Event, ...]:
        """Every change of live memory in the steady-state step, in order."""
        return self.steps[-1].events if self.steps else ()

    @classmethod
    def build(cls, graph: LayerGraph, config: MemoryConfig, sim: Simulator,
              steps: list[StepMemory]) -> MemoryReport:
        steady = steps[-1]
        peak = steady.peak
        weights = sum(p.val.storage.nbytes for p in sim.params.values()
                      if p.trainable and p.val is not None)
        buffers = sum(p.val.storage.nbytes for p in sim.params.values()
                      if not p.trainable and p.val is not None)
        grads = sum(p.grad.storage.nbytes for p in sim.params.values() if p.grad is not None)
        state = sim.by_category["optimizer"]
        forward_end = steady.categories.get("forward", {})
        layers = []
        for node in graph:
            before, top, after, allocated = steady.forward.get(node.name, (0, 0, 0, 0))
            back_peak = steady.backward.get(node.name, (0, 0))[0]
            layers.append(LayerMemory(node.name, node.op, before, top, after, allocated,
                                      steady.saved.get(node.name, 0), back_peak))
        training = config.mode == "training"
        return cls(
            model=config.model, mode=config.mode, batch=config.batch, dtype=config.dtype,
            precision=config.precision, optimizer=config.optimizer if training else None,
            implementation=config.resolved_implementation if training else None,
            device=config.device, weights_bytes=weights, buffers_bytes=buffers,
            input_bytes=sim.input_bytes, gradients_bytes=grads,
            optimizer_bytes=state, saved_bytes=forward_end.get("activation", 0),
            peak_bytes=peak.peak_bytes, peak_phase=peak.phase, peak_layer=peak.layer,
            peak_op=peak.op, first_step_peak_bytes=steps[0].peak.peak_bytes,
            phases=steady.phases, layers=tuple(layers), steps=tuple(steps),
            blocks=aggregate_blocks(tuple(layers)))

    def layer(self, name: str) -> LayerMemory:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def block(self, name: str) -> BlockMemory:
        for row in self.blocks:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        """JSON-ready; ``timeline`` adds every event of the steady-state step.

        What ``dataclasses.asdict`` gives, less the steps, without its deep copy of every step
        and event (the rows hold numbers and names only).
        """
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "steps"}
        for name in ("phases", "layers", "blocks"):
            data[name] = tuple(_flat(row) for row in data[name])
        data["activation_peak_bytes"] = self.activation_peak_bytes
        if timeline:
            data["timeline"] = [_flat(e) for e in self.timeline]
        return data


def _flat(row: Any) -> dict[str, Any]:
    """A dataclass of plain values (numbers, names) as a dict, in field order."""
    names = _FIELD_NAMES.get(type(row))
    if names is None:
        names = _FIELD_NAMES[type(row)] = tuple(f.name for f in fields(row))
    return {name: getattr(row, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
