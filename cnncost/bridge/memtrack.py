"""PyTorch's own memory tracker on the bridge's module: the independent witness of the eager
memory model. Imports torch.

The module the bridge builds from the spec runs under ``FakeTensorMode`` (tensors with shapes,
dtypes and devices but no storage: batch 64 of EfficientNet-B7 costs nothing) and
``torch.distributed._tools.mem_tracker.MemTracker``, which sees every tensor an operator makes
and frees, with the CUDA caching allocator's 512-byte rounding for CUDA tensors;
``torch.autograd.graph.saved_tensors_hooks`` sees exactly what autograd saves. The protocol is
the memory model's (``cnncost.memory.models``): at inference one ``no_grad`` forward in eval mode;
in training two steps of ``zero_grad(set_to_none=True)``, forward and loss (under autocast when
asked), ``backward``, ``step``.

Where it runs:

- inference on fake CUDA tensors (PyTorch dispatches as on a GPU);
- a training forward on fake CUDA tensors (CUDA's autocast lists), compared phase by phase up to
  the end of the loss;
- the whole training step on fake CPU tensors: the autograd engine cannot run a backward on fake
  CUDA tensors without a GPU, so the model is asked for the CPU (``device="cpu"``; the two differ
  only where the model says so: autocast lists, allocator rounding, statistics dtypes, the
  optimizer's default implementation).

Under a dispatch-mode tracker autograd never accumulates a gradient in place (``isTensorSubclassLike``
is true inside a mode), and FakeTensor's ``native_batch_norm_backward`` returns an input gradient
that the real kernels skip when the input needs none; the model is run with
``semantics="tracker"`` for the comparison. The figures cnncost reports follow ``eager``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cnncost.errors import UsageError
from cnncost.graph.layergraph import LayerGraph
from cnncost.memory.models import MemoryConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

#: MemTracker's name for a module's forward peak snapshot (``_ModState.PEAK_FW``).
_PEAK_FW = "Peak-Forward"


@dataclass
class TrackedStep:
    """What the tracker saw in one step: the peak of every phase, each node's forward peak (the
    highest total while it ran, MemTracker's ``PEAK_FW``) and the bytes of the distinct
    non-parameter tensors its autograd nodes saved."""

    phases: dict[str, int] = field(default_factory=dict)
    layers: dict[str, int] = field(default_factory=dict)
    saved: dict[str, int] = field(default_factory=dict)

    @property
    def peak(self) -> int:
        return max(self.phases.values(), default=0)


@dataclass(frozen=True)
class TrackedMemory:
    """The tracker's measurements and the model config they are to be compared with."""

    config: MemoryConfig
    steps: tuple[TrackedStep, ...]
    forward_only: bool = False  # a training forward on CUDA (no backward without a GPU)


def _require_tracker() -> Any:
    try:
        from torch.distributed._tools import mem_tracker
    except ImportError as err:  # torch < 2.5, or a build without torch.distributed
        raise UsageError(
            f"the memory check needs torch.distributed._tools.mem_tracker.MemTracker (torch >= "
            f"2.5 built with torch.distributed): {err}") from None
    return _fast_tracker(mem_tracker)


