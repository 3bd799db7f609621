"""The optimizer step: the state an optimizer keeps and the temporaries its step makes.

Must not import torch. Follows ``torch/optim/sgd.py`` and ``adam.py`` (AdamW is Adam with
decoupled weight decay, applied in place): the state is created in the first step (SGD with
momentum clones each gradient; Adam makes two zero tensors per parameter and a step counter),
every later update is in place, except Adam's denominator ``sqrt(v) / bc + eps``:

- ``foreach`` (PyTorch's default on CUDA): one list of temporaries the size of all parameters at
  once (``torch._foreach_sqrt``);
- ``for_loop`` (the default on the CPU, and for tensor subclasses): per parameter,
  ``exp_avg_sq.sqrt()`` then the division, while the previous parameter's denominator is still
  bound to its Python name;
- ``fused`` (``fused=True``): no temporaries; the step counters live on the device.

Adam's step counter is a float32 scalar on the host unless fused (on the CPU it is memory of the
same device).
"""

from __future__ import annotations

from cnncost.memory.engine import Simulator
from cnncost.memory.program import Param, Val

#: The optimizers cnncost models, by the name the CLI takes.
OPTIMIZERS: dict[str, str] = {
    "sgd": "SGD (no momentum): no state, an in-place update",
    "sgd_momentum": "SGD with momentum: one buffer per parameter (a clone of the first gradient)",
    "adam": "Adam: exp_avg and exp_avg_sq per parameter, a step counter",
    "adamw": "AdamW: as Adam (the decoupled weight decay is in place)",
}

#: Implementations of the update, by the name the CLI takes.
IMPLEMENTATIONS: dict[str, str] = {
    "foreach": "torch._foreach_* over all parameters (PyTorch's default on CUDA)",
    "for_loop": "one parameter at a time (PyTorch's default on the CPU)",
    "fused": "fused=True kernels: no temporaries",
}


def default_implementation(device: str) -> str:
    return "foreach" if device == "cuda" else "for_loop"


def optimizer_step(sim: Simulator, optimizer: str, implementation: str) -> None:
    """``optimizer.step()`` over every trainable parameter with a gradient."""
    sim.phase, sim.layer = "optimizer", ""
    sim.after_op()  # the in-place updates allocate nothing
    params = [p for p in sim.params.values() if p.trainable and p.grad is not None]
    state: dict[int, list[Val]] = sim.__dict__.setdefault("optimizer_state", {})
    first = not state and optimizer != "sgd"
    if optimizer == "sgd":
        return
    if optimizer == "sgd_momentum":
        if first:
            for param in params:  # torch.clone(grad).detach(), in the update loop
                state[id(param)] = [_state(sim, param, "momentum_buffer")]
                sim.after_op()
        return
    if optimizer not in ("adam", "adamw"):
        raise ValueError(f"unknown optimizer {optimizer!r}")
    if first:
        for param in params:  # _init_group: step, exp_avg, exp_avg_sq
            vals = []
            if implementation == "fused" or sim.config.device == "cpu":
                vals.append(sim.alloc_val("", "step", 1, "float32", "optimizer"))
                sim.after_op()
            vals.append(_state(sim, param, "exp_avg"))
            sim.after_op()
            vals.append(_state(sim, param, "exp_avg_sq"))
            sim.after_op()
            state[id(param)] = vals
            for i, v in enumerate(vals):
                sim.hold(v, ("optimizer", id(param), i))
    if implementation == "fused":
        return
    if implementation == "foreach":
        temps = []
        for param in params:
            temps.append(sim.alloc_val(param.layer, "_foreach_sqrt", param.numel, param.dtype,
                                       "optimizer"))
        sim.after_op()
        for i, v in enumerate(temps):
            sim.hold(v, ("temp", i))
        for i, v in enumerate(temps):
            sim.release(v, ("temp", i))
        return
    previous: tuple[Val, Param] | None = None  # the last parameter's denominator, still held
    for param in params:
        root = sim.alloc_val(param.layer, "sqrt", param.numel, param.dtype, "optimizer")
        sim.hold(root, ("temp", "sqrt"))
        sim.after_op()
        denom = sim.alloc_val(param.layer, "div", param.numel, param.dtype, "optimizer")
        sim.hold(denom, ("temp", "denom", id(param)))
        sim.after_op()
        sim.release(root, ("temp", "sqrt"))
        if previous is not None:
            sim.release(previous[0], ("temp", "denom", id(previous[1])))
        previous = (denom, param)
    if previous is not None:
        sim.release(previous[0], ("temp", "denom", id(previous[1])))


def _state(sim: Simulator, param: Param, label: str) -> Val:
    v = sim.alloc_val(param.layer, label, param.numel, param.dtype, "optimizer")
    if label == "momentum_buffer":
        sim.hold(v, ("optimizer", id(param), 0))
    return v
