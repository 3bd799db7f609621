"""The named memory models and ``analyze_memory``, the one entry point. Must not import torch.

- ``eager`` (the default): what eager PyTorch allocates for the module the torch bridge builds
  (``cnncost check`` proves it against PyTorch's own memory tracker): per operator call, views and
  in-place operations included, autograd's saved tensors and backward, autocast's casts, the
  optimizer. Inference and training.
- ``liveness``: every node's output its own buffer, freed after its last consumer, nothing else
  (cnncost's figure before the eager model: what a memory planner that never runs in place
  could reach, ignoring operator temporaries). Inference only.
- ``sum``: every node's output kept to the end (no reuse at all). Inference only.

Every figure is the whole of what the device holds, parameters and the input batch included;
the components are reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

from cnncost.errors import OpArgumentError, Problem, SpecError, UsageError
from cnncost.graph.layergraph import LayerGraph, LayerNode
from cnncost.graph.scopes import run_schedule
from cnncost.memory import engine as E
from cnncost.memory.optim import IMPLEMENTATIONS, OPTIMIZERS, default_implementation, optimizer_step
from cnncost.memory.program import ELEMENT_BYTES, Back, Prog, Val, grads_like, pass_grad
from cnncost.memory.report import MemoryReport, StepMemory
from cnncost.ops.registry import OpContext, get_op

MODELS: dict[str, str] = {
    "eager": "what eager PyTorch allocates, call by call (in-place ops, views, temporaries, "
             "autograd's saved tensors, the optimizer); proven against PyTorch's memory tracker",
    "liveness": "each node's output its own buffer, freed after its last consumer (what a "
                "memory planner without in-place reuse could reach); inference only",
    "sum": "every node's output kept to the end; inference only",
}
MODES = ("inference", "training")
PRECISIONS = {"float32": None, "bfloat16-autocast": "bfloat16", "float16-autocast": "float16"}
#: Short names the CLI accepts for the precisions.
PRECISION_ALIASES = {"fp32": "float32", "bf16": "bfloat16-autocast",
                     "bf16-autocast": "bfloat16-autocast", "fp16": "float16-autocast",
                     "fp16-autocast": "float16-autocast"}
DEVICES = ("cuda", "cpu")


@dataclass(frozen=True)
class MemoryConfig:
    """What to simulate.

    Attributes:
        mode: ``inference`` (``no_grad``, eval mode) or ``training`` (train mode, one step:
            ``zero_grad(set_to_none=True)``, forward, cross-entropy loss, backward, optimizer step).
        batch: samples per batch.
        dtype: the module's dtype (``module.to(dtype)``); float32 for mixed-precision training.
        precision: training only: ``float32`` or an autocast (``bfloat16-autocast``,
            ``float16-autocast``) over float32 parameters.
        optimizer: training only: ``sgd``, ``sgd_momentum``, ``adam``, ``adamw``.
        implementation: ``foreach``, ``for_loop`` or ``fused`` (default: PyTorch's for the device).
        device: ``cuda`` (its autocast lists and its allocator's 512-byte rounding) or ``cpu``.
        model: ``eager``, ``liveness`` or ``sum``.
        semantics: ``eager`` (PyTorch as it runs) or ``tracker`` (PyTorch under a dispatch-mode
            tracker on fake tensors, what ``cnncost check`` compares with: autograd then adds
            gradients out of place, since a mode makes every tensor "subclass-like", and fake
            batch-norm backward computes an input gradient nobody asked for).
    """

    mode: str = "inference"
    batch: int = 1
    dtype: str = "float32"
    precision: str = "float32"
    optimizer: str = "sgd"
    implementation: str | None = None
    device: str = "cuda"
    model: str = "eager"
    semantics: str = "eager"

    def validate(self) -> MemoryConfig:
        """Raises: UsageError: an unknown name or an impossible combination."""
        choices: list[tuple[str, str, object]] = [
            ("mode", self.mode, MODES), ("precision", self.precision, PRECISIONS),
            ("optimizer", self.optimizer, OPTIMIZERS), ("device", self.device, DEVICES),
            ("memory model", self.model, MODELS),
            ("semantics", self.semantics, ("eager", "tracker"))]
        if self.implementation is not None:
            choices.append(("implementation", self.implementation, IMPLEMENTATIONS))
        for what, value, allowed in choices:
            if value not in allowed:  # type: ignore[operator]
                raise UsageError(f"unknown {what} {value!r}; choose from "
                                 f"{', '.join(allowed)}")  # type: ignore[arg-type]
        if self.dtype not in ("float32", "float16", "bfloat16"):
            raise UsageError(f"memory is modelled for float32, float16 and bfloat16 modules, not "
                             f"{self.dtype!r}")
        if self.batch < 1:
            raise UsageError(f"batch must be at least 1, got {self.batch}")
        if self.mode == "training" and self.model != "eager":
            raise UsageError(f"the {self.model} memory model is defined for inference only; "
                             f"training memory follows the eager model")
        if self.precision != "float32" and (self.mode != "training" or self.dtype != "float32"):
            raise UsageError("autocast precisions apply to training with float32 parameters "
                             "(use --dtype for a half-precision inference)")
        if self.implementation == "fused" and self.device != "cuda":
            raise UsageError("fused optimizers are modelled on CUDA only")
        return self

    @property
    def autocast(self) -> str | None:
        return PRECISIONS[self.precision]

    @property
    def resolved_implementation(self) -> str:
        return self.implementation or default_implementation(self.device)


def analyze_memory(graph: LayerGraph, config: MemoryConfig) -> MemoryReport:
    """Simulate ``graph`` under ``config``.

    Raises:
        UsageError: an invalid config.
        SpecError: an in-place operator conflicts with another reader or with autograd.
    """
    config.validate()
    if config.model != "eager":
        return _simple_model(graph, config)
    sim = E.Simulator(E.SimConfig(batch=config.batch, param_dtype=config.dtype,
                                  training=config.mode == "training", autocast=config.autocast,
                                  device=config.device,
                                  semantics=config.semantics), _rule)
    _consumers(sim, graph)
    try:
        _create_parameters(sim, graph, config)
        inputs = {name: sim.external(config.batch * prod(graph.node(name).out_shape),
                                     config.dtype, "input") for name in graph.input_names}
        if config.mode == "inference":
            steps = [_inference(sim, graph, inputs)]
        else:
            labels = sim.external(config.batch, "int64", "labels")
            steps = [_training_step(sim, graph, inputs, labels, config, number)
                     for number in (1, 2)]
        return MemoryReport.build(graph, config, sim, steps)
    except E.InplaceConflict as err:
        node = graph.node(err.layer)
        raise SpecError([Problem("inplace", str(err), node.location, err.layer)]) from None
    finally:
        sim.close()


def _create_parameters(sim: E.Simulator, graph: LayerGraph, config: MemoryConfig) -> None:
    """The module exists before its forward: every parameter and buffer is allocated first, in
    the order an inference pass creates them (topological, then each rule's own order).

    A layer's parameters are its module's, a function of its context alone (``Prog.param``):
    before an inference forward they are found once per distinct layer (``layer_params``). A
    training step runs a throwaway inference pass instead, which also reports an in-place
    conflict of the inference forward before any of the training forward, as PyTorch would
    meet it building the module's first inference.
    """
    if config.mode == "training":
        finder = E.Simulator(E.SimConfig(batch=1, param_dtype=config.dtype,
                                         device=config.device), _rule)
        _consumers(finder, graph)
        inputs = {name: finder.external(prod(graph.node(name).out_shape), config.dtype,
                                        "input") for name in graph.input_names}
        try:
            _forward(finder, graph, inputs)
            for (layer, _), param in finder.params.items():
                sim.new_param(layer, param.numel, param.dtype, param.trainable)
        finally:
            finder.close()
    else:
        scratch = E.Simulator(E.SimConfig(batch=1, param_dtype=config.dtype,
                                          device=config.device), _rule)
        try:
            for node in graph:
                for numel, dtype, trainable in layer_params(node, config, scratch):
                    sim.new_param(node.name, numel, dtype, trainable)
        finally:
            scratch.close()
    sim._param_index.clear()


#: (operator, attributes, input shapes, output shape, dtype, device) -> the memory rule and
#: the (numel, dtype, trainable) of each parameter it creates, in order
_PARAMS: dict[tuple[Any, ...], tuple[Any, tuple[tuple[int, str, bool], ...]]] = {}
_PARAMS_SIZE = 1 << 14


def layer_params(node: LayerNode, config: MemoryConfig, scratch: E.Simulator
                 ) -> tuple[tuple[int, str, bool], ...]:
    """(numel, dtype, trainable) of each parameter and buffer ``node``'s rule creates, in order:
    the rule is run once per distinct layer, on inputs of its shapes, in ``scratch`` (an
    inference simulator of one sample; memoised across analyses)."""
    rule = _rule(node.op)
    try:
        key = (node.op, tuple(node.attrs.items()), node.in_shapes, node.out_shape,
               config.dtype, config.device)
        hit = _PARAMS.get(key)
    except TypeError:  # an unhashable attribute (a graph built by hand): run every time
        key, hit = None, None
    if hit is not None and hit[0] is rule:
        return hit[1]
    shapes = node.in_shapes or (node.out_shape,)
    args = []
    for i, shape in enumerate(shapes):
        v = scratch.alloc_val("", "input", prod(shape), config.dtype, "activation")
        scratch.hold(v, ("graph", node.name, i))
        args.append(v)
    known = len(scratch.params)
    scratch.begin_layer("forward", node.name)
    scratch._param_index[node.name] = 0
    rule(Prog(scratch, node.name, node.context, args))
    found = tuple((p.numel, p.dtype, p.trainable) for p in list(scratch.params.values())[known:])
    if key is not None:
        if len(_PARAMS) >= _PARAMS_SIZE:
            _PARAMS.clear()
        _PARAMS[key] = (rule, found)
    return found


def _rule(op: str) -> Callable[[Prog], Val]:
    rule = get_op(op).memory
    if rule is None:
        raise OpArgumentError(f"operator {op!r} has no memory rule")
    return rule


def _consumers(sim: E.Simulator, graph: LayerGraph) -> None:
    for name in graph.topo_order():
        sim.consumers[name] = graph.consumers_of(name)


def _forward(sim: E.Simulator, graph: LayerGraph, inputs: dict[str, Val]) -> dict[str, Val]:
    """``GraphModule.run``: topological order, each output dropped after its last consumer and
    the end of every block that reads it (``cnncost.graph.scopes``)."""
    schedule = run_schedule(graph)
    pending: dict[str, int] = {}
    for srcs in schedule.scope_frees:
        for src in srcs:
            pending[src] = pending.get(src, 0) + 1
    scoped: dict[str, Val] = {}
    values: dict[str, Val] = {}
    for step, name in enumerate(schedule.order):
        node = graph.node(name)
        span = sim.begin_layer("forward", name)
        sim._param_index[name] = 0
        args = [values[s] for s in node.inputs] if node.inputs else [inputs[name]]
        prog = Prog(sim, name, node.context, args)
        out = _rule(node.op)(prog)
        prog.finish(out)
        sim.hold(out, ("graph", name))
        prog.release_result(out)
        out.storage.producer = name  # the node whose output lives in it (in-place checks)
        values[name] = out
        if name in pending:  # a block that reads it keeps it until the block returns
            scoped[name] = out
            sim.hold(out, ("scope", name))
        for src in schedule.frees[step]:
            sim.release(values.pop(src), ("graph", src))
        for src in schedule.scope_frees[step]:
            pending[src] -= 1
            if not pending[src]:
                sim.release(scoped.pop(src), ("scope", src))
        span.after = sim.live
    sim.after_op(layer=False)  # the forward has returned (a graph of inputs only runs no op)
    return {name: values[name] for name in graph.outputs}


def _inference(sim: E.Simulator, graph: LayerGraph, inputs: dict[str, Val]) -> StepMemory:
    sim.phases = {}
    start = sim.live
    outputs = _forward(sim, graph, inputs)
    end = sim.live
    sim.snapshot("forward")
    for name, v in outputs.items():
        sim.release(v, ("graph", name))
    return StepMemory.of(sim, start, {"forward": end})


def _training_step(sim: E.Simulator, graph: LayerGraph, inputs: dict[str, Val], labels: Val,
                   config: MemoryConfig, number: int) -> StepMemory:
    sim.phases = {}
    sim.zero_grad()
    start = sim.live
    outputs = _forward(sim, graph, inputs)
    loss = _loss(sim, graph, outputs, labels)
    after_forward = sim.live
    sim.snapshot("forward")
    for param in sim.params.values():  # leaving the autocast region empties its cast cache
        if param.cast is not None:
            sim.release(param.cast, ("autocast-cache", id(param)))
            param.cast = None
    for name, v in outputs.items():  # del outputs
        sim.release(v, ("graph", name))
    sim.backward(loss)
    sim.release(loss, ("loss",))
    after_backward = sim.live
    optimizer_step(sim, config.optimizer, config.resolved_implementation)
    return StepMemory.of(sim, start, {"forward": after_forward, "backward": after_backward,
                                      "optimizer": sim.live}, number=number)


def _loss(sim: E.Simulator, graph: LayerGraph, outputs: dict[str, Val], labels: Val) -> Val:
    """``sum(cross_entropy(o, labels) for 2-D outputs, o.mean() otherwise)`` inside autocast."""
    sim.begin_layer("loss", "loss")
    prog = Prog(sim, "loss", OpContext({}, ()), list(outputs.values()))
    total: Val | None = None
    term: Val | None = None
    for name, out in outputs.items():
        previous = term
        shape = graph.node(name).out_shape
        if len(shape) == 1:  # cross_entropy = nll_loss(log_softmax(out)), each autocast
            (logits,) = prog.autocast("cross_entropy", [out])  # held until the loss returns
            logp = prog.op("_log_softmax", [logits], [(logits.numel, logits.dtype)], save=[0],
                           grad=grads_like(0, label="_log_softmax_backward_data"))
            (logp_in,) = prog.autocast("nll_loss", [logp])
            term = prog.op("nll_loss_forward", [logp_in, labels],
                           [(1, logp_in.dtype), (1, logp_in.dtype)], save=[logp_in, labels, 1],
                           grad=grads_like(0, label="nll_loss_backward"))
            prog.drop(*{id(v): v for v in (logits, logp, logp_in) if v not in (out, term)}
                      .values())
        else:
            term = prog.op("mean", [out], [(1, out.dtype)], grad=_mean_all_grad)
        if previous is not None and previous is not total:
            prog.drop(previous)  # the name `term` is rebound
        if total is None:
            total = term
        else:
            old = total
            total = prog.op("add", [total, term], [(1, total.dtype)], grad=pass_grad(0, 1))
            if old is not term:
                prog.drop(old)  # the name `loss` is rebound
    assert total is not None
    prog.finish(total)
    sim.hold(total, ("loss",))
    prog.release_result(total)
    return total


def _mean_all_grad(b: Back) -> None:
    b.give(0, b.like(0, "div"))


def _simple_model(graph: LayerGraph, config: MemoryConfig) -> MemoryReport:
    """The ``liveness`` and ``sum`` models: node outputs only, through the same report."""
    sim = E.Simulator(E.SimConfig(batch=config.batch, param_dtype=config.dtype,
                                  device=config.device), _rule)
    # the input is an activation like any other here: freed after its last reader, as the
    # report's liveness figure has always counted it
    inputs = {name: sim.alloc_val(name, "input", config.batch * prod(graph.node(name).out_shape),
                                  config.dtype, "input") for name in graph.input_names}
    sim.input_bytes = sum(v.storage.nbytes for v in inputs.values())
    for node in graph:  # the weights, as the eager model counts them
        params = node.opdef.params(node.context)
        for count, trainable in ((params.trainable, True), (params.non_trainable, False)):
            if count:
                sim.new_param(node.name, count, config.dtype, trainable)
    order = graph.topo_order()
    position = {name: i for i, name in enumerate(order)}
    outputs = set(graph.outputs)
    last: dict[str, int] = {}
    for name in order:
        last[name] = max((position[c] for c in graph.consumers_of(name)),
                         default=position[name])
        if name in outputs or config.model == "sum":
            last[name] = len(order)
    frees: dict[int, list[str]] = {}
    for name, at in last.items():
        frees.setdefault(at, []).append(name)
    values: dict[str, Val] = {}
    start = sim.live
    for i, name in enumerate(order):
        node = graph.node(name)
        span = sim.begin_layer("forward", name)
        if node.op == "input":
            v = inputs[name]
        else:
            v = sim.alloc_val(name, node.op, config.batch * prod(node.out_shape), config.dtype,
                              "activation")
            sim.after_op()
        sim.hold(v, ("graph", name))
        values[name] = v
        for freed in frees.get(i, ()):
            sim.release(values[freed], ("graph", freed))
        span.after = sim.live
    step = StepMemory.of(sim, start, {"forward": sim.live})
    return MemoryReport.build(graph, config, sim, [step])


__all__ = ["DEVICES", "ELEMENT_BYTES", "MODELS", "MODES", "PRECISIONS", "MemoryConfig",
           "analyze_memory"]