def _fast_tracker(mem_tracker: Any) -> Any:
    """MemTracker whose per-operator peak update visits only the active modules.

    Upstream's ``_update_peak_stats`` walks every module seen so far after every operator
    (quadratic: 38 of 64 seconds of a DenseNet-121 training step); this one keeps a map from
    module names to their statistics and updates exactly the modules upstream would (those in
    ``ModTracker.parents``), with the same rule. Where the installed torch lacks the attributes
    it relies on, upstream's method runs unchanged.
    """
    from copy import deepcopy

    base = mem_tracker.MemTracker
    total_key = getattr(mem_tracker, "_TOTAL_KEY", "Total")

    class FastMemTracker(base):  # type: ignore[misc, valid-type]
        def _pre_fw_hook(self, module: Any, inputs: Any) -> None:
            super()._pre_fw_hook(module, inputs)
            stats = self.memory_tracking.get(module)
            if stats is not None:
                self.__dict__.setdefault("_by_fqn", {})[stats.mod_fqn] = stats

        def _update_peak_stats(self, peak_state: Any) -> None:
            try:
                current, parents = self._curr_mem_snap, self._mod_tracker.parents
                peak, peak_snap = self._peak_mem, self._peak_mem_snap
            except AttributeError:
                super()._update_peak_stats(peak_state)
                return
            by_fqn = self.__dict__.get("_by_fqn", {})
            for fqn in parents:
                stats = by_fqn.get(fqn)
                if stats is None or peak_state not in stats.snapshots:
                    continue
                for dev, dev_snap in current.items():
                    if stats.local_peak.get(dev, 0) < dev_snap[total_key]:
                        stats.local_peak[dev] = dev_snap[total_key]
                        stats.snapshots[peak_state][-1][dev] = deepcopy(dev_snap)
            for dev, dev_snap in current.items():
                if peak.get(dev, 0) < dev_snap[total_key]:
                    peak[dev] = dev_snap[total_key]
                    peak_snap[dev] = deepcopy(dev_snap)

    return FastMemTracker


@contextlib.contextmanager
def _cuda_autocast_enabled() -> Iterator[None]:
    """Let ``torch.autocast("cuda")`` be created on a machine without a GPU: fake CUDA tensors
    then dispatch through CUDA's autocast lists (nothing runs on a device)."""
    import torch

    available, bf16 = torch.cuda.is_available, torch.cuda.is_bf16_supported
    torch.cuda.is_available = lambda: True  # type: ignore[assignment]
    torch.cuda.is_bf16_supported = lambda *a, **k: True  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.cuda.is_available, torch.cuda.is_bf16_supported = available, bf16  # type: ignore


def _autocast(device: str, dtype: str | None) -> Any:
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    if device == "cuda":
        with _cuda_autocast_enabled():
            return torch.autocast(device, dtype=getattr(torch, dtype))
    return torch.autocast(device, dtype=getattr(torch, dtype))


def _optimizer(config: MemoryConfig, params: Any) -> torch.optim.Optimizer:
    import torch

    implementation = config.resolved_implementation
    kwargs: dict[str, Any] = {"foreach": implementation == "foreach"}
    if implementation == "fused":
        kwargs = {"fused": True}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=0.1, **kwargs)
    if config.optimizer == "sgd_momentum":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, **kwargs)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs)
    return torch.optim.AdamW(params, **kwargs)


def tracker_config(config: MemoryConfig, device: str) -> MemoryConfig:
    """The model config comparable with a tracker run on ``device``."""
    return replace(config, device=device, semantics="tracker")


