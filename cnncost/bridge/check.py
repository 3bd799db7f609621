"""``cnncost check``: the analytic costs of a spec against torch and fvcore, layer by layer.

Imports torch (and fvcore) when called; importing this module imports neither.

For every graph node the module built by ``to_module`` is measured on a real forward and compared
with the analytic rows, joined by name (module qualified name == node name):

- output shape: a forward hook on each node's module (batch included);
- trainable parameters: numel of the module's ``parameters()``; non-trainable: of its buffers
  (``num_batches_tracked`` excluded, though the bridge never creates one);
- MACs under the ``fvcore`` convention: ``FlopCountAnalysis.by_module()`` (the node's own count;
  operators fvcore does not count must measure 0 and are listed with cnncost's own count);
- FLOPs under the ``torchvision`` convention (2 x conv/linear MACs): ``FlopCounterMode``, read
  before and after each node's call. FlopCounterMode counts every aten op that has a formula in
  ``torch.utils.flop_counter.flop_registry`` (convolution, mm, addmm, bmm, baddbmm, attention, ...),
  which for the bridge's modules are exactly the conv and linear layers; the ops it counted are
  listed per aten op. Its formulas read shapes only, so it runs on a meta-device twin of the
  module (same builders, same graph, no arithmetic); shapes and fvcore come from the real forward.

Any difference makes ``report.ok`` False and ``report.mismatches`` names exactly the differing
layers. ``render_check`` and ``check_to_json`` are re-exported from ``cnncost.bridge.render``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost import api
from cnncost.bridge import require_torch
from cnncost.bridge.render import check_to_json, render_check
from cnncost.bridge.result import CheckReport, Comparison, LayerCheck, NotCounted
from cnncost.cost.engine import ReportMeta, analyze_graph
from cnncost.cost.result import CostReport
from cnncost.errors import UsageError
from cnncost.graph.layergraph import LayerGraph
from cnncost.spec.loader import LoadedSpec

if TYPE_CHECKING:
    import torch

    from cnncost.bridge.module import GraphModule

__all__ = ["TORCH_DTYPES", "check", "check_to_json", "render_check", "resolve_device",
           "torch_dtype"]

#: The dtypes a check or a profile can run in (int8 is an analytic-only memory figure).
TORCH_DTYPES = ("float32", "float16", "bfloat16")


def torch_dtype(dtype: str) -> torch.dtype:
    """Raises: UsageError: ``dtype`` is not one of TORCH_DTYPES."""
    import torch

    if dtype not in TORCH_DTYPES:
        raise UsageError(f"cannot run torch in dtype {dtype!r}; choose from "
                         f"{', '.join(TORCH_DTYPES)}")
    return getattr(torch, dtype)


def resolve_device(device: str) -> torch.device:
    """Raises: UsageError: an unknown device, or CUDA asked for where there is none."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise UsageError(f"unknown device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device {device!r}: only cpu and cuda are supported")
    return dev


def _reports(loaded: LoadedSpec, graph: LayerGraph, variant: str | None,
             overrides: Mapping[str, Any] | None, batch: int) -> dict[str, CostReport]:
    meta = ReportMeta(model=loaded.spec.name, title=loaded.spec.title, variant=variant,
                      overrides=dict(overrides or {}), spec_file=str(loaded.file))
    return {c: analyze_graph(graph, meta, convention=c, batch=batch)
            for c in ("fvcore", "torchvision")}


