"""Runs the micro-programs of a LayerGraph as eager PyTorch would. Must not import torch.

The forward follows ``cnncost.bridge.module.GraphModule.run``: nodes in the graph's topological
order, each node's output kept until its last consumer has run (graph outputs until the end),
the input batch held by the caller throughout. A storage is freed when nothing holds it any more:
the graph, a module's Python local, an autograd node that saved it, autocast's weight-cast cache,
a gradient buffer of the backward, a parameter's ``.grad``, the optimizer.

The backward replays PyTorch's autograd engine (``torch/csrc/autograd/engine.cpp``): nodes run
when every gradient flowing into them has arrived, the ready node with the highest sequence
number first (AccumulateGrad nodes before any other); a node's incoming gradients die when its
backward returns, then its saved tensors are released, then its outputs go into the input
buffers of the next nodes, where a second gradient for the same tensor is added in place when
the buffer holds the only reference to the first one (``InputBuffer::accumulate``) and out of
place otherwise. AccumulateGrad steals a fresh gradient as the parameter's ``.grad``.

Peaks are taken after each operator's outputs exist, as PyTorch's own ``MemTracker`` samples them;
CUDA's caching allocator rounds every allocation up to a multiple of 512 bytes.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnncost.errors import UsageError
from cnncost.memory.program import (
    ELEMENT_BYTES,
    Back,
    GradNode,
    Param,
    Prog,
    Storage,
    Val,
    grads_like,
    pass_grad,
)

#: Categories of memory, as PyTorch's MemTracker names them (plus the input batch).
CATEGORIES = ("weights", "buffers", "input", "activation", "backward", "gradients", "optimizer")

CUDA_BLOCK = 512


class NoGradient(UsageError):
    """A training step of a network whose outputs do not depend on a trainable parameter."""


class InplaceConflict(Exception):
    """An in-place operator would modify a tensor that something else still needs."""

    def __init__(self, layer: str, message: str) -> None:
        super().__init__(message)
        self.layer = layer


@dataclass(frozen=True)
class SimConfig:
    """What is simulated (``cnncost.memory.models.MemoryConfig`` builds one)."""

    batch: int
    param_dtype: str = "float32"
    training: bool = False
    autocast: str | None = None  # "bfloat16" / "float16": the autocast dtype in training
    device: str = "cuda"  # "cuda" or "cpu": dispatch, autocast policy, allocator rounding
    #: "eager": what PyTorch does; "tracker": what it does under a dispatch-mode tracker on fake
    #: tensors (gradients accumulated out of place; batch-norm's backward also computing the
    #: input's gradient when nothing needs it)
    semantics: str = "eager"

    @property
    def tracker(self) -> bool:
        return self.semantics == "tracker"


@dataclass
class Event:
    """One change of live memory: ``delta`` bytes of ``category`` by ``label`` in ``layer``."""

    phase: str  # forward / loss / backward / optimizer / zero_grad
    layer: str
    label: str
    category: str
    delta: int
    live: int  # every category together after the change (parameters and buffers included)


@dataclass
class LayerSpan:
    """One layer's share of a phase: live bytes when it started and ended, and its peak."""

    before: int = 0
    peak: int = 0
    after: int = 0
    allocated: int = 0


@dataclass
class PhaseStats:
    peak: int = 0
    peak_layer: str = ""
    peak_label: str = ""
    layers: dict[str, LayerSpan] = field(default_factory=dict)