def track_memory(graph: LayerGraph, config: MemoryConfig, device: str,
                 forward_only: bool = False) -> TrackedMemory:
    """Run the bridge's module of ``graph`` under MemTracker on fake ``device`` tensors.

    Raises:
        UsageError: torch without MemTracker; a training backward asked on CUDA.
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from cnncost.bridge.module import to_module

    tracker_cls = _require_tracker()
    config = tracker_config(config.validate(), device)
    training = config.mode == "training"
    if training and device == "cuda" and not forward_only:
        raise UsageError("a training step cannot run on fake CUDA tensors without a GPU; "
                         "track it on the CPU, or the forward only")
    dtype = getattr(torch, config.dtype)
    with FakeTensorMode():
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)  # parameters made in the module's dtype (no .to())
        try:
            with torch.device(device):
                model = to_module(graph)
        finally:
            torch.set_default_dtype(previous)
        inputs = tuple(torch.randn(config.batch, *graph.node(n).out_shape, device=device,
                                   dtype=dtype) for n in graph.input_names)
        if not training:
            model.eval()
            step = _run(tracker_cls, model, inputs, config, device, None, None)
            return TrackedMemory(config, (step,))
        model.train()
        labels = torch.randint(0, 10, (config.batch,), device=device)
        optimizer = None if forward_only else _optimizer(config, model.parameters())
        # plain SGD keeps no state: its second step repeats the first exactly
        count = 1 if forward_only or config.optimizer == "sgd" else 2
        steps = tuple(_run(tracker_cls, model, inputs, config, device, labels, optimizer)
                      for _ in range(count))
        return TrackedMemory(config, steps, forward_only)


def _run(tracker_cls: Any, model: Any, inputs: tuple[torch.Tensor, ...], config: MemoryConfig,
         device: str, labels: torch.Tensor | None,
         optimizer: torch.optim.Optimizer | None) -> TrackedStep:
    import torch
    import torch.nn.functional as F

    step = TrackedStep()
    state = {"phase": "forward", "layer": ""}
    weights = {p.untyped_storage()._cdata for p in model.parameters()}
    weights |= {b.untyped_storage()._cdata for b in model.buffers()}
    saved: dict[str, dict[int, int]] = {}

    class PhaseTracker(tracker_cls):  # type: ignore[misc, valid-type]
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = super().__torch_dispatch__(func, types, args, kwargs)
            total = _total(self, device)
            phase = state["phase"]
            step.phases[phase] = max(step.phases.get(phase, 0), total)
            return out

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st._cdata not in weights:
            nbytes = st.nbytes()
            if device == "cuda" and nbytes:
                nbytes = -(-nbytes // 512) * 512
            saved.setdefault(state["layer"], {})[st._cdata] = nbytes
        return t

    def entering(name: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            state["layer"] = name
        return hook

    # the root's forward (not GraphModule.run): MemTracker learns module names from it
    handles = [module.register_forward_pre_hook(entering(name))
               for name, module in model.named_leaves()]

    tracker = PhaseTracker()
    tracker.track_external(model, *inputs,
                           *((labels,) if labels is not None else ()),
                           *((optimizer,) if optimizer is not None else ()))
    grad_mode = torch.enable_grad() if labels is not None else torch.no_grad()
    with tracker, grad_mode, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if optimizer is not None:
            state["phase"] = "zero_grad"
            optimizer.zero_grad(set_to_none=True)
        state["phase"] = "forward"
        with _autocast(device, config.autocast):
            y = model(*inputs)
            step.phases["forward"] = max(step.phases.get("forward", 0), _total(tracker, device))
            if labels is not None:
                state["phase"], state["layer"] = "loss", "loss"
                outs = y if isinstance(y, tuple) else (y,)
                loss = None
                for o in outs:
                    term = F.cross_entropy(o, labels) if o.dim() == 2 else o.mean()
                    loss = term if loss is None else loss + term
                del outs, o, term
        del y
        if labels is not None and optimizer is not None:
            state["phase"] = "backward"
            loss.backward()
            del loss
            state["phase"] = "optimizer"
            step.phases["optimizer"] = max(step.phases.get("optimizer", 0),
                                           _total(tracker, device))
            optimizer.step()
    for handle in handles:
        handle.remove()
    leaves = _leaf_names(model)
    for module_stats in tracker.memory_tracking.values():
        if module_stats.mod_fqn not in leaves:
            continue
        for key, snapshots in module_stats.snapshots.items():
            if getattr(key, "value", key) == _PEAK_FW:  # a str Enum hashed by its name
                name = module_stats.mod_fqn.removeprefix("GraphModule.")
                step.layers[name] = max(_device_total(snap, device) for snap in snapshots)
    step.phases.pop("zero_grad", None)
    step.saved = {layer: sum(record.values()) for layer, record in saved.items()}
    return step


def _total(tracker: Any, device: str) -> int:
    # the live snapshot itself (get_tracker_snapshot deep-copies it, after every operator)
    current = getattr(tracker, "_curr_mem_snap", None)
    return _device_total(current if current is not None
                         else tracker.get_tracker_snapshot("current"), device)


def _device_total(snapshot: dict[Any, dict[str, int]], device: str) -> int:
    """The total over the devices of type ``device`` (fake CUDA tensors are on ``cuda:0``)."""
    return sum(int(snap.get("Total", 0)) for dev, snap in snapshot.items()
               if dev.type == device)


def _leaf_names(model: nn.Module) -> set[str]:
    names = model.__dict__.setdefault("_leaf_fqns", None)
    if names is None:
        names = {f"GraphModule.{name}" for name, _ in model.named_leaves()}
        model.__dict__["_leaf_fqns"] = names
    return names