def check(spec: str | Path | LoadedSpec, *, variant: str | None = None,
          overrides: Mapping[str, Any] | None = None, device: str = "cpu", batch: int = 1,
          dtype: str = "float32", seed: int = 0, memory: bool = True, optimizer: str = "sgd",
          precision: str = "float32") -> CheckReport:
    """Build the spec's module and compare it with the analytic costs, layer by layer.

    Args:
        spec: a spec file (or a loaded spec).
        variant, overrides: as ``api.analyze``.
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        batch: samples per forward; MACs and shapes scale with it, parameters do not.
        dtype: float32, float16 or bfloat16 (``module.to(dtype)``).
        seed: the random initialisation and input (the global RNG state is left as it was).
        memory: also compare the eager memory model with PyTorch's memory tracker
            (``cnncost.bridge.memcheck``: inference at ``batch`` and ``dtype``, a training step
            at batch max(``batch``, 2) with ``optimizer`` and ``precision``).

    Raises:
        UsageError: torch / fvcore missing, an unsupported dtype or device, batch < 1.
        FileAccessError, SpecError: as ``api.build_graph``.
    """
    require_torch()
    import torch

    from cnncost.bridge.module import to_module

    if batch < 1:
        raise UsageError(f"batch must be at least 1, got {batch}")
    tdtype, dev = torch_dtype(dtype), resolve_device(device)
    loaded = api.load(spec)
    graph, bindings = api.build_graph(loaded, variant=variant, overrides=overrides)
    reports = _reports(loaded, graph, bindings.variant, overrides, batch)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        model = to_module(graph).to(device=dev, dtype=tdtype).eval()
        inputs = tuple(torch.randn(batch, *graph.node(n).out_shape, device=dev, dtype=tdtype)
                       for n in graph.input_names)
    params, buffers = _owned_numel(model, graph)
    with _recording_shapes(model) as (shapes, outputs):  # during fvcore's traced real forward
        fvcore_macs, unsupported, uncalled, fvcore_total = _fvcore_measures(model, inputs, graph)
    out_shapes = tuple(outputs)
    counted_on, torch_flops, torch_ops = _flop_counter_measures(model, inputs, graph, tdtype)

    fv, tv = reports["fvcore"], reports["torchvision"]
    layers = []
    for node, fv_row, tv_row in zip(graph, fv.layers, tv.layers):
        assert node.name == fv_row.name == tv_row.name
        layers.append(LayerCheck(
            name=node.name, op=node.op,
            fvcore_counts=node.opdef.fvcore_units(node.context) is not None,
            comparisons=(
                Comparison("shape", (batch, *node.out_shape), shapes.get(node.name)),
                Comparison("params_trainable", fv_row.params_trainable, params[node.name]),
                Comparison("params_non_trainable", fv_row.params_non_trainable,
                           buffers[node.name]),
                Comparison("fvcore_macs", fv_row.macs, fvcore_macs[node.name]),
                Comparison("torch_flops", tv_row.flops, torch_flops.get(node.name)),
            )))
    totals = (
        Comparison("shape", tuple((batch, *s) for s in fv.totals.output_shapes), out_shapes),
        Comparison("params_trainable", fv.totals.params_trainable,
                   sum(p.numel() for p in model.parameters())),
        Comparison("params_non_trainable", fv.totals.params_non_trainable,
                   sum(b.numel() for n, b in model.named_buffers()
                       if not n.endswith("num_batches_tracked"))),
        Comparison("fvcore_macs", fv.totals.macs, fvcore_total),
        Comparison("torch_flops", tv.totals.flops, sum(v for _, v in torch_ops)),
    )
    runs = ()
    if memory:
        from cnncost.bridge.memcheck import memory_runs

        runs = memory_runs(graph, batch=batch, dtype=dtype, optimizer=optimizer,
                           precision=precision)
    return CheckReport(
        memory=runs,
        model=loaded.spec.name, variant=bindings.variant, overrides=dict(overrides or {}),
        spec_file=str(loaded.file), device=str(dev), batch=batch, dtype=dtype,
        versions=_versions(), layers=tuple(layers), totals=totals,
        fvcore_not_counted=_not_counted(fv, graph, unsupported, batch),
        fvcore_uncalled=uncalled, torch_counted_ops=torch_ops, flop_counter_device=counted_on)


# --------------------------------------------------------------------------- measurements


def _owned_numel(model: GraphModule, graph: LayerGraph) -> tuple[Counter[str], Counter[str]]:
    """numel of parameters / buffers per owning node (the longest node-name prefix)."""
    from cnncost.bridge.module import owner

    nodes = frozenset(n.name for n in graph)
    params: Counter[str] = Counter({n: 0 for n in nodes})
    buffers: Counter[str] = Counter({n: 0 for n in nodes})
    for name, p in model.named_parameters():
        params[owner(name.rpartition(".")[0], nodes) or ""] += p.numel()
    for name, b in model.named_buffers():
        if not name.endswith("num_batches_tracked"):
            buffers[owner(name.rpartition(".")[0], nodes) or ""] += b.numel()
    return params, buffers