class Simulator:
    """One run: params, storages and their holders, autograd nodes, a timeline."""

    def __init__(self, config: SimConfig, rules: Callable[[str], Callable[[Prog], Val]]) -> None:
        self.config = config
        self.rules = rules
        self.live = 0
        self.by_category = dict.fromkeys(CATEGORIES, 0)
        self.events: list[Event] = []
        self.phase = "forward"
        self.layer = ""
        self.phases: dict[str, PhaseStats] = {}
        self.params: dict[tuple[str, int], Param] = {}
        self._param_index: dict[str, int] = {}
        self._seq = itertools.count()
        self._accumulators: dict[int, GradNode] = {}
        self._grad_nodes: list[GradNode] = []  # every autograd node, for ``close``
        self.consumers: dict[str, tuple[str, ...]] = {}
        self.saved_by_layer: dict[str, dict[Storage, int]] = {}
        self.snapshots: dict[str, dict[str, int]] = {}
        self.input_bytes = 0  # the input batch (and labels) the caller holds

    def close(self) -> None:
        """Unlink what refers back (a parameter and its tensors, an autograd node and the
        tensors it produced), once the run's figures are taken: the run is then freed by
        reference counting, not left for the cyclic collector (``cnncost.gcpause``)."""
        for param in self.params.values():
            param.val = param.grad = param.cast = None
        for node in self._grad_nodes:
            node.inputs, node.outputs, node.saved, node.buffer = [], [], [], []
            node.backward, node.param = _accumulate_rule, None
        self._grad_nodes.clear()
        self._accumulators.clear()

    def snapshot(self, name: str) -> None:
        """Remember the bytes per category now (at the end of a phase)."""
        self.snapshots[name] = dict(self.by_category)

    # -- allocation ------------------------------------------------------------------------------
    def nbytes(self, numel: int, dtype: str) -> int:
        raw = numel * ELEMENT_BYTES[dtype]
        if self.config.device == "cuda" and raw:
            return -(-raw // CUDA_BLOCK) * CUDA_BLOCK
        return raw

    def alloc_val(self, layer: str, label: str, numel: int, dtype: str, category: str) -> Val:
        storage = Storage(self.nbytes(numel, dtype), layer, label, category)
        self._change(storage, storage.nbytes, label)
        return Val(numel, dtype, storage)

    def after_op(self, layer: bool = True) -> None:
        """An operator's outputs exist: sample the peak (of the phase, and of the running
        layer unless ``layer`` is false)."""
        stats = self.phases.setdefault(self.phase, PhaseStats())
        if (self.live > stats.peak or not stats.peak_label) and self.live >= stats.peak:
            stats.peak, stats.peak_layer = self.live, self.layer
            stats.peak_label = self.events[-1].label if self.events else ""
        span = stats.layers.get(self.layer) if layer else None
        if span is not None and self.live > span.peak:
            span.peak = self.live

    def hold(self, v: Val, key: tuple[Any, ...]) -> None:
        assert not v.storage.freed, f"{v} is used after its storage was freed"
        v.storage.holders.add(key)

    def release(self, v: Val, key: tuple[Any, ...]) -> None:
        holders = v.storage.holders
        if key in holders:
            holders.discard(key)
            if not holders:
                v.storage.freed = True
                self._change(v.storage, -v.storage.nbytes, "free " + v.storage.label)

    def _change(self, storage: Storage, delta: int, label: str) -> None:
        if not delta:
            return
        self.live += delta
        self.by_category[storage.category] += delta
        self.events.append(Event(self.phase, self.layer, label, storage.category, delta,
                                 self.live))
        if delta > 0:
            stats = self.phases.get(self.phase)
            span = stats.layers.get(self.layer) if stats else None
            if span is not None:
                span.allocated += delta

    # -- leaves --------------------------------------------------------------------------------
    def new_param(self, layer: str, numel: int, dtype: str, trainable: bool) -> Val:
        """The next parameter of ``layer`` (the same one on every step)."""
        index = self._param_index.get(layer, 0)
        self._param_index[layer] = index + 1
        key = (layer, index)
        param = self.params.get(key)
        if param is None:
            param = Param(layer, numel, dtype, trainable)
            category = "weights" if trainable else "buffers"
            storage = Storage(self.nbytes(numel, dtype), layer, "parameter", category)
            storage.holders.add(("param", layer, index))
            self._change(storage, storage.nbytes, "parameter")
            param.val = Val(numel, dtype, storage, requires_grad=trainable and self.config.training,
                            param=param)
            self.params[key] = param
        assert param.val is not None
        return param.val

    def external(self, numel: int, dtype: str, label: str) -> Val:
        """A tensor the caller holds throughout (the input batch, the labels)."""
        storage = Storage(self.nbytes(numel, dtype), "", label, "input")
        storage.holders.add(("caller", label))
        self.input_bytes += storage.nbytes
        self._change(storage, storage.nbytes, label)
        return Val(numel, dtype, storage)

    # -- autograd --------------------------------------------------------------------------------
    def new_grad_node(self, label: str, layer: str, ins: list[Val], outs: list[Val],
                      saved: list[Val], backward: Callable[[Back], None]) -> GradNode:
        node = GradNode(next(self._seq), label, layer, ins, outs, saved, backward)
        self._grad_nodes.append(node)
        record = self.saved_by_layer.setdefault(layer, {})
        for i, v in enumerate(saved):
            self.hold(v, ("saved", node.seq, i))
            if v.storage.category not in ("weights", "buffers"):  # not activations
                record[v.storage] = v.storage.nbytes
        return node

    def check_inplace(self, layer: str, label: str, target: Val) -> None:
        """Raise InplaceConflict where PyTorch would fail or compute something else."""
        if target.param is not None or any(k[0] == "caller" for k in target.storage.holders):
            raise InplaceConflict(layer, f"in-place {label} would modify the network's input "
                                         f"or a parameter")
        producer = target.storage.producer
        if producer is not None and self.consumers.get(producer, ()) != (layer,):
            others = [c for c in self.consumers.get(producer, ()) if c != layer]
            raise InplaceConflict(
                layer, f"in-place {label} modifies the output of {producer!r}, which "
                       f"{', '.join(repr(o) for o in others)} also read(s); make it "
                       f"out-of-place (inplace: false)")
        saved = [k for k in target.storage.holders if k[0] == "saved"]
        if self.config.training and saved:
            raise InplaceConflict(
                layer, f"in-place {label} modifies a tensor that autograd saved for the "
                       f"backward (PyTorch fails in backward: 'one of the variables needed for "
                       f"gradient computation has been modified by an inplace operation'); make "
                       f"it out-of-place (inplace: false)")

    def _edge(self, v: Val) -> GradNode | None:
        if not v.requires_grad:
            return None
        if v.grad_fn is not None:
            return v.grad_fn
        param = v.param
        if param is None or not param.trainable:
            return None
        node = self._accumulators.get(id(param))
        if node is None:
            node = GradNode(10**18 + len(self._accumulators), "AccumulateGrad", param.layer,
                            [v], [v], [], _accumulate_rule, param=param)
            self._accumulators[id(param)] = node
            self._grad_nodes.append(node)
        return node

    def backward(self, loss: Val) -> None:
        """``loss.backward()``."""
        self.phase = "backward"
        self.phases.setdefault("backward", PhaseStats())
        root = loss.grad_fn
        if root is None:
            raise NoGradient("nothing in this network requires a gradient (no trainable "
                             "parameter reaches an output): a training step has no backward")
        self._accumulators.clear()
        nodes: dict[int, GradNode] = {}
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in nodes:
                continue
            nodes[id(node)] = node
            node.dependencies = 0
            node.buffer = [None] * len(node.outputs)
            for v in self._next(node):
                nxt = self._edge(v)
                if nxt is not None:
                    stack.append(nxt)
        for node in nodes.values():
            for v in self._next(node):
                nxt = self._edge(v)
                if nxt is not None:
                    nxt.dependencies += 1
        self.layer = ""
        seed = self.alloc_val("", "ones_like", 1, loss.dtype, "backward")
        self.after_op()
        self.hold(seed, ("seed",))  # torch.autograd.backward's grad_tensors list holds it
        self._put(root, 0, seed)
        ready: list[tuple[int, int, GradNode]] = [(-root.seq, 0, root)]
        tiebreak = itertools.count(1)
        while ready:
            _, _, node = heapq.heappop(ready)
            self.layer = node.layer
            span = self.phases["backward"].layers.setdefault(node.layer, LayerSpan(self.live))
            span.peak = max(span.peak, self.live)
            for nxt, slot, grad, key in self._run(node):
                if nxt is None:
                    self.release(grad, key)
                    continue
                self._put(nxt, slot, grad)
                self.release(grad, key)
                nxt.dependencies -= 1
                if nxt.dependencies == 0:
                    heapq.heappush(ready, (-nxt.seq, next(tiebreak), nxt))
            span.after = self.live
        self.layer = ""
        self.release(seed, ("seed",))

    @staticmethod
    def _next(node: GradNode) -> list[Val]:
        """The forward inputs whose producers the node's gradients flow to (none for an
        AccumulateGrad node, the end of the backward)."""
        return [] if node.param is not None else node.inputs

    def _slot(self, node: GradNode, v: Val) -> int:
        for i, out in enumerate(node.outputs):
            if out is v or (out.storage is v.storage and out.numel == v.numel
                            and out.grad_fn is node):
                return i
        return 0

    def _put(self, node: GradNode, slot: int, grad: Val) -> None:
        """``InputBuffer::add``."""
        key = ("buffer", node.seq, slot)
        old = node.buffer[slot]
        if old is None:
            node.buffer[slot] = grad
            self.hold(grad, key)
            return
        holders = old.storage.holders
        sole = holders == {key} and old.view_of is None
        if not self.config.tracker and sole:
            return  # old.add_(grad): the incoming gradient dies with its last holder
        total = self.alloc_val(node.layer, "add", old.numel, old.dtype, "backward")
        self.after_op()
        self.release(old, key)
        node.buffer[slot] = total
        self.hold(total, key)

    def _run(self, node: GradNode) -> list[tuple[GradNode | None, int, Val, tuple[Any, ...]]]:
        grads = list(node.buffer)
        back = Back(self, node, grads)
        for i, g in enumerate(grads):
            if g is not None:
                self.release(g, ("buffer", node.seq, i))
        node.buffer = []
        node.backward(back)
        given = back.given
        for k, v in given:
            self.hold(v, ("out", k, id(v)))
        back.finish_apply()
        out: list[tuple[GradNode | None, int, Val, tuple[Any, ...]]] = []
        for k, v in given:
            v = self._validate(node, k, v)
            target = node.inputs[k]
            nxt = self._edge(target)
            out.append((nxt, self._slot(nxt, target) if nxt is not None else 0, v,
                        ("out", k, id(v))))
        back.finish()
        if node.param is None:
            for i, v in enumerate(node.saved):
                self.release(v, ("saved", node.seq, i))
        return out

    def _validate(self, node: GradNode, k: int, v: Val) -> Val:
        """``validate_outputs``: a broadcast input's gradient is summed to its shape, a gradient
        of another dtype is cast."""
        target = node.inputs[k]
        for label, numel, dtype in (("sum_to", target.numel, v.dtype),
                                    ("_to_copy", target.numel, target.dtype)):
            if v.numel == numel and v.dtype == dtype:
                continue
            w = self.alloc_val(node.layer, label, numel, dtype, "backward")
            self.after_op()
            self.hold(w, ("out", k, id(w)))
            self.release(v, ("out", k, id(v)))
            v = w
        return v

    def accumulate(self, node: GradNode, grad: Val) -> None:
        """AccumulateGrad: the gradient becomes ``param.grad`` (stolen when nothing else holds
        it, copied otherwise), or is added in place to an existing one."""
        param = node.param
        assert param is not None
        key = ("grad", id(param))
        if param.grad is None:
            storage = grad.storage
            whole = grad.numel * ELEMENT_BYTES[grad.dtype] == storage.nbytes or (
                self.nbytes(grad.numel, grad.dtype) == storage.nbytes)
            if len(storage.holders) == 1 and whole:
                param.grad = grad
                self.hold(grad, key)
                self._recategorize(storage, "gradients")
                return
            copy = self.alloc_val(param.layer, "clone", param.numel, param.dtype, "gradients")
            self.after_op()
            param.grad = copy
            self.hold(copy, key)
            return

    def _recategorize(self, storage: Storage, category: str) -> None:
        if storage.category != category and storage.holders:
            self.by_category[storage.category] -= storage.nbytes
            self.by_category[category] += storage.nbytes
            storage.category = category

    def zero_grad(self) -> None:
        """``optimizer.zero_grad(set_to_none=True)``."""
        self.phase, self.layer = "zero_grad", ""
        for param in self.params.values():
            if param.grad is not None:
                grad, param.grad = param.grad, None
                self.release(grad, ("grad", id(param)))

    # -- the forward -----------------------------------------------------------------------------
    def begin_layer(self, phase: str, layer: str) -> LayerSpan:
        self.phase, self.layer = phase, layer
        stats = self.phases.setdefault(phase, PhaseStats())
        span = stats.layers.setdefault(layer, LayerSpan(self.live, self.live))
        span.before = self.live
        span.peak = max(span.peak, self.live)
        return span


def _accumulate_rule(b: Back) -> None:
    grad = b.grad(0)
    if grad is not None:
        b.sim.accumulate(b.node, grad)


# Re-exported for the rules' convenience.
__all__ = ["CATEGORIES", "Event", "InplaceConflict", "LayerSpan", "PhaseStats", "SimConfig",
           "Simulator", "grads_like", "pass_grad"]
