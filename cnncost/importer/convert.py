"""Traced calls -> an ImportedGraph of cnncost layers, through the mapping table. Imports torch.

Every call that returns a tensor is looked up in ``cnncost.importer.table`` and becomes one or
more layers (or an alias of its input); a call that returns no tensor is a recorded value
(sizes, shape arithmetic) that the mappings read. Names: a module call is named by the
module's qualified name (a second call of the same module ``<name>_1``); a function or method
call by its operator in the scope of the module whose ``forward`` made it
(``layer1.0.add``), or by that module's own name when it is the only thing the module does
(torchvision's ``StochasticDepth``). Every call cnncost cannot express is collected (all of them,
not only the first) as an ``UnknownOp`` with the fx node and the model's source line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import nn

from cnncost.importer import table
from cnncost.importer.calls import Alias, Call, Emit, Unsupported, Value
from cnncost.importer.ir import INPUT, ImportedGraph, Layer, UnknownOp
from cnncost.importer.trace import Ref, TensorMeta, TraceNode, class_path


class _Namer:
    """Unique layer names that are never the dotted scope of another name."""

    def __init__(self, reserved: set[str]) -> None:
        self.reserved = reserved
        self.used: set[str] = set()

    def take(self, name: str, own: bool = False) -> str:
        """``name`` or ``name_1``, ``name_2``...; ``own``: the name is the module's own."""
        candidate, k = name, 0
        while candidate in self.used or (candidate in self.reserved and not own) \
                or candidate == INPUT:
            k += 1
            candidate = f"{name}_{k}"
            own = False
        self.used.add(candidate)
        return candidate


def _has_tensor(value: Any) -> bool:
    if isinstance(value, TensorMeta):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_has_tensor(v) for v in value.values())
    return False


def _tensors(value: Any) -> Iterator[TensorMeta]:
    if isinstance(value, TensorMeta):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