@contextmanager
def _recording_shapes(model: GraphModule) -> Iterator[tuple[dict[str, tuple[int, ...]],
                                                             list[tuple[int, ...]]]]:
    """Forward hooks that record each node's output shape and the model's output shapes."""
    import torch

    shapes: dict[str, tuple[int, ...]] = {}
    outputs: list[tuple[int, ...]] = []

    def ints(t: torch.Tensor) -> tuple[int, ...]:
        return tuple(int(d) for d in t.shape)  # under jit tracing, sizes are 0-dim tensors

    def leaf_hook(name: str) -> Any:
        def hook(module: Any, args: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                shapes[name] = ints(out)
        return hook

    def model_hook(module: Any, args: Any, out: Any) -> None:
        outputs[:] = [ints(o) for o in (out if isinstance(out, tuple) else (out,))]

    handles = [module.register_forward_hook(leaf_hook(name))
               for name, module in model.named_leaves()]
    handles.append(model.register_forward_hook(model_hook))
    try:
        yield shapes, outputs
    finally:
        for handle in handles:
            handle.remove()


def _flop_counter_measures(model: GraphModule, inputs: tuple[torch.Tensor, ...],
                           graph: LayerGraph, dtype: torch.dtype
                           ) -> tuple[str, dict[str, int], tuple[tuple[str, int], ...]]:
    """FlopCounterMode's FLOPs per node and per aten op, and the device it ran on.

    Its formulas read shapes only, so it runs on a meta-device twin of the module (the same
    builders on the same graph; no arithmetic, no memory); if an operator has no meta
    implementation, on the real module.
    """
    import torch

    from cnncost.bridge.module import to_module

    try:
        with torch.device("meta"):
            twin = to_module(graph).to(dtype=dtype).eval()
            meta_inputs = tuple(torch.empty(x.shape, dtype=dtype) for x in inputs)
        return ("meta", *_count_flops(twin, meta_inputs))
    except (NotImplementedError, RuntimeError):
        return (str(inputs[0].device) if inputs else "cpu", *_count_flops(model, inputs))


def _count_flops(model: GraphModule, inputs: tuple[torch.Tensor, ...]
                 ) -> tuple[dict[str, int], tuple[tuple[str, int], ...]]:
    """One forward under FlopCounterMode, read before and after each node's call."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    flops: dict[str, int] = {}
    counter = FlopCounterMode(display=False)
    before: dict[str, int] = {}
    handles = []
    for name, module in model.named_leaves():
        def pre(module: Any, args: Any, name: str = name) -> None:
            before[name] = counter.get_total_flops()

        def post(module: Any, args: Any, out: Any, name: str = name) -> None:
            flops[name] = counter.get_total_flops() - before[name]

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    try:
        with torch.no_grad(), counter:
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    by_op = counter.get_flop_counts().get("Global", {})
    return flops, tuple(sorted((str(op), int(v)) for op, v in by_op.items()))


def _fvcore_measures(model: GraphModule, inputs: tuple[torch.Tensor, ...],
                     graph: LayerGraph) -> tuple[dict[str, int], dict[str, Counter[str]],
                                                 tuple[str, ...], int]:
    """fvcore's own count per node (its by_module count minus its nested nodes'), unsupported
    ops per node, the leaf modules fvcore saw no op in, and fvcore's total."""
    import torch
    from fvcore.nn import FlopCountAnalysis  # type: ignore[import-untyped]  # no stubs

    from cnncost.bridge.module import owner

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore warns on unsupported ops: we list them instead
        analysis = FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        with torch.no_grad():
            by_module = analysis.by_module()
            total = analysis.total()
            uncalled = analysis.uncalled_modules()
    nodes = frozenset(n.name for n in graph)
    own: dict[str, int] = {n: _exact(by_module.get(n, 0)) for n in nodes}
    unsupported = {n: Counter(analysis.unsupported_ops(n)) for n in nodes}
    for n in nodes:  # a node nested under another node's name: its counts are the parent's too
        parent = owner(n.rpartition(".")[0], nodes) if "." in n else None
        if parent is not None:
            own[parent] -= own[n]
            unsupported[parent].subtract(unsupported[n])
    return own, unsupported, tuple(n for n in graph.topo_order() if n in uncalled), _exact(total)


def _exact(value: float) -> int:
    if value != int(value):
        raise AssertionError(f"fvcore returned a fractional count {value}")
    return int(value)


#: The label suffix of an operator fvcore counts whose traced module also ran aten operators
#: fvcore has no handle for (``NotCounted``).
INSIDE_COUNTED = "(counted; unsupported ops inside)"


def _not_counted(fv: CostReport, graph: LayerGraph, unsupported: dict[str, Counter[str]],
                 batch: int) -> tuple[NotCounted, ...]:
    """fvcore-convention operators fvcore does not count (cnncost's own count for them), with
    the aten ops fvcore reported unsupported in those layers; then the operators fvcore does
    count (its count is compared per layer) whose traced modules also ran aten ops fvcore
    reported unsupported, with their layers and cnncost's complete count of those layers."""
    aten: dict[str, Counter[str]] = {}
    inside: dict[str, list[int]] = {}  # label: [layers, macs, flops]
    for node in graph:
        ops = +unsupported[node.name]
        if not ops:
            continue
        if node.opdef.fvcore_units(node.context) is None:
            label = node.op
        elif node.attrs.get("act"):
            label = f"{node.attrs['act']} (fused)"
        else:
            label = f"{node.op} {INSIDE_COUNTED}"
            arith = node.opdef.arithmetic(node.context)
            entry = inside.setdefault(label, [0, 0, 0])
            entry[0] += 1
            entry[1] += arith.macs * batch
            entry[2] += arith.flops * batch
        aten.setdefault(label, Counter()).update(ops)
    # every layer fvcore does not count, including those with nothing to count (a 1x1
    # max-pool), which the analytic report's ``uncounted`` leaves out
    layers = Counter(n.op for n in graph if n.opdef.fvcore_units(n.context) is None)
    layers.update(f"{n.attrs['act']} (fused)" for n in graph if n.attrs.get("act"))
    out = [NotCounted(u.op, layers[u.op], u.macs, u.flops,
                      tuple(sorted(aten.pop(u.op, {}).items())))
           for u in fv.uncounted]
    for label, ops in aten.items():
        count, macs, flops = inside.get(label, [0, 0, 0])
        out.append(NotCounted(label, count, macs, flops, tuple(sorted(ops.items()))))
    return tuple(out)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "fvcore", "torchvision"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
