"""The round trip: an imported spec against the model it came from. Imports torch when called.

``against(spec, model, input_shape)`` compares what cnncost says of the spec (its analytic
report, which ``cnncost check`` proves equal to the spec's own torch module) with what torch
and fvcore measure on the ORIGINAL model, on one sample of ``input_shape``:

- totals: trainable parameters (``parameters()``), non-trainable values (buffers,
  ``num_batches_tracked`` excluded), the multiset of parameter shapes (the spec's module built
  on the meta device), the output shapes, fvcore's ``FlopCountAnalysis.total()`` (fvcore
  convention) and ``FlopCounterMode`` (torchvision convention);
- per layer, joined by name (the spec's node names are the original's module names): the
  parameters each node owns and fvcore's ``by_module()`` count of the module of that name.

Any difference makes ``ok`` False and names the quantity or the layer.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncost.bridge.result import Comparison


@dataclass(frozen=True)
class LayerDifference:
    """A node whose figure differs from the original module's of the same name."""

    name: str
    quantity: str
    spec: int
    original: int


@dataclass(frozen=True)
class RoundTrip:
    """The comparison (``analytic``: the spec's figure, ``measured``: the original's)."""

    totals: tuple[Comparison, ...]
    layers: tuple[LayerDifference, ...]
    unowned: tuple[tuple[str, int], ...]  # original parameters no node of the spec owns
    layers_compared: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.totals) and not self.layers and not self.unowned

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(c.quantity for c in self.totals if not c.ok)


def _shapes(out: Any) -> list[tuple[int, ...]]:
    import torch

    if isinstance(out, torch.Tensor):
        return [tuple(out.shape)]
    if isinstance(out, dict):
        return [s for v in out.values() for s in _shapes(v)]
    if isinstance(out, (list, tuple)):
        return [s for v in out for s in _shapes(v)]
    return []


def measure_original(model: Any, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Parameters, output shapes, fvcore (total and per module) and FlopCounterMode of
    ``model`` on one random sample (the global RNG state is left as it was)."""
    import torch
    from fvcore.nn import FlopCountAnalysis  # type: ignore[import-untyped]  # no stubs
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = torch.randn(1, *input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, (x,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        with torch.no_grad():
            fvcore_total, by_module = int(analysis.total()), dict(analysis.by_module())
    counter = FlopCounterMode(display=False)
    try:  # shapes and FlopCounterMode's formulas need no arithmetic: fake tensors
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad(), counter:
            outputs = _shapes(model(torch.empty(1, *input_shape)))
    except Exception:  # noqa: BLE001 - no fake kernel for an operation: count for real
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            outputs = _shapes(model(x))
    return {
        "params": {n: p.numel() for n, p in model.named_parameters()},
        "buffers": {n: b.numel() for n, b in model.named_buffers()
                    if not n.endswith("num_batches_tracked")},
        "param_shapes": Counter(tuple(p.shape) for p in model.parameters()),
        "outputs": outputs,
        "fvcore": fvcore_total,
        "fvcore_by_module": {k: int(v) for k, v in by_module.items()},
        "modules": frozenset(n for n, _ in model.named_modules()),
        "flops": int(counter.get_total_flops()),
    }


def against(spec: str | Path, model: Any, input_shape: tuple[int, ...],
            measured: dict[str, Any] | None = None) -> RoundTrip:
    """Compare the spec with ``model`` (see the module docstring).

    Raises:
        SpecError, FileAccessError: the spec cannot be loaded.
    """
    import torch

    from cnncost import api
    from cnncost.bridge.module import owner, to_module

    graph, _ = api.build_graph(spec)
    fv = api.analyze(spec, convention="fvcore")
    tv = api.analyze(spec, convention="torchvision")
    original = measured or measure_original(model, input_shape)
    with torch.device("meta"):
        spec_shapes = Counter(tuple(p.shape) for p in to_module(graph).parameters())
    nodes = frozenset(n.name for n in graph)
    owned: Counter[str] = Counter()
    unowned: Counter[str] = Counter()
    for name, numel in (*original["params"].items(), *original["buffers"].items()):
        # a parameter of the module itself (a layer scale) may be a layer named after it
        node = name if name in nodes else owner(name.rpartition(".")[0], nodes)
        if node is None:
            unowned[name.split(".")[0]] += numel
        else:
            owned[node] += numel
    differences = []
    compared = 0
    for row in fv.layers:
        mine = row.params_trainable + row.params_non_trainable
        if mine != owned.get(row.name, 0):
            differences.append(LayerDifference(row.name, "params", mine, owned.get(row.name, 0)))
        if row.name in original["modules"]:
            compared += 1
            theirs = original["fvcore_by_module"].get(row.name, 0)
            if row.macs != theirs:
                differences.append(LayerDifference(row.name, "fvcore", row.macs, theirs))
    totals = (
        Comparison("params_trainable", fv.totals.params_trainable,
                   sum(original["params"].values())),
        Comparison("params_non_trainable", fv.totals.params_non_trainable,
                   sum(original["buffers"].values())),
        Comparison("param_shapes", spec_shapes == original["param_shapes"], True),
        Comparison("output_shapes", [(1, *s) for s in fv.totals.output_shapes],
                   original["outputs"]),
        Comparison("fvcore", fv.totals.macs, original["fvcore"]),
        Comparison("flop_counter", tv.totals.flops, original["flops"]),
    )
    return RoundTrip(totals, tuple(differences), tuple(sorted(unowned.items())), compared)


def render(result: RoundTrip, ref: str) -> list[str]:
    """Lines of text: every total, then what differs."""
    lines = [f"against {ref} (the original model):"]
    for c in result.totals:
        mark = "ok" if c.ok else "DIFFERS"
        if c.quantity == "param_shapes":
            lines.append(f"  param_shapes: {'same multiset' if c.ok else 'differ'}  {mark}")
            continue
        shown = (f"{c.analytic:,}" if isinstance(c.analytic, int) else str(c.analytic),
                 f"{c.measured:,}" if isinstance(c.measured, int) else str(c.measured))
        lines.append(f"  {c.quantity}: spec {shown[0]}, original {shown[1]}  {mark}")
    for d in result.layers[:20]:
        lines.append(f"  layer {d.name}: {d.quantity} spec {d.spec:,}, original {d.original:,}")
    if len(result.layers) > 20:
        lines.append(f"  ... and {len(result.layers) - 20} more layers")
    for module, numel in result.unowned:
        lines.append(f"  original parameters in {module} ({numel:,}) belong to no layer of the "
                     "spec")
    lines.append(f"  {result.layers_compared} layers compared module by module: "
                 + ("every figure equal" if result.ok else "DIFFERENT"))
    return lines
