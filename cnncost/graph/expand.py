"""Expand a validated spec into a LayerGraph, inferring every shape on the way.

Must not import torch.

Expansion walks the layer items in order: an operator item becomes one node, whose attributes
are evaluated (``graph.evaluation``) and whose output shape is inferred at once, so that later
expressions can read it; a block call, a repeat or a parallel block opens scopes
(``graph.scope``) in which references and names resolve (``graph.references``). Problems are
collected (``graph.problems``; a failed node silences what depends on it) and raised together.

Expansion is linear in the number of nodes (histories are views, automatic names are numbered
without probing, nothing is copied per item) and bounded (``cnncost.limits``): a spec that asks
for more nodes and repeat iterations than ``max_nodes``, nests blocks, repeats and parallel
blocks deeper than ``max_nesting``, or calls a block from inside itself, gets a located problem
before anything is built for it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from cnncost.errors import OpArgumentError, ShapeError, SpecError
from cnncost.gcpause import paused
from cnncost.graph.bounds import Bound
from cnncost.graph.evaluation import INPUT_NAMES, Evaluation
from cnncost.graph.layergraph import LayerGraph, LayerNode, freeze_attrs
from cnncost.graph.memo import infer_shape
from cnncost.graph.problems import Failed, Problems
from cnncost.graph.references import Built, References
from cnncost.graph.replay import Recording, SharedRecordings, call_key, replayed, words
from cnncost.graph.scope import History, Scope
from cnncost.limits import Limits, current, holding
from cnncost.ops.registry import all_ops, canonical_name
from cnncost.spec import model as m
from cnncost.spec.expr import Budget
from cnncost.spec.loader import LoadedSpec
from cnncost.spec.params import Bindings

#: The largest dimension of a tensor (torch's sizes are int64).
MAX_DIMENSION = 2**63 - 1


class Expander:
    """One expansion of a spec under its bindings (use ``expand``)."""

    def __init__(self, loaded: LoadedSpec, bindings: Bindings, limits: Limits) -> None:
        self.loaded = loaded
        self.bindings = bindings
        self.limits = limits
        self.ops = all_ops()
        self.built = Built()
        self.problems = Problems()
        self.evaluation = Evaluation(self.built, self.problems, Budget(limits),
                                     bindings.functions, self.ops)
        self.refs = References(self.built, self.problems, self.evaluation.interpolate)
        self.evaluation.lookup = self.refs.lookup
        # layers and repeat iterations so far, each bounded by limits.max_nodes
        self.spent: dict[str, int] = {}
        self.stopped = False  # past a limit: nothing more is expanded
        # block calls (graph.replay), shared with the other expansions of the spec that read
        # the same values
        self.shared = _shared(loaded)
        found = self.shared.recordings(bindings.names, limits)
        self.sharing = found is not None
        self.recordings: dict[tuple[Any, ...], Recording] = found if found is not None else {}
        self.bound = Bound(loaded.blocks)

    def close(self) -> None:
        """Unlink the evaluation and the references (each calls the other), so that what the
        expansion built is freed by reference counting once the graph is returned, not left for
        the cyclic collector."""
        self.evaluation.lookup = _no_lookup
        self.refs.interpolate = _no_interpolation

    # -- entry ------------------------------------------------------------------------------
    def run(self) -> LayerGraph:
        spec = self.loaded.spec
        top = Scope("", dict(self.bindings.names), (spec.defaults,), self.loaded.source)
        history = History()
        top.history = history
        history.append(self._input_node(spec.input, top))
        last = self._sequence(spec.layers, ("layers",), top, history)
        outputs: list[str] = []
        for i, ref in enumerate(spec.outputs or []):
            try:
                outputs.append(self.refs.resolve(ref, top, history, ("outputs", i)))
            except Failed:
                pass
        nodes = self.built.nodes
        if not spec.outputs:
            # a DAG's outputs are its sinks (an auxiliary head is one), in expansion order
            consumed = {i for node in nodes.values() for i in node.inputs}
            outputs = [n for n in nodes if n not in consumed]
            if last is not None and last in outputs:  # the main output first
                outputs.remove(last)
                outputs.insert(0, last)
        found = self.problems.folded() + self.refs.scope_clashes()
        if found:
            raise SpecError(found)
        return LayerGraph(spec.name, list(nodes.values()), tuple(outputs))

    def _input_node(self, spec_input: m.InputSpec, scope: Scope) -> str:
        """The input node's name; a failed input is marked failed, which silences the items
        that read it (they would each say that nothing precedes them)."""
        path = ("input",)
        name = spec_input.name
        scope.names[name] = name
        evaluate = self.evaluation.evaluate
        try:
            if spec_input.shape is not None:
                if not spec_input.shape:
                    self.problems.fail("shape", "an input needs at least one dimension (a "
                                       "rank-0 tensor has no channels to read)", scope,
                                       (*path, "shape"))
                shape = [evaluate(v, scope, (*path, "shape", i), "int")
                         for i, v in enumerate(spec_input.shape)]
            else:
                shape = [evaluate(getattr(spec_input, k), scope, (*path, k), "int")
                         for k in ("channels", "height", "width")]
            if any(s <= 0 for s in shape):
                self.problems.fail("shape", f"input shape {shape} must be positive", scope, path)
            self._check_dimensions(shape, scope, path, name)
        except Failed:
            self.built.failed.add(name)
            return name
        if "." in name:
            self.built.claim("", name)
        self.built.add(LayerNode(name, "input", freeze_attrs({"shape": tuple(shape)}), (), (),
                                 tuple(shape), scope.source.locate(path)))
        return name

    # -- bounds -----------------------------------------------------------------------------
    def _spend(self, count: int, scope: Scope, path: tuple[Any, ...], what: str = "layers"
               ) -> None:
        """Count ``count`` layers (or repeat iterations, ``what``) against the node limit.

        Raises:
            Failed: past the limit; the problem is recorded once (what follows stops at once).
        """
        spent = self.spent.get(what, 0) + count
        self.spent[what] = spent
        limit = self.limits.max_nodes
        if spent > limit:
            if not self.stopped:
                self.stopped = True
                at_least = f" (this repeat: {count:,} or more)" if count > 1 else ""
                self.problems.add(
                    "limit", f"the spec expands to more than {limit:,} {what}{at_least}: the "
                    "node limit (raise it with CNNCOST_MAX_NODES)", scope, path)
            raise Failed

    def _nest(self, scope: Scope, path: tuple[Any, ...]) -> None:
        if scope.depth >= self.limits.max_nesting:
            self.problems.fail("limit", f"blocks, repeats and parallel blocks nest more than "
                               f"{self.limits.max_nesting} deep (the limit CNNCOST_MAX_NESTING)",
                               scope, path)

    def _check_dimensions(self, shape: Any, scope: Scope, path: tuple[Any, ...],
                          node_name: str) -> None:
        if shape and max(shape) > MAX_DIMENSION:
            digits = len(str(max(shape)))
            self.problems.fail("shape", f"a dimension of {digits} digits is past 2**63 - 1, the "
                               "largest a tensor can have", scope, path, node_name)

    # -- sequences and items ----------------------------------------------------------------
    def _sequence(self, items: list[Any], path: tuple[Any, ...], scope: Scope,
                  history: History) -> str | None:
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
                elif (canonical := canonical_name(key)) is not None:
                    out = self._op(canonical, body or m.empty_args(key), (*here, key), scope,
                                   history)
                else:
                    out = self._call(key, body, (*here, key), scope, history)
            except Failed:
                if self.stopped:
                    break
                continue
            if out is not None:
                history.append(out)
        return history.last()

    def _op(self, canonical: str, body: m.OpArgs, path: tuple[Any, ...], scope: Scope,
            history: History, inputs: list[str] | None = None) -> str | None:
        opdef = self.ops[canonical]
        if inputs is None:
            if self._disabled(body, scope, path, history):
                return None
            inputs = self.refs.inputs(body, scope, history, path)
        elif body.when is not None and self.evaluation.skip(body, scope, path, inputs[0]):
            return None
        first = inputs[0] if inputs else None
        self._spend(1, scope, path)
        local = self.refs.local_name(body.name, canonical, scope, path)
        node_name = scope.prefix + local
        lo, hi = opdef.arity
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            self.problems.fail("arity", f"{canonical} takes {want} input(s), got {len(inputs)}",
                               scope, path, node_name)
        attrs = self.evaluation.attrs(canonical, opdef.attrs, body, scope, path, node_name, first)
        scope.names[local] = node_name
        nodes, failed = self.built.nodes, self.built.failed
        if attrs is None or not failed.isdisjoint(inputs):
            failed.add(node_name)
            return node_name
        in_shapes = tuple(nodes[i].out_shape for i in inputs)
        try:
            out_shape, signature = infer_shape(opdef, attrs, in_shapes)
            self._check_dimensions(out_shape, scope, path, node_name)
        except (ShapeError, OpArgumentError) as err:
            kind = "shape" if isinstance(err, ShapeError) else "argument"
            message = str(err)
            if not message.startswith(canonical):
                message = f"{canonical}: {message}"
            shapes = ", ".join(str(tuple(s)) for s in in_shapes)
            if in_shapes and str(tuple(in_shapes[0])) not in message:
                message += f" (input shape {shapes})"
            self.problems.add(kind, message, scope, path, node_name)
            failed.add(node_name)
            return node_name
        except Failed:
            failed.add(node_name)
            return node_name
        # attrs is this node's own dict: a read-only view of it needs no copy
        self.built.add(LayerNode.trusted(node_name, canonical, MappingProxyType(attrs),
                                         tuple(inputs), in_shapes, out_shape,
                                         scope.source.locate(path), scope.call_stack,
                                         signature))
        return node_name

    def _disabled(self, body: m.Body, scope: Scope, path: tuple[Any, ...],
                  history: History) -> bool:
        """True when the item's ``when`` is false. ``when`` is evaluated before the item's
        references are resolved, so that a disabled item may name layers that exist only when
        it is enabled; ``in_channels`` and the like read its first input where that resolves.
        A ``when`` that reads the input's shape while the input does not resolve reports the
        reference instead."""
        if body.when is None:
            return False
        first = self.refs.first_quietly(body, scope, history)
        if first is None and isinstance(body.when, str) and any(
                name in body.when for name in INPUT_NAMES):
            inputs = self.refs.inputs(body, scope, history, path)  # records the problem
            first = inputs[0] if inputs else None
        return self.evaluation.skip(body, scope, path, first)

    def _call(self, block_name: str, body: m.BlockCall, path: tuple[Any, ...], scope: Scope,
              history: History, local: str | None = None,
              args: Mapping[str, Any] | None = None) -> str | None:
        bdef, origin = self.loaded.blocks[block_name]
        if self._disabled(body, scope, path, history):
            return None
        inputs = self.refs.inputs(body, scope, history, path)
        first = inputs[0] if inputs else None
        if block_name in scope.blocks:
            chain = " -> ".join((*scope.blocks[scope.blocks.index(block_name):], block_name))
            self.problems.fail("cycle", f"block {block_name} calls itself ({chain})", scope, path)
        self._nest(scope, path)
        if local is None:
            local = self.refs.local_name(body.name, block_name, scope, path)
        if len(inputs) != len(bdef.inputs):
            self.problems.fail("arity", f"block {block_name} takes {len(bdef.inputs)} input(s) "
                               f"({', '.join(bdef.inputs)}), got {len(inputs)}", scope, path,
                               scope.prefix + local)
        given = dict(args) if args is not None else dict(body.model_extra or {})
        declared = bdef.arg_defaults
        values: dict[str, Any] = {}
        for key, raw in given.items():
            if key not in declared:
                close = difflib.get_close_matches(key, list(declared), n=1)
                self.problems.fail("schema", f"block {block_name} has no argument {key!r} "
                                   f"(arguments: {', '.join(declared) or 'none'})", scope,
                                   (*path, key), scope.prefix + local,
                                   hint=f"did you mean {close[0]!r}?" if close else None, key=True)
            values[key] = self.evaluation.evaluate(raw, scope, (*path, key), "any", first)
        for key, default in declared.items():
            if key not in values:
                if default is None:
                    self.problems.fail("schema", f"block {block_name} needs argument {key!r}",
                                       scope, path, scope.prefix + local)
                values[key] = default
        prefix, stack = f"{scope.prefix}{local}.", (*scope.call_stack, scope.source.locate(path))
        call = self._call_key(block_name, values, inputs, scope)
        if call is not None and call in self.recordings:
            out = self._replay(self.recordings[call], prefix, inputs, stack)
            if out is not None:
                scope.names[local] = out
                return out
        mark = (len(self.built.added), len(self.built.claims), dict(self.spent),
                self.evaluation.budget.total)
        inner_history = History(list(reversed(inputs)))
        inner = Scope(prefix, {**self.bindings.names, **values}, (bdef.defaults, *scope.defaults),
                      origin.source, stack, history=inner_history,
                      blocks=(*scope.blocks, block_name), depth=scope.depth + 1)
        for name, node in zip(bdef.inputs, inputs):
            inner.names[name] = node
        # defaults given as expressions are evaluated in the block's own environment, where
        # the other arguments, in_channels and shape_of(<input name>) are known
        for key_, default in declared.items():
            if key_ not in given and isinstance(default, str):
                inner.env[key_] = self.evaluation.evaluate(default, inner,
                                                           (*origin.path, "args", key_), "any",
                                                           first)
        out = self._sequence(bdef.layers, (*origin.path, "layers"), inner, inner_history)
        if bdef.output is not None:
            out = self.refs.resolve(bdef.output, inner, inner_history, (*origin.path, "output"))
        if out is None:
            raise Failed
        if call is not None and self._replayable():
            self._record(call, mark, prefix, stack, inputs, out)
        scope.names[local] = out
        return out

    # -- replays of block calls (graph.replay) ----------------------------------------------
    def _replayable(self) -> bool:
        """Whether a recorded call may stand for an expansion here: nothing has gone wrong so
        far (from a problem on, every call is expanded, so that every problem is found as it
        would be)."""
        return not (self.problems.found or self.built.failed or self.stopped)

    def _call_key(self, block_name: str, values: Mapping[str, Any], inputs: list[str],
                  scope: Scope) -> tuple[Any, ...] | None:
        if not self._replayable():
            return None
        nodes = self.built.nodes
        return call_key(block_name, values, inputs, [nodes[i].out_shape for i in inputs], scope)

    def _replay(self, recording: Recording, prefix: str, inputs: list[str],
                stack: tuple[Any, ...]) -> str | None:
        """The output of a call replayed from ``recording``; None when it must be expanded
        (a limit would be reached on the way, or a name is taken)."""
        budget = self.evaluation.budget
        if prefix in self.built.claimed or budget.total < recording.steps or any(
                self.spent.get(what, 0) + count > self.limits.max_nodes
                for what, count in recording.spent):
            return None
        found = replayed(recording, prefix, inputs, stack, self.built.taken)
        if found is None:
            return None
        nodes, out = found
        for what, count in recording.spent:
            self.spent[what] = self.spent.get(what, 0) + count
        budget.total -= recording.steps
        for node in nodes:
            self.built.add(node)
        for suffix in recording.claims:
            self.built.claim(prefix, suffix)
        return out

    def _record(self, key: tuple[Any, ...], mark: tuple[int, int, dict[str, int], int],
                prefix: str, stack: tuple[Any, ...], inputs: list[str], out: str) -> None:
        added, claims, spent, total = mark
        made = self.built.claims[claims:]
        if not all(c.startswith(prefix) for c in made):  # pragma: no cover - made in its body
            return
        nodes = self.built.nodes
        recording = Recording(
            prefix, len(stack), tuple(inputs), out,
            tuple(nodes[name] for name in self.built.added[added:]),
            tuple((what, count - spent.get(what, 0)) for what, count in self.spent.items()
                  if count != spent.get(what, 0)),
            total - self.evaluation.budget.total, tuple(c[len(prefix):] for c in made))
        if self.sharing:
            self.shared.added(recording)  # may start afresh: before it is kept
        self.recordings[key] = recording

    def _repeat(self, body: m.RepeatBody, path: tuple[Any, ...], scope: Scope,
                history: History) -> None:
        if self._disabled(body, scope, path, history):
            return
        first = (self.refs.resolve(body.input, scope, history, (*path, "input"))
                 if body.input else None)
        times = self.evaluation.evaluate(body.times, scope, (*path, "times"), "int")
        if times < 0:
            self.problems.fail("argument", f"repeat times must be >= 0, got {times}", scope, path)
        # refused before any iteration when what it will certainly build is past the limit
        iterations, layers = self.bound.iteration(body)
        for count, what in ((times * (1 + iterations), "repeat iterations"),
                            (times * layers, "layers")):
            if self.spent.get(what, 0) + count > self.limits.max_nodes:
                self._spend(count, scope, (*path, "times"), what)
        self._nest(scope, path)
        template = body.name is not None and "{" in body.name
        base = None if template else self.refs.local_name(body.name, "repeat", scope, path)
        last = None
        block_call = m.BlockCall(inputs=body.inputs) if body.inputs else m.BlockCall()
        for i in range(times):
            self._spend(1, scope, path, "repeat iterations")
            env = {**scope.env, body.index: i}
            it_scope = Scope(scope.prefix, env, scope.defaults, scope.source, scope.call_stack,
                             scope.parent, scope.names, blocks=scope.blocks, depth=scope.depth)
            local = (self.evaluation.interpolate(body.name, it_scope, (*path, "name"))
                     if template and body.name else f"{base}.{i}")
            if "." in local:
                self.built.claim(scope.prefix, local)
            sub_history = History([first] if first and i == 0 else [], history)
            it_scope.history = sub_history
            if body.block is not None:
                block = body.block
                if "{" in block:
                    block = self.evaluation.interpolate(block, it_scope, (*path, "block"))
                if block not in self.loaded.blocks:
                    close = difflib.get_close_matches(block, list(self.loaded.blocks), n=1)
                    self.problems.fail("unknown-op", f"no block named {block!r}", it_scope,
                                       (*path, "block"),
                                       hint=f"did you mean {close[0]!r}?" if close else None)
                out = self._call(block, block_call, (*path, "args"), it_scope, sub_history,
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
                  history: History) -> str | None:
        if self._disabled(body, scope, path, history):
            return None
        source = self.refs.inputs(body, scope, history, path)
        if len(source) != 1:
            self.problems.fail("arity", "a parallel block reads one input", scope, path)
        self._nest(scope, path)
        pscope = scope
        if body.name is not None:
            pscope = scope.child(self.refs.local_name(body.name, "parallel", scope, path))
        outs: list[str] = []
        for bname, layers in body.branches.items():
            if not layers:
                outs.append(source[0])
                continue
            if "." in bname:
                self.built.claim(pscope.prefix, bname)
            bscope = pscope.child(bname)
            bscope.depth = scope.depth + 1
            out = self._sequence(layers, (*path, "branches", bname), bscope,
                                 History([source[0]], history))
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
            self.problems.fail("unknown-op", f"unknown merge operator {merge_op!r}", scope,
                               merge_path, hint=f"did you mean {close[0]!r}?" if close else None)
        try:
            validated = m.args_of(canonical, merge_body or None)
        except ValidationError as err:  # reported at the merge
            self.problems.fail("schema", f"merge {merge_op}: {err}".splitlines()[0], scope,
                               merge_path)
        out = self._op(canonical, validated, merge_path, pscope, history, outs)
        if out is not None and body.name is not None:
            scope.names[pscope.prefix[len(scope.prefix):-1]] = out
        return out


def _no_lookup(text: str, scope: Scope, history: History) -> str | None:
    raise RuntimeError("the expansion is closed")  # pragma: no cover - never called


def _no_interpolation(text: str, scope: Scope, path: tuple[Any, ...]) -> str:
    raise RuntimeError("the expansion is closed")  # pragma: no cover - never called


def _shared(loaded: LoadedSpec) -> SharedRecordings:
    """The recordings kept across the expansions of ``loaded``: what its block bodies may read
    besides their arguments and inputs is a word of its blocks, defaults or functions."""
    shared = loaded.memo.get("recordings")
    if shared is None:
        shared = loaded.memo["recordings"] = SharedRecordings(words(
            [bdef for bdef, _ in loaded.blocks.values()], loaded.spec.defaults,
            [fdef.args for fdef, _ in loaded.functions.values()],
            [fdef.expr for fdef, _ in loaded.functions.values()]))
    return shared


def expand(loaded: LoadedSpec, bindings: Bindings) -> LayerGraph:
    """Expand ``loaded`` under ``bindings`` into a shape-inferred LayerGraph.

    Raises:
        SpecError: every problem found during expansion, located.
    """
    limits = current()
    with holding(limits), paused():  # the collector off (cnncost.gcpause)
        expander = Expander(loaded, bindings, limits)
        try:
            return expander.run()
        finally:
            expander.close()
