"""A memory tracker on the bridge's module: the independent witness of the eager memory model.
Imports torch.

The module the bridge builds from the spec runs under ``FakeTensorMode`` (tensors with shapes,
dtypes and devices but no storage: batch 64 of EfficientNet-B7 costs nothing) and a dispatch
mode that sees every tensor an operator returns and, through a weak reference to its storage,
the moment it is freed: the live total after every operator, with the CUDA caching allocator's
512-byte rounding for CUDA tensors. ``torch.autograd.graph.saved_tensors_hooks`` sees exactly
what autograd saves. The protocol is the memory model's (``cnncost.memory.models``): at
inference one ``no_grad`` forward in eval mode; in training ``zero_grad(set_to_none=True)``,
forward and loss (under autocast when asked), ``backward``, ``step``, twice when the optimizer
keeps state.

This is the accounting of PyTorch's ``torch.distributed._tools.mem_tracker.MemTracker``
(storages tracked from operator outputs, freed by weak-reference callbacks, 512-byte blocks on
CUDA), without its module hooks: MemTracker's ``ModTracker`` holds the input gradients of a
module with several inputs until all of them have arrived (``register_multi_grad_hook``), which
changes what it measures (EfficientNet-B1's backward peak by 15,360 bytes at batch 2; ResNets,
DenseNets and Inceptions are not affected). ``tests/bridge/test_memtrack.py`` shows both agree
where the hooks change nothing.

Where it runs:

- inference on fake CUDA tensors (PyTorch dispatches as on a GPU);
- a training forward on fake CUDA tensors (CUDA's autocast lists), compared phase by phase up to
  the end of the loss;
- the whole training step on fake CPU tensors: the autograd engine cannot run a backward on fake
  CUDA tensors without a GPU, so the model is asked for the CPU (``device="cpu"``; the two differ
  only where the model says so: autocast lists, allocator rounding, statistics dtypes, the
  optimizer's default implementation).

Under a dispatch mode autograd never accumulates a gradient in place (``isTensorSubclassLike``
is true inside a mode), and FakeTensor's ``native_batch_norm_backward`` returns an input gradient
that the real kernels skip when the input needs none; the model is run with
``semantics="tracker"`` for the comparison. The figures cnncost reports follow ``eager``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cnncost.errors import UsageError
from cnncost.graph.layergraph import LayerGraph
from cnncost.memory.models import MemoryConfig

if TYPE_CHECKING:
    import torch


@dataclass
class TrackedStep:
    """What the tracker saw in one step: the peak of every phase, each node's forward peak (the
    highest total from its start to its last operator, as MemTracker's ``PEAK_FW``) and the
    bytes of the distinct non-parameter tensors its autograd nodes saved."""

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


@contextlib.contextmanager
def _cuda_autocast_enabled() -> Iterator[None]:
    """Let ``torch.autocast("cuda")`` be created on a machine without a GPU: fake CUDA tensors
    then dispatch through CUDA's autocast lists (nothing runs on a device)."""
    import torch

    available, bf16 = torch.cuda.is_available, torch.cuda.is_bf16_supported
    torch.cuda.is_available = lambda: True
    torch.cuda.is_bf16_supported = lambda *a, **k: True
    try:
        yield
    finally:
        torch.cuda.is_available, torch.cuda.is_bf16_supported = available, bf16


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
            step = _run(model, inputs, config, device, None, None)
            return TrackedMemory(config, (step,))
        model.train()
        labels = torch.randint(0, 10, (config.batch,), device=device)
        optimizer = None if forward_only else _optimizer(config, model.parameters())
        # plain SGD keeps no state: its second step repeats the first exactly
        count = 1 if forward_only or config.optimizer == "sgd" else 2
        steps = tuple(_run(model, inputs, config, device, labels, optimizer)
                      for _ in range(count))
        return TrackedMemory(config, steps, forward_only)


