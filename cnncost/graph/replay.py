"""Block calls expanded once per distinct call, then replayed under their new names.

Must not import torch. A block's body sees only its arguments, the spec's names, its inputs and
the defaults of the scopes around the call (``Expander._call``: its scope has no parent and its
history starts with its inputs), so two calls of a block with equal arguments on inputs of
equal shapes, under the same defaults and nesting, expand to the same layers up to their names:
ResNet-152 calls one bottleneck 36 times in its third stage. The first such call is expanded and
recorded; the next ones copy its layers with the call's prefix, inputs and call stack.

A call is recorded only when it expanded cleanly (no problem, no failed layer) and replayed only
when the replay is certain to give what expanding would: no problem so far, no layer name it
makes is taken, no dotted name given earlier reaches under its prefix (``stage.conv`` written
beside a later call named ``stage``: a reference inside the block could find that layer;
``references.Built.claimed``), and the node limit and the expression budget can pay for it:
the replay spends what the recorded call spent, and where that would go past a limit the call
is expanded instead, which reports the problem where it happens.

Recordings outlive an expansion: the next expansion of the same loaded spec (a design-space
sweep analyzes one spec thousands of times) replays them too, when nothing a block body can read
has changed (``shared``): the values of the spec's names (params and ``let``) that appear as a
word in a block, in the defaults or in a spec function, the limits and the operators registered.
MobileNet's block reads ``alpha`` (through ``width``) but not ``resolution``, so a sweep over
resolutions replays the blocks whose input shapes repeat (points of the alpha x resolution grid
of the scaling benchmark, CPU time: 3.8 -> 3.2 ms each). What is kept is bounded
(``SHARED_NODES`` layers; then it starts afresh).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from cnncost.graph.layergraph import LayerNode
from cnncost.graph.scope import Scope
from cnncost.limits import Limits
from cnncost.ops.registry import registered
from cnncost.spec.model import OpArgs, OpItem

#: The most layers the recordings kept across the expansions of one loaded spec hold.
SHARED_NODES = 50_000
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


@dataclass(frozen=True)
class Recording:
    """One expanded call: its layers, in expansion order, and what expanding it spent."""

    prefix: str  # the recorded call's dotted prefix (``layer3.0.``)
    stack: int  # length of the call stack of the layers directly in its body
    inputs: tuple[str, ...]
    output: str
    nodes: tuple[LayerNode, ...]
    spent: tuple[tuple[str, int], ...]  # (layers / repeat iterations, count)
    steps: int  # expression steps
    claims: tuple[str, ...]  # prefixes claimed by dotted names in its body, after its prefix


@dataclass
class SharedRecordings:
    """The recordings kept across the expansions of one loaded spec (``LoadedSpec.memo``), by
    what a block body can read besides its arguments and inputs."""

    words: frozenset[str]  # every word of the blocks, the defaults and the spec functions
    by_context: dict[tuple[Any, ...], dict[tuple[Any, ...], Recording]] = field(
        default_factory=dict)
    nodes: int = 0  # layers held, at most SHARED_NODES

    def recordings(self, names: Mapping[str, Any], limits: Limits
                   ) -> dict[tuple[Any, ...], Recording] | None:
        """The recordings that an expansion under ``names`` and ``limits`` may replay (and add
        to); None when a value read cannot be compared."""
        try:
            read = tuple((k, _freeze(names[k])) for k in sorted(self.words & names.keys()))
            context = (read, limits, registered())
            hash(context)
        except TypeError:
            return None
        return self.by_context.setdefault(context, {})

    def added(self, recording: Recording) -> None:
        """Count a new recording's layers; past SHARED_NODES, start afresh."""
        self.nodes += len(recording.nodes)
        if self.nodes > SHARED_NODES:
            for kept in self.by_context.values():
                kept.clear()
            self.nodes = len(recording.nodes)


def words(*values: Any) -> frozenset[str]:
    """Every word (a name an expression could read) in the text of ``values``: strings,
    mapping keys and values, list elements and the fields of validated models, nested."""
    found: set[str] = set()
    todo = list(values)
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            found.update(_WORD.findall(value))
        elif isinstance(value, OpItem):
            todo.append(value.body)
        elif isinstance(value, OpArgs):
            todo.extend(value.__dict__.values())
        elif isinstance(value, BaseModel):
            todo.extend(value.__dict__.values())
            todo.extend((value.__pydantic_extra__ or {}).items())
        elif isinstance(value, dict):
            todo.extend(value.items())
        elif isinstance(value, (list, tuple)):
            todo.extend(value)
    return frozenset(found)


def call_key(block: str, values: Mapping[str, Any], inputs: Sequence[str],
             shapes: Sequence[tuple[int, ...]], scope: Scope) -> tuple[Any, ...] | None:
    """What a block call's expansion depends on besides its names; None when a value cannot be
    compared (such a call is always expanded)."""
    try:
        frozen = tuple((k, _freeze(v)) for k, v in values.items())
        key = (block, frozen, tuple(shapes), tuple(inputs.index(i) for i in inputs),
               tuple(map(id, scope.defaults)), scope.depth, scope.blocks)
        hash(key)
    except TypeError:
        return None
    return key


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an argument value that tells apart what Python's equality does
    not (``1``, ``1.0`` and ``True``)."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((_freeze(k), _freeze(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def replayed(recording: Recording, prefix: str, inputs: Sequence[str],
             stack: tuple[Any, ...], taken: Callable[[str], bool]
             ) -> tuple[list[LayerNode], str] | None:
    """The recorded layers renamed for a call at ``prefix`` on ``inputs`` whose body's layers
    have the call stack ``stack``, and the call's output; None when a name is taken (the call
    is expanded instead)."""
    names: dict[str, str] = dict(zip(recording.inputs, inputs))
    cut = len(recording.prefix)
    for node in recording.nodes:
        name = prefix + node.name[cut:]
        if taken(name):
            return None
        names[node.name] = name
    depth = recording.stack
    out = []
    for node in recording.nodes:
        try:
            sources = tuple(names[i] for i in node.inputs)
        except KeyError:  # pragma: no cover - a body reads only its inputs and its own layers
            return None
        out.append(LayerNode.trusted(names[node.name], node.op, node.attrs, sources,
                                     node.in_shapes, node.out_shape, node.location,
                                     (*stack, *node.call_stack[depth:]), node.signature))
    output = names.get(recording.output)
    return None if output is None else (out, output)
