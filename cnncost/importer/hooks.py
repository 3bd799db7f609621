"""The hook-based trace: for models symbolic tracing cannot follow (a ``forward`` whose control
flow reads tensor sizes). Imports torch.

The model runs once, eagerly (on fake tensors where it can), with forward hooks on every module:
a leaf module's call (a class the mapping table knows, or a torch.nn module) is one node; the
torch functions and tensor methods called outside leaf modules are recorded by a
``TorchFunctionMode``. Tensors are followed by identity, so an in-place method's result is
the tensor it modified. The records are the same ``TraceNode`` s as the fx trace's, so the
rest of the importer does not know which trace made them.
"""

from __future__ import annotations

import operator
import traceback
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnncost.importer.ir import Scope
from cnncost.importer.trace import Ref, TraceNode, class_path, origin_of, record, run_recorded


class _State:
    def __init__(self, model: nn.Module, is_leaf: Callable[[nn.Module], bool]) -> None:
        self.model, self.is_leaf = model, is_leaf
        self.names = {id(m): name for name, m in model.named_modules()}
        self.params = {id(t): name for name, t in (*model.named_parameters(),
                                                   *model.named_buffers())}
        self.reset()

    def reset(self) -> None:
        self.nodes: list[TraceNode] = []
        self.producers: dict[int, str] = {}
        self.keep: list[Any] = []  # tensors stay alive: their ids are never reused
        self.stack: list[Scope] = []
        self.leaf_depth = 0
        self.calls: dict[str, int] = {}
        self.active = False

    # -- values ------------------------------------------------------------------------------
    def ref(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            name = self.producers.get(id(value))
            if name is None:
                name = self._constant(value)
            return Ref(name)
        if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
            return type(value)(self.ref(v) for v in value)
        if isinstance(value, dict):
            return {k: self.ref(v) for k, v in value.items()}
        return value

    def _constant(self, value: torch.Tensor) -> str:
        """A tensor no recorded call made: a parameter, a buffer, or a constant."""
        target = self.params.get(id(value), "<constant tensor>")
        name = self._name(target.replace(".", "_"))
        self.nodes.append(TraceNode(name, "get_attr", target, (), {},
                                    record(value, self.params)))
        self.producers[id(value)] = name
        self.keep.append(value)
        return name

    def _name(self, base: str) -> str:
        taken = {n.name for n in self.nodes}
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        return name

    def add(self, kind: str, target: Any, label: str, args: tuple[Any, ...],
            kwargs: dict[str, Any], out: Any, scopes: tuple[Scope, ...], index: int = 0) -> None:
        name = self._name(label)
        frames = [(f.filename, f.lineno or 0, f.line or "") for f in traceback.extract_stack()]
        self.nodes.append(TraceNode(name, kind, target, self.ref(args), self.ref(kwargs),
                                    record(out, self.params), scopes, origin_of(frames), index))
        self._produce(name, out)

    def _produce(self, name: str, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            self.producers[id(out)] = name
            self.keep.append(out)
        elif isinstance(out, (list, tuple)):
            for i, item in enumerate(out):
                if isinstance(item, torch.Tensor):
                    element = self._name(f"{name}_{i}")
                    self.nodes.append(TraceNode(element, "call_function", operator.getitem,
                                                (Ref(name), i), {}, record(item, self.params),
                                                self.nodes[-1].scopes))
                    self.producers[id(item)] = element
                    self.keep.append(item)


class _Functions(TorchFunctionMode):
    """Records the torch functions and tensor methods called outside leaf modules."""

    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        state = self.state
        if state.active and state.leaf_depth == 0:
            name = getattr(func, "__name__", "") or "call"
            qual = getattr(func, "__qualname__", "")
            method = qual.split(".")[0] in ("Tensor", "TensorBase", "_TensorBase") \
                or getattr(torch.Tensor, name, None) is func
            state.add("call_method" if method else "call_function", name if method else func,
                      name.strip("_") or "call", tuple(args), dict(kwargs), out,
                      tuple(state.stack))
        return out


def trace_hooks(model: nn.Module, input_shape: tuple[int, ...],
                is_leaf: Callable[[nn.Module], bool]) -> list[TraceNode]:
    """Trace ``model`` by running it (see the module docstring).

    Raises:
        InputRejected: the model raised on an input of ``input_shape``.
    """
    state = _State(model, is_leaf)

    def leaf(module: nn.Module) -> bool:
        return state.is_leaf(module) or (
            type(module).__module__.startswith("torch.nn")
            and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)))

    def pre(module: nn.Module, args: Any, kwargs: Any) -> None:
        name = state.names.get(id(module), "")
        if name and state.leaf_depth == 0:
            if leaf(module):
                state.leaf_depth += 1
                return
            state.stack.append(Scope(name, class_path(type(module))))
        elif name and leaf(module):
            state.leaf_depth += 1

    def post(module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        name = state.names.get(id(module), "")
        if not name:
            return
        if leaf(module):
            state.leaf_depth -= 1
            if state.leaf_depth == 0 and state.active:
                index = state.calls.get(name, 0)
                state.calls[name] = index + 1
                state.add("call_module", name, name.replace(".", "_"), tuple(args),
                          dict(kwargs), out, tuple(state.stack), index)
        elif state.leaf_depth == 0 and state.stack:
            state.stack.pop()

    def run(x: torch.Tensor, seen: dict[str, Any]) -> None:
        state.reset()
        state.nodes.append(TraceNode("x", "placeholder", "x", (), {}, record(x)))
        state.producers[id(x)] = "x"
        state.keep.append(x)
        with _Functions(state):
            state.active = True
            out = model(x)
            state.active = False
        state.nodes.append(TraceNode("output", "output", "output", (state.ref(out),), {}))

    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(module.register_forward_hook(post, with_kwargs=True))
    try:
        run_recorded(model, run, input_shape)
    finally:
        for handle in handles:
            handle.remove()
    users: dict[str, list[str]] = {}
    for node in state.nodes:
        for ref in _refs((node.args, node.kwargs)):
            users.setdefault(ref, []).append(node.name)
    for node in state.nodes:
        node.users = users.get(node.name, [])
    return state.nodes


def _refs(value: Any) -> list[str]:
    if isinstance(value, Ref):
        return [value.name]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []
