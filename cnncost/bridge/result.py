"""The result of ``cnncost check``: frozen dataclasses, no torch. Must not import torch.

A ``CheckReport`` holds, per graph node, the analytic and the measured value of each compared
quantity, the same for the totals, and what fvcore and FlopCounterMode did not count (with
cnncost's own count for it), so a reader sees every number that was not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The compared quantities, in table order, with what "measured" means for each.
QUANTITIES: dict[str, str] = {
    "shape": "output shape from a forward hook on the real forward (batch included)",
    "params_trainable": "numel of the module's parameters()",
    "params_non_trainable": "numel of the module's buffers (num_batches_tracked excluded)",
    "fvcore_macs": "fvcore FlopCountAnalysis.by_module() (one fused multiply-add = 1), vs the "
                   "fvcore convention",
    "torch_flops": "torch.utils.flop_counter.FlopCounterMode FLOPs during the node's call (on a "
                   "meta-device twin: its formulas read shapes only), vs the torchvision "
                   "convention's 2 x MACs",
}


@dataclass(frozen=True)
class Comparison:
    """One quantity: the analytic value and the measured one (None: not measured)."""

    quantity: str
    analytic: Any
    measured: Any

    @property
    def ok(self) -> bool:
        return self.analytic == self.measured


@dataclass(frozen=True)
class LayerCheck:
    """The comparisons of one graph node (one module)."""

    name: str
    op: str
    comparisons: tuple[Comparison, ...]
    fvcore_counts: bool  # the catalog says fvcore counts this layer (OpDef.fvcore_units)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    @property
    def differing(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if not c.ok)

    def get(self, quantity: str) -> Comparison:
        for c in self.comparisons:
            if c.quantity == quantity:
                return c
        raise KeyError(quantity)


@dataclass(frozen=True)
class NotCounted:
    """An operator a counter skips, with cnncost's complete count for it (batch included).

    ``label`` is the operator, or ``"<act> (fused)"`` for an activation fused into conv/linear;
    ``aten_ops`` are the traced operators of those layers that fvcore reported as unsupported
    (``aten::name``: occurrences); ops fvcore ignores on purpose (relu, pad, cat, ...) are not
    listed by fvcore.
    """

    label: str
    layers: int
    macs: int
    flops: int
    aten_ops: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class MemoryRun:
    """The eager memory model against PyTorch's memory tracker for one configuration: the peak
    of every phase of every step (``totals``) and, per node, its forward peak and the bytes its
    autograd nodes saved (``layers``: only the differing ones are kept, with ``layers_compared``
    the number compared)."""

    label: str  # "inference on fake cuda", "training step on fake cpu", ...
    device: str
    mode: str
    batch: int
    dtype: str
    precision: str
    optimizer: str | None
    totals: tuple[Comparison, ...]
    layers: tuple[LayerCheck, ...]
    layers_compared: int
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.totals) and all(layer.ok for layer in self.layers)


@dataclass(frozen=True)
class CheckReport:
    """Analytic vs measured for one spec (variant, overrides) on one device, batch and dtype."""

    model: str
    variant: str | None
    overrides: dict[str, Any]
    spec_file: str
    device: str
    batch: int
    dtype: str
    versions: dict[str, str]  # torch, fvcore, torchvision (if installed)
    layers: tuple[LayerCheck, ...]
    totals: tuple[Comparison, ...]
    fvcore_not_counted: tuple[NotCounted, ...]
    fvcore_uncalled: tuple[str, ...]  # leaf modules fvcore saw no traced op in
    torch_counted_ops: tuple[tuple[str, int], ...]  # FlopCounterMode FLOPs per aten op
    flop_counter_device: str = "meta"  # where FlopCounterMode ran: a meta twin, or the module
    memory: tuple[MemoryRun, ...] = ()  # the memory section (empty: not run)

    @property
    def ok(self) -> bool:
        return (all(layer.ok for layer in self.layers) and all(c.ok for c in self.totals)
                and all(run.ok for run in self.memory))

    @property
    def mismatches(self) -> tuple[LayerCheck, ...]:
        """Exactly the layers with at least one differing quantity."""
        return tuple(layer for layer in self.layers if not layer.ok)

    def layer(self, name: str) -> LayerCheck:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def total(self, quantity: str) -> Comparison:
        for c in self.totals:
            if c.quantity == quantity:
                return c
        raise KeyError(quantity)

    @property
    def label(self) -> str:
        return self.model + (f"@{self.variant}" if self.variant else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every number exact, shapes as lists, ``ok`` flags included."""

        def comparison(c: Comparison) -> dict[str, Any]:
            return {"quantity": c.quantity, "analytic": _plain(c.analytic),
                    "measured": _plain(c.measured), "ok": c.ok}

        return {
            "model": self.model, "variant": self.variant, "overrides": dict(self.overrides),
            "spec_file": self.spec_file, "device": self.device, "batch": self.batch,
            "dtype": self.dtype, "versions": dict(self.versions), "ok": self.ok,
            "quantities": dict(QUANTITIES),
            "totals": [comparison(c) for c in self.totals],
            "mismatches": [layer.name for layer in self.mismatches],
            "layers": [{"name": layer.name, "op": layer.op, "ok": layer.ok,
                        "fvcore_counts": layer.fvcore_counts,
                        "comparisons": [comparison(c) for c in layer.comparisons]}
                       for layer in self.layers],
            "fvcore_not_counted": [
                {"op": n.label, "layers": n.layers, "macs": n.macs, "flops": n.flops,
                 "aten_ops": dict(n.aten_ops)} for n in self.fvcore_not_counted],
            "fvcore_uncalled": list(self.fvcore_uncalled),
            "torch_counted_ops": dict(self.torch_counted_ops),
            "flop_counter_device": self.flop_counter_device,
            "memory": [{"label": run.label, "device": run.device, "mode": run.mode,
                        "batch": run.batch, "dtype": run.dtype, "precision": run.precision,
                        "optimizer": run.optimizer, "ok": run.ok,
                        "totals": [comparison(c) for c in run.totals],
                        "layers_compared": run.layers_compared,
                        "differing_layers": [
                            {"name": layer.name, "op": layer.op,
                             "comparisons": [comparison(c) for c in layer.comparisons]}
                            for layer in run.layers],
                        "seconds": round(run.seconds, 3)}
                       for run in self.memory],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
