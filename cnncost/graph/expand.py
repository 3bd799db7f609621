"""Expand a validated spec into a LayerGraph, inferring every shape on the way.

Must not import torch.

Expansion walks the layer items in order. Every operator item becomes one node whose attributes
are evaluated (expressions over params, block arguments, repeat indices and the shape of the
item's input: ``in_channels``, ``in_height``, ``in_width``, ``in_shape``) and normalised; its output
shape is inferred at once, so later expressions can read it. References resolve, innermost
scope first, to earlier named items, a block's inputs, or ``@-k`` (the k-th previous item of the
current sequence; a repeat's iterations count as items). ``a|b`` takes the first that exists.
Problems are collected (a failed node silences what depends on it) and raised together.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, NoReturn

from pydantic import ValidationError

from cnncost.errors import Location, OpArgumentError, Problem, ShapeError, SpecError
from cnncost.graph.layergraph import LayerGraph, LayerNode, freeze_attrs
from cnncost.ops.registry import (
    REQUIRED,
    Attr,
    OpContext,
    all_ops,
    canonical_name,
    pair,
    sides,
)
from cnncost.spec import model as m
from cnncost.spec.expr import Evaluator, ExpressionError, UnknownName, interpolate
from cnncost.spec.loader import LoadedSpec
from cnncost.spec.params import Bindings, deep_evaluate
from cnncost.spec.yamlsource import SourceMap

#: Names bound to the shape of an item's first input (``Expander._env``).
_INPUT_NAMES = frozenset({"in_shape", "in_channels", "in_height", "in_width"})


class _Failed(Exception):
    """An item could not be expanded; its problem is already recorded."""


@dataclass
class Scope:
    """A naming scope: a block body, a repeat iteration or a parallel branch."""

    prefix: str  # prepended to local names to form node names ('' or 'inception_3a.')
    env: dict[str, Any]
    defaults: tuple[Mapping[str, Mapping[str, Any]], ...]  # innermost first
    source: SourceMap
    call_stack: tuple[Location, ...] = ()
    parent: Scope | None = None  # enclosing scope inside the same block body
    names: dict[str, str] = field(default_factory=dict)  # local reference -> node name
    history: list[str] = field(default_factory=list)  # outputs of the current sequence's items

    def child(self, local: str) -> Scope:
        return Scope(f"{self.prefix}{local}.", dict(self.env), self.defaults, self.source,
                     self.call_stack, self)

    def visible(self) -> list[str]:
        out, scope = [], self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out


class Expander:
    def __init__(self, loaded: LoadedSpec, bindings: Bindings) -> None:
        self.loaded = loaded
        self.bindings = bindings
        self.nodes: dict[str, LayerNode] = {}
        self.failed: set[str] = set()
        self.problems: list[Problem] = []
        self.ops = all_ops()

    # -- entry ------------------------------------------------------------------------------
    def run(self) -> LayerGraph:
        spec = self.loaded.spec
        top = Scope("", dict(self.bindings.names), (spec.defaults,), self.loaded.source)
        input_node = self._input_node(spec.input, top)
        history = [input_node] if input_node else []
        last = self._sequence(spec.layers, ("layers",), top, history)
        outputs: list[str] = []
        for i, ref in enumerate(spec.outputs or []):
            try:
                outputs.append(self._resolve(ref, top, history, ("outputs", i)))
            except _Failed:
                pass
        if not spec.outputs:
            # a DAG's outputs are its sinks (an auxiliary head is one), in expansion order
            consumed = {i for node in self.nodes.values() for i in node.inputs}
            outputs = [n for n in self.nodes if n not in consumed]
            if last is not None and last in outputs:  # the main output first
                outputs.remove(last)
                outputs.insert(0, last)
        self._check_scopes()
        if self.problems:
            raise SpecError(_fold(self.problems))
        return LayerGraph(spec.name, list(self.nodes.values()), tuple(outputs))

    def _input_node(self, spec_input: m.InputSpec, scope: Scope) -> str | None:
        path = ("input",)
        try:
            if spec_input.shape is not None:
                shape = [self._evaluate(v, scope, (*path, "shape", i), "int")
                         for i, v in enumerate(spec_input.shape)]
            else:
                shape = [self._evaluate(getattr(spec_input, k), scope, (*path, k), "int")
                         for k in ("channels", "height", "width")]
        except _Failed:
            return None
        if any(s <= 0 for s in shape):
            self._problem("shape", f"input shape {shape} must be positive", scope, path)
            return None
        node = LayerNode(spec_input.name, "input", freeze_attrs({"shape": tuple(shape)}), (), (),
                         tuple(shape), scope.source.locate(path))
        self.nodes[node.name] = node
        scope.names[spec_input.name] = node.name
        return node.name

    # -- sequences and items ----------------------------------------------------------------
    def _sequence(self, items: list[Any], path: tuple[Any, ...], scope: Scope,
                  history: list[str]) -> str | None:
        scope.history = history
        for index, item in enumerate(items):
            here = (*path, index)
            key, body = m.item_parts(item)
            try:
                if key == "repeat":
                    self._repeat(body, (*here, "repeat"), scope, history)
                    continue
                if key == "parallel":
                    out = self._parallel(body, (*here, "parallel"), scope, history)
                elif canonical_name(key):
                    out = self._op(key, body or m.op_model(key)(), (*here, key), scope, history)
                else:
                    out = self._call(key, body, (*here, key), scope, history)
            except _Failed:
                continue
            if out is not None:
                history.append(out)
        return history[-1] if history else None

    def _skip(self, body: m.Common, scope: Scope, path: tuple[Any, ...],
              first_input: str | None) -> bool:
        if body.when is None:
            return False
        value = self._evaluate(body.when, scope, (*path, "when"), "bool", first_input)
        return not value

    def _op(self, op_name: str, body: m.Common, path: tuple[Any, ...], scope: Scope,
            history: list[str], inputs: list[str] | None = None) -> str | None:
        canonical = canonical_name(op_name) or op_name
        opdef = self.ops[canonical]
        if inputs is None:
            inputs = self._inputs(body, scope, history, path)
        if self._skip(body, scope, path, inputs[0] if inputs else None):
            return None
        local = self._local_name(body.name, canonical, scope, path)
        node_name = scope.prefix + local
        lo, hi = opdef.arity
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            self._problem("arity", f"{canonical} takes {want} input(s), got {len(inputs)}",
                          scope, path, node_name)
            raise _Failed
        attrs = self._attrs(canonical, opdef.attrs, body, scope, path, node_name,
                            inputs[0] if inputs else None)
        scope.names[local] = node_name
        if any(i in self.failed for i in inputs) or attrs is None:
            self.failed.add(node_name)
            return node_name
        in_shapes = tuple(self.nodes[i].out_shape for i in inputs)
        try:
            out_shape = opdef.infer(OpContext(attrs, in_shapes))
        except (ShapeError, OpArgumentError) as err:
            kind = "shape" if isinstance(err, ShapeError) else "argument"
            message = str(err)
            if not message.startswith(canonical):
                message = f"{canonical}: {message}"
            shapes = ", ".join(str(tuple(s)) for s in in_shapes)
            if str(tuple(in_shapes[0])) not in message if in_shapes else False:
                message += f" (input shape {shapes})"
            self._problem(kind, message, scope, path, node_name)
            self.failed.add(node_name)
            return node_name
        self.nodes[node_name] = LayerNode(node_name, canonical, freeze_attrs(attrs), tuple(inputs),
                                          in_shapes, tuple(out_shape), scope.source.locate(path),
                                          scope.call_stack)
        return node_name

    def _call(self, block_name: str, body: m.BlockCall, path: tuple[Any, ...], scope: Scope,
              history: list[str], local: str | None = None,
              args: Mapping[str, Any] | None = None) -> str | None:
        bdef, origin = self.loaded.blocks[block_name]
        inputs = self._inputs(body, scope, history, path)
        if self._skip(body, scope, path, inputs[0] if inputs else None):
            return None
        if local is None:
            local = self._local_name(body.name, block_name, scope, path)
        if len(inputs) != len(bdef.inputs):
            self._problem("arity", f"block {block_name} takes {len(bdef.inputs)} input(s) "
                          f"({', '.join(bdef.inputs)}), got {len(inputs)}", scope, path,
                          scope.prefix + local)
            raise _Failed
        given = dict(args) if args is not None else dict(body.model_extra or {})
        declared = bdef.arg_defaults
        values: dict[str, Any] = {}
        env_scope = scope
        for key, raw in given.items():
            if key not in declared:
                close = difflib.get_close_matches(key, list(declared), n=1)
                self._problem("schema", f"block {block_name} has no argument {key!r} "
                              f"(arguments: {', '.join(declared) or 'none'})", scope,
                              (*path, key), scope.prefix + local,
                              hint=f"did you mean {close[0]!r}?" if close else None, key=True)
                raise _Failed
            values[key] = self._evaluate(raw, env_scope, (*path, key), "any",
                                         inputs[0] if inputs else None)
        for key, default in declared.items():
            if key not in values:
                if default is None:
                    self._problem("schema", f"block {block_name} needs argument {key!r}", scope,
                                  path, scope.prefix + local)
                    raise _Failed
                values[key] = default
        inner = Scope(f"{scope.prefix}{local}.", {**self.bindings.names, **values},
                      (bdef.defaults, *scope.defaults), origin.source,
                      (*scope.call_stack, scope.source.locate(path)))
        for name, node in zip(bdef.inputs, inputs):
            inner.names[name] = node
        inner_history = list(reversed(inputs))
        inner.history = inner_history
        # defaults given as expressions are evaluated in the block's own environment, where
        # the other arguments, in_channels and shape_of(<input name>) are known
        for key, default in declared.items():
            if key not in given and isinstance(default, str):
                inner.env[key] = self._evaluate(default, inner, (*origin.path, "args", key), "any",
                                                inputs[0] if inputs else None)
        last = self._sequence(bdef.layers, (*origin.path, "layers"), inner, inner_history)
        out = last
        if bdef.output is not None:
            out = self._resolve(bdef.output, inner, inner_history, (*origin.path, "output"))
        if out is None:
            raise _Failed
        scope.names[local] = out
        return out

    def _repeat(self, body: m.RepeatBody, path: tuple[Any, ...], scope: Scope,
                history: list[str]) -> None:
        first = self._resolve(body.input, scope, history, (*path, "input")) if body.input else None
        if self._skip(body, scope, path, first or (history[-1] if history else None)):
            return
        times = self._evaluate(body.times, scope, (*path, "times"), "int")
        if times < 0:
            self._problem("argument", f"repeat times must be >= 0, got {times}", scope, path)
            raise _Failed
        template = body.name is not None and "{" in body.name
        base = None if template else self._local_name(body.name, "repeat", scope, path)
        last = None
        for i in range(times):
            env = {**scope.env, body.index: i}
            it_scope = Scope(scope.prefix, env, scope.defaults, scope.source, scope.call_stack,
                             scope.parent, scope.names)
            local = (self._interpolate(body.name, it_scope, (*path, "name")) if template
                     else f"{base}.{i}")
            sub_history = list(history) + ([first] if first and i == 0 else [])
            if body.block is not None:
                call = m.BlockCall(inputs=body.inputs) if body.inputs else m.BlockCall()
                block = body.block
                if "{" in block:
                    block = self._interpolate(block, it_scope, (*path, "block"))
                if block not in self.loaded.blocks:
                    close = difflib.get_close_matches(block, list(self.loaded.blocks), n=1)
                    self._problem("unknown-op", f"no block named {block!r}", it_scope,
                                  (*path, "block"), hint=f"did you mean {close[0]!r}?"
                                  if close else None)
                    raise _Failed
                out = self._call(block, call, (*path, "args"), it_scope, sub_history,
                                 local, body.args or {})
            else:
                inner = it_scope.child(local)
                out = self._sequence(body.layers or [], (*path, "layers"), inner, sub_history)
                if out is not None:
                    scope.names[local] = out
            if out is not None:
                history.append(out)
                last = out
        if base is not None and last is not None:
            scope.names[base] = last

    def _parallel(self, body: m.ParallelBody, path: tuple[Any, ...], scope: Scope,
                  history: list[str]) -> str | None:
        source = self._inputs(body, scope, history, path)
        if len(source) != 1:
            self._problem("arity", "a parallel block reads one input", scope, path)
            raise _Failed
        if self._skip(body, scope, path, source[0]):
            return None
        pscope = scope
        if body.name is not None:
            pscope = scope.child(self._local_name(body.name, "parallel", scope, path))
        outs: list[str] = []
        for bname, layers in body.branches.items():
            if not layers:
                outs.append(source[0])
                continue
            bscope = pscope.child(bname)
            out = self._sequence(layers, (*path, "branches", bname), bscope,
                                 [*history, source[0]])
            if out is None:
                outs.append(source[0])
                continue
            pscope.names[bname] = out
            outs.append(out)
        if isinstance(body.merge, str):
            merge_op, merge_body, merge_path = body.merge, None, (*path, "merge")
        else:
            ((merge_op, merge_body),) = body.merge.items()
            merge_path = (*path, "merge", merge_op)
        canonical = canonical_name(merge_op)
        if canonical is None:
            close = difflib.get_close_matches(merge_op, ["concat", "add", "multiply"], n=1)
            self._problem("unknown-op", f"unknown merge operator {merge_op!r}", scope, merge_path,
                          hint=f"did you mean {close[0]!r}?" if close else None)
            raise _Failed
        try:
            validated = m.op_model(canonical).model_validate(merge_body or {})
        except ValidationError as err:  # reported at the merge
            self._problem("schema", f"merge {merge_op}: {err}".splitlines()[0], scope, merge_path)
            raise _Failed from None
        out = self._op(canonical, validated, merge_path, pscope, history, outs)
        if out is not None and body.name is not None:
            scope.names[pscope.prefix[len(scope.prefix):-1]] = out
        return out

    # -- names and references ---------------------------------------------------------------
    def _local_name(self, given: str | None, default: str, scope: Scope,
                    path: tuple[Any, ...]) -> str:
        if given is not None:
            local = self._interpolate(given, scope, (*path, "name")) if "{" in given else given
            if not local or any(not part for part in local.split(".")):
                self._problem("schema", f"invalid name {local!r}", scope, (*path, "name"))
                raise _Failed
            if scope.prefix + local in self.nodes or scope.prefix + local in self.failed \
                    or local in scope.names:
                self._problem("duplicate-name", f"name {local!r} is already used in this scope",
                              scope, (*path, "name"), scope.prefix + local)
                raise _Failed
            return local
        local, k = default, 0
        while (scope.prefix + local in self.nodes or scope.prefix + local in self.failed
               or local in scope.names):
            k += 1
            local = f"{default}_{k}"
        return local

    def _inputs(self, body: m.Common, scope: Scope, history: list[str],
                path: tuple[Any, ...]) -> list[str]:
        if body.inputs is not None:
            return [self._resolve(ref, scope, history, (*path, "inputs", i))
                    for i, ref in enumerate(body.inputs)]
        if body.input is not None:
            return [self._resolve(body.input, scope, history, (*path, "input"))]
        if not history:
            self._problem("reference", "nothing precedes this item; give 'input'", scope, path)
            raise _Failed
        return [history[-1]]

    def _lookup(self, text: str, scope: Scope, history: list[str]) -> str | None:
        """The node a reference names, or None; raises ValueError for a malformed @-k."""
        for alternative in (a.strip() for a in text.split("|")):
            if alternative.startswith("@-"):
                try:
                    back = int(alternative[2:])
                except ValueError:
                    back = 0
                if back <= 0:
                    raise ValueError(f"bad relative reference {alternative!r}; use @-1, @-2, ...")
                if back <= len(history):
                    return history[-back]
                continue
            s: Scope | None = scope
            while s is not None:
                if alternative in s.names:
                    return s.names[alternative]
                full = s.prefix + alternative
                if full in self.nodes or full in self.failed:
                    return full
                s = s.parent
        return None

    def _resolve(self, ref: str, scope: Scope, history: list[str], path: tuple[Any, ...]) -> str:
        text = self._interpolate(ref, scope, path) if "{" in ref else ref
        try:
            found = self._lookup(text, scope, history)
        except ValueError as err:
            self._problem("reference", str(err), scope, path)
            raise _Failed from None
        if found is not None:
            return found
        visible = scope.visible()
        close = difflib.get_close_matches(text, visible, n=1)
        hint = f"did you mean {close[0]!r}?" if close else (
            f"names here: {', '.join(visible)}" if 0 < len(visible) <= 8 else None)
        self._problem("reference", f"no layer or input named {text!r} before this point"
                      + (f" in {scope.prefix[:-1]!r}" if scope.prefix else ""), scope, path,
                      hint=hint)
        raise _Failed

    def _check_scopes(self) -> None:
        names = sorted(self.nodes)
        for a, b in pairwise(names):
            if b.startswith(a + "."):
                node = self.nodes[a]
                self.problems.append(Problem(
                    "duplicate-name", f"{a!r} names both a layer and the block around {b!r}",
                    node.location, a, hint="rename the layer"))

    # -- attributes and expressions ---------------------------------------------------------
    def _attrs(self, op_name: str, spec_attrs: Mapping[str, Attr], body: m.Common, scope: Scope,
               path: tuple[Any, ...], node_name: str, first_input: str | None
               ) -> dict[str, Any] | None:
        given = {k: getattr(body, k) for k in body.model_fields_set if k not in m.COMMON_KEYS}
        attrs: dict[str, Any] = {}
        ok = True
        for name, attr in spec_attrs.items():
            raw, raw_path = REQUIRED, (*path, name)
            if name in given:
                raw = given[name]
            else:
                for defaults in scope.defaults:
                    if name in defaults.get(op_name, {}):
                        raw = defaults[op_name][name]
                        break
                else:
                    raw = attr.default
            if raw is REQUIRED:
                self._problem("schema", f"{op_name} needs {name!r}", scope, path, node_name)
                ok = False
                continue
            try:
                attrs[name] = self._attr_value(attr, raw, scope, raw_path, node_name, first_input)
            except _Failed:
                ok = False
        return attrs if ok else None

    def _attr_value(self, attr: Attr, raw: Any, scope: Scope, path: tuple[Any, ...],
                    node_name: str, first_input: str | None) -> Any:
        kind = attr.kind
        if raw is None:
            return None
        if kind in ("str", "choice", "act"):
            value = self._interpolate(raw, scope, path, first_input) if isinstance(raw, str) else raw
            if kind == "choice" and value not in attr.choices:
                self._problem("argument", f"expected one of {', '.join(attr.choices)}, got "
                              f"{value!r}", scope, path, node_name)
                raise _Failed
            if kind == "act" and value in ("", "none", "linear"):
                value = None  # Keras' activation=None / "linear"
            if kind == "act" and value is not None:
                canonical = canonical_name(value)
                if canonical is None or self.ops[canonical].family != "activation":
                    acts = [n for n, o in self.ops.items() if o.family == "activation"]
                    close = difflib.get_close_matches(str(value), acts, n=1)
                    self._problem("argument", f"unknown activation {value!r}", scope, path,
                                  node_name, hint=f"did you mean {close[0]!r}?" if close else None)
                    raise _Failed
                value = canonical
            return value
        if kind == "padding" and raw in ("same", "valid"):
            return raw
        value = self._evaluate(raw, scope, path, kind if kind in ("int", "bool") else "any",
                               first_input)
        try:
            return _normalise(kind, value)
        except (OpArgumentError, TypeError, ValueError) as err:
            self._problem("argument", str(err), scope, path, node_name)
            raise _Failed from None

    def _env(self, scope: Scope, first_input: str | None) -> dict[str, Any]:
        env = dict(scope.env)
        node = self.nodes.get(first_input) if first_input else None
        if node is not None:
            shape = node.out_shape
            env.update(in_shape=list(shape), in_channels=shape[0],
                       in_height=shape[1] if len(shape) > 1 else None,
                       in_width=shape[2] if len(shape) > 2 else None)
        return env

    def _functions(self, scope: Scope) -> dict[str, Any]:
        """Spec functions plus shape_of(ref) / channels_of(ref) on earlier outputs."""

        def shape_of(ref: str) -> list[int]:
            node = self._lookup(str(ref), scope, scope.history)
            if node is None:
                raise ExpressionError(f"shape_of: no layer or input named {ref!r} before this point")
            if node in self.failed:
                raise _Failed  # already reported upstream
            return list(self.nodes[node].out_shape)

        return {**self.bindings.functions, "shape_of": shape_of,
                "channels_of": lambda ref: shape_of(ref)[0]}

    def _evaluate(self, raw: Any, scope: Scope, path: tuple[Any, ...], kind: str,
                  first_input: str | None = None) -> Any:
        try:
            value = deep_evaluate(raw, Evaluator(self._env(scope, first_input),
                                                 self._functions(scope)))
        except ExpressionError as err:
            self._expression_problem(err, scope, path, first_input)
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            self._problem("expression", f"{raw!r} must be an integer, got {value!r}"
                          + (" (use // or int() for integer division)"
                             if isinstance(value, float) else ""), scope, path)
            raise _Failed
        if kind == "bool" and not isinstance(value, bool):
            self._problem("expression", f"{raw!r} must be true or false, got {value!r}", scope,
                          path)
            raise _Failed
        return value

    def _interpolate(self, text: str, scope: Scope, path: tuple[Any, ...],
                     first_input: str | None = None) -> str:
        try:
            return interpolate(text, Evaluator(self._env(scope, first_input),
                                               self._functions(scope)))
        except ExpressionError as err:
            self._expression_problem(err, scope, path, first_input)

    def _expression_problem(self, err: ExpressionError, scope: Scope, path: tuple[Any, ...],
                            first_input: str | None) -> NoReturn:
        """Report ``err`` and fail, unless it only says that the shape of a failed input is
        unknown: that input's own problem is reported already (no cascade of 'in_channels')."""
        if not (isinstance(err, UnknownName) and err.name in _INPUT_NAMES
                and first_input in self.failed):
            self._problem("expression", str(err), scope, path)
        raise _Failed from None

    def _problem(self, kind: str, message: str, scope: Scope, path: tuple[Any, ...],
                 layer: str | None = None, hint: str | None = None, key: bool = False) -> None:
        via = ""
        if scope.call_stack:
            via = " (called from " + " <- ".join(str(c) for c in reversed(scope.call_stack)) + ")"
        self.problems.append(Problem(kind, message + via, scope.source.locate(path, key=key),
                                     layer or (scope.prefix[:-1] or None), hint))