class Converter:
    """Builds the ImportedGraph of a list of TraceNodes (see the module docstring)."""

    def __init__(self, model: nn.Module, name: str, batch: int) -> None:
        self.model, self.name, self.batch = model, name, batch
        self.modules = dict(model.named_modules())
        self.namer = _Namer({n for n in self.modules if n})
        self.values: dict[str, Any] = {}
        self.layers: list[Layer] = []
        self.unknown: list[UnknownOp] = []
        self.notes: list[str] = []
        self.input_shape: tuple[int, ...] = ()
        #: layer -> the module name it was given (a module whose forward made only that call)
        self.renames: dict[str, str] = {}

    # -- values --------------------------------------------------------------------------------
    def _value(self, arg: Any) -> Any:
        if isinstance(arg, Ref):
            return self.values[arg.name]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._value(a) for a in arg)
        if isinstance(arg, dict):
            return {k: self._value(v) for k, v in arg.items()}
        if isinstance(arg, slice):
            return slice(self._value(arg.start), self._value(arg.stop), self._value(arg.step))
        return arg

    def _per_sample(self, meta: TensorMeta, node: TraceNode) -> tuple[int, ...]:
        if not meta.shape or meta.shape[0] != self.batch:
            raise Unsupported(f"a tensor of shape {list(meta.shape)} whose first dimension is "
                              f"not the batch ({self.batch}): cnncost operators act per sample")
        return meta.shape[1:]

    # -- the pass ------------------------------------------------------------------------------
    def run(self, nodes: list[TraceNode]) -> ImportedGraph:
        module_names = self._module_call_names(nodes)
        outputs: list[tuple[str, Any]] = []
        for node in nodes:
            if node.kind == "placeholder":
                if not isinstance(node.value, TensorMeta):
                    raise Unsupported("the model's input is not a tensor")
                self.input_shape = self._per_sample(node.value, node)
                self.values[node.name] = Value(INPUT, self.input_shape)
            elif node.kind == "get_attr":
                meta = node.value
                self.values[node.name] = (Value("", meta.shape, param=str(node.target),
                                                stored=tuple(meta.shape))
                                          if isinstance(meta, TensorMeta) else meta)
            elif node.kind == "output":
                outputs = self._outputs(self._value(node.args[0]))
            elif not _has_tensor(node.value):
                self.values[node.name] = node.value  # sizes, shape arithmetic, None
            else:
                self._call(node, module_names.get(node.name))
        self._prune([n for _, n in outputs])
        self._rename_single_calls()
        return ImportedGraph(self.name, self.input_shape, self.layers,
                             tuple(self.renames.get(n, n) for _, n in outputs),
                             tuple(k for k, _ in outputs if k), self.unknown, self.notes)

    def _module_call_names(self, nodes: list[TraceNode]) -> dict[str, str]:
        """Module calls are named first: their names are the modules' own."""
        names = {}
        for node in nodes:
            if node.kind == "call_module" and _has_tensor(node.value):
                base = str(node.target)
                names[node.name] = self.namer.take(
                    base if node.call_index == 0 else f"{base}_{node.call_index}",
                    own=node.call_index == 0)
        return names

    def _call(self, node: TraceNode, module_name: str | None) -> None:
        module = self.modules.get(str(node.target)) if node.kind == "call_module" else None
        if node.kind == "call_module":
            target = class_path(type(module))
            entry = table.module_entry(type(module))
        elif node.kind == "call_function":
            target = table.function_name(node.target)
            entry = table.FUNCTIONS.get(target)
        else:
            target = f"Tensor.{node.target}"
            entry = table.METHODS.get(target)
        args, kwargs = self._value(node.args), self._value(node.kwargs)
        tensors = Call("", "", args, kwargs, None).tensors()
        if module is None and tensors and all(t.param for t in tensors) \
                and isinstance(node.value, TensorMeta):
            # arithmetic on the model's parameters (a reshape of a layer scale): a parameter
            # still, whole (no batch), for the call that reads it with a computed tensor
            self.values[node.name] = Value("", node.value.shape, param=tensors[0].param,
                                           stored=tensors[0].stored)
            return
        try:
            out = self._out(node)
            call = Call(node.kind.removeprefix("call_"), target, args, kwargs, out, module,
                        node.origin, {"input_shape": self.input_shape})
            inplace = target in table.INPLACE_METHODS
            if inplace and not node.users:
                raise Unsupported("an in-place operation whose result is not used: the trace "
                                  "cannot follow what it modifies")
            call.extra["inplace_method"] = inplace
            call.extra["inplace"] = inplace or bool(node.origin and "+=" in node.origin.code)
            if entry is None:
                what = {"module": "module class", "function": "function",
                        "method": "tensor method"}[call.kind]
                raise Unsupported(f"no cnncost operator for the {what} {target}")
            result = entry(call)
            parts = not isinstance(result, Alias) and any(e.part is not None for e in result)
            if not isinstance(result, Alias) and not parts and not isinstance(out, Value):
                raise Unsupported(f"{target} returns {type(node.value).__name__}, not one tensor")
        except Unsupported as err:
            self._unknown(node, target, str(err), module_name)
            return
        if isinstance(result, Alias):
            self.values[node.name] = result.value
            return
        self._emit(node, result, module_name, out)

    def _out(self, node: TraceNode) -> Any:
        """The call's output as mappings see it: a Value, or a tuple of them (``chunk``)."""
        value = node.value
        if isinstance(value, TensorMeta):
            return Value("", self._per_sample(value, node))
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, TensorMeta) for v in value):
            return tuple(Value("", self._per_sample(v, node)) for v in value)
        return value

    def _emit(self, node: TraceNode, emits: list[Emit], module_name: str | None,
              out: Any) -> None:
        scope = node.scopes[-1].name if node.scopes else ""

        def fresh(op: str) -> str:
            return self.namer.take(f"{scope}.{op}" if scope else op)

        base = module_name or (emits[-1].name and self.namer.take(emits[-1].name, own=True)) \
            or fresh(emits[-1].op)
        names: list[str] = []
        parts: dict[int, Value] = {}
        module_class = (class_path(type(self.modules[str(node.target)]))
                        if node.kind == "call_module" else None)
        for i, emit in enumerate(emits):
            if any(v.param for v in emit.inputs):
                raise AssertionError(f"{emit.op}: a mapping passed a parameter as an input")
            if emit.part is not None:
                name = base if i == 0 else fresh(emit.op)
                shape = out[emit.part].shape
            else:
                name = base if i == 0 else self.namer.take(f"{base}_{emit.suffix or i}")
                shape = out.shape
            inputs = tuple(names[int(v.node[1:])] if v.node.startswith("@") else v.node
                           for v in emit.inputs)
            self.layers.append(Layer(name, emit.op, dict(emit.attrs), inputs, shape,
                                     node.scopes, node.origin, module_class))
            names.append(name)
            if emit.part is not None:
                parts[emit.part] = Value(name, shape)
        if parts:
            self.values[node.name] = tuple(parts.get(k, Value("", v.shape))
                                           for k, v in enumerate(out))
        else:
            self.values[node.name] = Value(names[-1], out.shape)

    def _unknown(self, node: TraceNode, target: str, reason: str,
                 module_name: str | None) -> None:
        """Record what cannot be imported; an ``unknown`` layer stands in for each tensor it
        returns so that the rest of the model still converts (and every problem is listed)."""
        scope = node.scopes[-1].name if node.scopes else ""
        label = (target.rsplit(".", 1)[-1] if node.kind != "call_module"
                 else "module").strip("_") or "op"
        base = module_name or self.namer.take(f"{scope}.{label}" if scope else label)
        inputs = tuple(v.node for v in Call("", "", self._value(node.args),
                                            self._value(node.kwargs), None).tensors()
                       if not v.param and v.node)
        metas = list(_tensors(node.value))
        values = []
        for i, meta in enumerate(metas):
            name = base if len(metas) == 1 else self.namer.take(f"{base}_{i}")
            shape = meta.shape[1:] if meta.shape and meta.shape[0] == self.batch else meta.shape
            self.layers.append(Layer(name, "unknown", {"torch": target, "why": reason}, inputs,
                                     shape, node.scopes, node.origin))
            values.append(Value(name, shape))
        self.unknown.append(UnknownOp(target, reason, node.name, node.origin,
                                      values[0].node if values else None))
        self.values[node.name] = _rebuild(node.value, iter(values))

    def _outputs(self, value: Any) -> list[tuple[str, str]]:
        if isinstance(value, Value):
            return [("", value.node)]
        if isinstance(value, dict):
            return [(str(k), v.node) for k, v in value.items() if isinstance(v, Value)]
        if isinstance(value, (list, tuple)):
            return [("", v.node) for v in value if isinstance(v, Value)]
        raise Unsupported(f"the model returns {type(value).__name__}, not tensors")

    # -- tidying -------------------------------------------------------------------------------
    def _prune(self, outputs: list[str]) -> list[Layer]:
        """The layers the outputs depend on (a computed value nobody reads is dropped)."""
        by_name = {layer.name: layer for layer in self.layers}
        needed: set[str] = set()
        stack = [o for o in outputs if o in by_name]
        while stack:
            name = stack.pop()
            if name in needed:
                continue
            needed.add(name)
            stack.extend(i for i in by_name[name].inputs if i in by_name)
        dropped = [layer.name for layer in self.layers if layer.name not in needed]
        if dropped:
            self.notes.append(f"dropped {len(dropped)} computed value(s) the outputs do not "
                              f"use: {', '.join(dropped[:5])}{' ...' if len(dropped) > 5 else ''}")
        self.unknown = [u for u in self.unknown if u.layer is None or u.layer in needed]
        self.layers = [layer for layer in self.layers if layer.name in needed]
        return self.layers

    def _rename_single_calls(self) -> None:
        """A module whose forward made exactly one function call (and has no module of its
        own called) lends the call its name: ``features.1.0.stochastic_depth``."""
        by_scope: dict[str, list[int]] = {}
        for i, layer in enumerate(self.layers):
            if layer.scopes:
                by_scope.setdefault(layer.scopes[-1].name, []).append(i)
        names = {layer.name for layer in self.layers}
        renames: dict[str, str] = {}
        for scope, indices in by_scope.items():
            if len(indices) != 1 or not scope or scope in names:
                continue
            layer = self.layers[indices[0]]
            if layer.module_class is not None or any(
                    n.startswith(scope + ".") for n in names if n != layer.name):
                continue
            renames[layer.name] = scope
        if not renames:
            return
        self.layers = [_renamed(layer, renames) for layer in self.layers]
        for u_index, u in enumerate(self.unknown):
            if u.layer in renames:
                self.unknown[u_index] = UnknownOp(u.target, u.reason, u.node, u.origin,
                                                  renames[u.layer])
        self.renames = renames


def _renamed(layer: Layer, renames: dict[str, str]) -> Layer:
    return Layer(renames.get(layer.name, layer.name), layer.op, layer.attrs,
                 tuple(renames.get(i, i) for i in layer.inputs), layer.shape, layer.scopes,
                 layer.origin, layer.module_class)


def _rebuild(value: Any, values: Iterator[Value]) -> Any:
    if isinstance(value, TensorMeta):
        return next(values)
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(v, values) for v in value)
    if isinstance(value, dict):
        return {k: _rebuild(v, values) for k, v in value.items()}
    return value


def convert(nodes: list[TraceNode], model: nn.Module, name: str, batch: int) -> ImportedGraph:
    """The ImportedGraph of a trace (unknown operations listed in ``graph.unknown``).

    Raises:
        Unsupported: the model's input or output is not what cnncost models (not a tensor).
    """
    return Converter(model, name, batch).run(nodes)
