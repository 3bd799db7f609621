"""Symbolic tracing with torch.fx, recorded as ``TraceNode`` s. Imports torch.

``trace_fx(model, input_shape, is_leaf, autowrap)`` traces the model with a ``torch.fx.Tracer``
that keeps the modules the mapping table knows as leaves (a leaf is one call, mapped as a
whole), records every node's module scope (``nn_module_stack``) and the line of the model's
source that produced it, then runs the graph once on a fake input (``FakeTensorMode``: shapes
only, no arithmetic) and records what every node returned: a ``TensorMeta`` for a tensor, the
Python value for anything else (sizes, shape arithmetic). ``cnncost.importer.hooks`` produces
the same records by running the model eagerly, for models symbolic tracing cannot follow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from cnncost.importer.ir import Origin, Scope


@dataclass(frozen=True)
class Ref:
    """An argument that is the value of an earlier node."""

    name: str


@dataclass(frozen=True)
class TensorMeta:
    """A tensor seen during the trace: its full shape (batch first); ``param`` names a
    parameter or buffer of the model."""

    shape: tuple[int, ...]
    param: str | None = None


@dataclass
class TraceNode:
    """One traced operation (fx's node kinds: placeholder, call_module, call_function,
    call_method, get_attr, output)."""

    name: str
    kind: str
    target: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    value: Any = None
    scopes: tuple[Scope, ...] = ()
    origin: Origin | None = None
    call_index: int = 0
    users: list[str] = field(default_factory=list)


class TraceFailed(Exception):
    """Symbolic tracing could not follow the model (the hook-based trace may)."""


class InputRejected(Exception):
    """The model raised on the example input."""


def class_path(cls: type) -> str:
    """``module.QualName`` of a class (the mapping table's key)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def record(value: Any, params: dict[int, str] | None = None) -> Any:
    """A traced value with every tensor replaced by its TensorMeta (containers kept)."""
    if isinstance(value, torch.Tensor):
        name = params.get(id(value)) if params else None
        return TensorMeta(tuple(int(d) for d in value.shape), name)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return tuple(record(v, params) for v in value)
    if isinstance(value, (list, tuple)):
        return type(value)(record(v, params) for v in value)
    if isinstance(value, dict):
        return {k: record(v, params) for k, v in value.items()}
    if isinstance(value, torch.Size):
        return tuple(int(d) for d in value)
    return value


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in \S+\n\s*(?P<code>[^\n]*)')
#: Frames of torch itself (its tracer, nn.Module's call machinery, nn.Sequential, functional
#: wrappers) and of the importer: never the line of the model that made a call.
_MACHINERY = ("/torch/", "/cnncost/importer/", "<frozen ")


def short_path(path: str) -> str:
    """A source file as a reader knows it: from the package root for installed packages."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:  # not under the working directory
        return path


def origin_of(frames: Sequence[tuple[str, int, str]]) -> Origin | None:
    """The innermost frame outside torch's machinery, as an Origin."""
    for file, line, code in reversed(frames):
        if not any(m in file for m in _MACHINERY):
            return Origin(short_path(file), line, code.strip())
    return None


def _origin(stack_trace: str | None) -> Origin | None:
    if not stack_trace:
        return None
    frames = [(m["file"], int(m["line"]), m["code"]) for m in _FRAME.finditer(stack_trace)]
    return origin_of(frames)


class _Tracer(fx.Tracer):
    """fx's tracer with the mapping table's leaves and source lines recorded."""

    def __init__(self, is_leaf: Callable[[nn.Module], bool],
                 autowrap: tuple[Callable[..., Any], ...]) -> None:
        super().__init__(autowrap_functions=autowrap)
        self.record_stack_traces = True
        self._is_leaf = is_leaf

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return self._is_leaf(m) or super().is_leaf_module(m, module_qualified_name)


def _scopes(node: fx.Node) -> tuple[Scope, ...]:
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for qualname, cls in stack.values():
        out.append(Scope(qualname, class_path(cls) if isinstance(cls, type) else str(cls)))
    if node.op == "call_module" and out:
        out = out[:-1]  # the module itself is the node, not its scope
    return tuple(out)


def _args(value: Any) -> Any:
    """fx's arguments with every Node replaced by a Ref to it."""
    if isinstance(value, fx.Node):
        return Ref(value.name)
    if isinstance(value, (list, tuple)):
        return type(value)(_args(v) for v in value)
    if isinstance(value, dict):
        return {k: _args(v) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(_args(value.start), _args(value.stop), _args(value.step))
    return value


def trace_fx(model: nn.Module, input_shape: tuple[int, ...],
             is_leaf: Callable[[nn.Module], bool],
             autowrap: tuple[Callable[..., Any], ...] = ()) -> list[TraceNode]:
    """Trace ``model`` symbolically and record every node's value on a fake input.

    Raises:
        TraceFailed: symbolic tracing failed (data-dependent control flow, ...).
        InputRejected: the model raised on an input of ``input_shape``.
    """
    tracer = _Tracer(is_leaf, autowrap)
    try:
        graph = tracer.trace(model)
    except Exception as err:  # any failure of fx means: use the other trace
        raise TraceFailed(f"{type(err).__name__}: {_first_line(err)}") from err
    module = fx.GraphModule(model, graph)
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise TraceFailed(f"the model's forward takes {len(placeholders)} inputs; "
                          "cnncost imports models of one input")
    values = run_recorded(model, lambda x, seen: _Recorder(module, seen).run(x), input_shape)
    calls: dict[str, int] = {}
    nodes: list[TraceNode] = []
    for n in graph.nodes:
        index = 0
        if n.op == "call_module":
            index = calls.get(n.target, 0)
            calls[n.target] = index + 1
        nodes.append(TraceNode(n.name, n.op, n.target, _args(n.args), _args(n.kwargs),
                               values.get(n.name), _scopes(n), _origin(n.stack_trace), index,
                               [u.name for u in n.users]))
    return nodes


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, seen: dict[str, Any]) -> None:
        super().__init__(module)
        self.seen = seen
        self.params = {id(t): name for name, t in (*module.named_parameters(),
                                                   *module.named_buffers())}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.seen[n.name] = record(out, self.params)
        return out


def run_recorded(model: nn.Module, run: Callable[[torch.Tensor, dict[str, Any]], Any],
                 input_shape: tuple[int, ...]) -> dict[str, Any]:
    """``run(x, seen)`` on a fake input of ``input_shape`` (a real one if fake tensors cannot
    follow the model), in eval mode without gradients; returns what ``run`` recorded.

    Raises:
        InputRejected: the model raised on the input.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    model.eval()
    seen: dict[str, Any] = {}
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")
    level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)  # a failure here is retried for real, not shown
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            run(torch.empty(input_shape), seen)
        return seen
    except Exception:  # noqa: BLE001 - an operation without a fake kernel: run for real
        seen.clear()
    finally:
        fake_log.setLevel(level)
    try:
        with torch.no_grad():
            run(torch.randn(input_shape), seen)
    except Exception as err:  # the model's own error, reported to the user
        raise InputRejected(f"{type(err).__name__}: {_first_line(err)}") from err
    return seen


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