def _fold(problems: list[Problem]) -> list[Problem]:
    """One problem per (kind, place, message): a block repeated N times reports its error once,
    naming the other layers it hit."""
    groups: dict[tuple[Any, ...], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.kind, p.location, p.message.split(" (called from")[0]), []).append(p)
    out = []
    for same in groups.values():
        first = same[0]
        if len(same) > 1:
            others = [p.layer for p in same[1:] if p.layer]
            shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4
                                             else "")
            extra = f"also in {shown}" if others else f"{len(same) - 1} more time(s)"
            first = replace(first, hint=f"{first.hint}; {extra}" if first.hint else extra)
        out.append(first)
    return out


def _numeric_text(value: Any) -> str:
    """A hint for a number that reached a field as text (YAML 1.1 reads ``1e-5`` as a string;
    a field evaluates it, a parameter or a block argument's value keeps it)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return ""
    return (" (text that looks like a number: YAML 1.1 reads 1e-5 as a string; write 1.0e-5 "
            "or 0.00001 where the value is set)")


def _normalise(kind: str, value: Any) -> Any:
    """Canonical attribute values: pairs and sides as tuples, lists as tuples."""
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise OpArgumentError(f"expected an integer, got {value!r}")
        return value
    if kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise OpArgumentError(f"expected a number, got {value!r}" + _numeric_text(value))
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise OpArgumentError(f"expected true or false, got {value!r}")
        return value
    if kind == "pair":
        return pair(value)
    if kind == "sides":
        return sides(value)
    if kind == "padding":
        return value if value in ("same", "valid") else sides(value)
    if kind == "ints":
        if isinstance(value, int):
            value = [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise OpArgumentError(f"expected a list of integers, got {value!r}")
        return tuple(value)
    if kind == "floats":
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise OpArgumentError(f"expected a number or a list of numbers, got {value!r}")
        return tuple(float(v) for v in values)
    if kind == "table":
        if not all(isinstance(row, list) for row in value):
            raise OpArgumentError("a connection table is a list of lists of input channels")
        return tuple(tuple(row) for row in value)
    return value


def expand(loaded: LoadedSpec, bindings: Bindings) -> LayerGraph:
    """Expand ``loaded`` under ``bindings`` into a shape-inferred LayerGraph.

    Raises:
        SpecError: every problem found during expansion, located.
    """
    return Expander(loaded, bindings).run()

