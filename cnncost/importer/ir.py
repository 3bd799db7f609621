"""The importer's intermediate graph: what a traced model becomes before it is a spec.

Must not import torch: the tracing modules produce these plain values, and the structure pass
(``cnncost.importer.structure``) and the writer (``cnncost.importer.emit``) read only them.

A ``Layer`` is one future spec node: its full dotted name (a module's qualified name, or a name
in the scope of the module whose ``forward`` made the call), a cnncost operator and its
attributes, the layers it reads, its per-sample output shape, and where it came from (the module
path chain and the line of the model's source). An ``Expr`` is an attribute written as an
expression (``num_classes``) that still knows the value it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The name of the spec's graph input.
INPUT = "input"


@dataclass(frozen=True)
class Origin:
    """A line of the model's source: ``file:line: code``."""

    file: str
    line: int
    code: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.code}"


@dataclass(frozen=True)
class Expr:
    """An attribute written as a spec expression; ``value`` is what it evaluates to here.
    Two are equal when their texts are (``in_channels`` is one expression, whatever each
    layer's input has)."""

    text: str
    value: Any = field(compare=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Scope:
    """A module whose ``forward`` ran during the trace: qualified name and class path."""

    name: str
    cls: str


@dataclass(frozen=True)
class Layer:
    """One node of the imported graph (see the module docstring).

    ``op`` is a cnncost operator, or ``unknown`` for an operator kept with ``--allow-unknown``
    (then ``attrs`` holds ``torch``: what it was and ``why``). When a call becomes several layers
    (timm's BatchNormAct2d: batch norm, then its activation), each has the call's output shape.
    """

    name: str
    op: str
    attrs: dict[str, Any]
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    scopes: tuple[Scope, ...] = ()
    origin: Origin | None = None
    module_class: str | None = None


@dataclass(frozen=True)
class UnknownOp:
    """An operation cnncost has no operator for: what, why, the fx node and the source line."""

    target: str
    reason: str
    node: str
    origin: Origin | None
    layer: str | None = None

    def format(self) -> str:
        where = f"{self.origin}" if self.origin else "(no source line recorded)"
        return f"{self.target}: {self.reason} (fx node {self.node!r}; {where})"


@dataclass
class ImportedGraph:
    """A traced model as cnncost layers, in execution order."""

    name: str
    input_shape: tuple[int, ...]
    layers: list[Layer]
    outputs: tuple[str, ...]
    output_keys: tuple[str, ...] = ()
    unknown: list[UnknownOp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tracer: str = "torch.fx"

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