class _Tracker:
    """Live bytes of one device's storages: operator outputs and declared tensors, each counted
    once, freed by a weak-reference callback; the peak after every operator, per phase and per
    layer."""

    def __init__(self, device: str, step: TrackedStep) -> None:
        self.device, self.step = device, step
        self.live: dict[int, int] = {}
        self.total = 0
        self.phase, self.layer = "forward", ""

    def nbytes(self, storage: Any) -> int:
        raw = int(storage.nbytes())
        return -(-raw // 512) * 512 if self.device == "cuda" and raw else raw

    def add(self, t: Any) -> None:
        import torch

        if not isinstance(t, torch.Tensor) or t.device.type != self.device:
            return
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.live:
            return
        size = self.nbytes(storage)
        self.live[key] = size
        self.total += size
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.total -= self.live.pop(key, 0)

    def sample(self, layer: bool = True) -> None:
        phases = self.step.phases
        phases[self.phase] = max(phases.get(self.phase, 0), self.total)
        if layer and self.phase == "forward" and self.layer:
            layers = self.step.layers
            layers[self.layer] = max(layers.get(self.layer, 0), self.total)


def track_module(build: Any, input_shape: tuple[int, ...], config: MemoryConfig,
                 device: str) -> TrackedMemory:
    """The same protocol on any module ``build()`` returns (a torchvision or timm reference
    model), called as ``model(x)``: the phases only (no per-layer attribution).

    Raises:
        UsageError: a training step asked on fake CUDA tensors.
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    config = tracker_config(config.validate(), device)
    training = config.mode == "training"
    if training and device == "cuda":
        raise UsageError("a training step cannot run on fake CUDA tensors without a GPU")
    with FakeTensorMode():
        with torch.device(device):
            model = build()
        inputs = (torch.randn(config.batch, *input_shape, device=device),)
        model.train(training)
        labels = torch.randint(0, 10, (config.batch,), device=device) if training else None
        optimizer = _optimizer(config, model.parameters()) if training else None
        count = 1 if not training or config.optimizer == "sgd" else 2
        steps = tuple(_run(model, inputs, config, device, labels, optimizer, plain=True)
                      for _ in range(count))
    return TrackedMemory(config, steps)


def _run(model: Any, inputs: tuple[torch.Tensor, ...], config: MemoryConfig, device: str,
         labels: torch.Tensor | None, optimizer: torch.optim.Optimizer | None,
         plain: bool = False) -> TrackedStep:
    import torch
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    step = TrackedStep()
    tracker = _Tracker(device, step)
    weights = {p.untyped_storage()._cdata for p in model.parameters()}
    weights |= {b.untyped_storage()._cdata for b in model.buffers()}
    existing = [*model.parameters(), *model.buffers(), *inputs]
    if labels is not None:
        existing.append(labels)
    for p in model.parameters():
        if p.grad is not None:
            existing.append(p.grad)
    if optimizer is not None:
        existing += [v for state in optimizer.state.values() for v in state.values()
                     if isinstance(v, torch.Tensor)]
    for t in existing:
        tracker.add(t)
    del existing, t  # the gradients die at zero_grad: hold no reference to them
    saved: dict[str, dict[int, int]] = {}

    class Dispatch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_leaves(out):
                tracker.add(t)
            tracker.sample()
            return out

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st._cdata not in weights and t.device.type == device:
            saved.setdefault(tracker.layer, {})[st._cdata] = tracker.nbytes(st)
        return t

    def around(name: str, call: Any) -> torch.Tensor:
        tracker.layer = name
        tracker.step.layers.setdefault(name, tracker.total)  # the total as it starts
        tracker.sample()
        return call()

    grad_mode = torch.enable_grad() if labels is not None else torch.no_grad()
    with grad_mode, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), Dispatch():
        if optimizer is not None:
            tracker.phase = "zero_grad"
            optimizer.zero_grad(set_to_none=True)
        tracker.phase = "forward"
        with _autocast(device, config.autocast):
            y = model(*inputs) if plain else model.run(inputs, around=around)
            tracker.layer = ""
            tracker.sample(layer=False)
            if labels is not None:
                tracker.phase, tracker.layer = "loss", "loss"
                outs = y if isinstance(y, tuple) else (y,)
                loss = None
                for o in outs:
                    term = F.cross_entropy(o, labels) if o.dim() == 2 else o.mean()
                    loss = term if loss is None else loss + term
                del outs, o, term
        del y
        if labels is not None and optimizer is not None:
            tracker.phase, tracker.layer = "backward", ""
            assert loss is not None  # the model has at least one output
            loss.backward()
            del loss
            tracker.phase = "optimizer"
            tracker.sample(layer=False)
            optimizer.step()
    step.phases.pop("zero_grad", None)
    step.saved = {layer: sum(record.values()) for layer, record in saved.items()}
    return step


def count_training_flops(graph: LayerGraph, batch: int) -> int:
    """``FlopCounterMode``'s total over one training forward and backward of the bridge's module
    (train mode, fake CPU tensors, the loss ``sum(o.mean())``, which adds no conv or matmul)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    from cnncost.bridge.module import to_module

    with FakeTensorMode():
        model = to_module(graph).train()
        inputs = tuple(torch.randn(batch, *graph.node(n).out_shape) for n in graph.input_names)
        counter = FlopCounterMode(display=False)
        with counter:
            y = model(*inputs)
            outs = y if isinstance(y, tuple) else (y,)
            loss = sum(o.float().mean() for o in outs)
            if isinstance(loss, torch.Tensor) and loss.requires_grad:
                loss.backward()
        return int(counter.get_total_flops())
