"""The result of an analysis: per-layer rows, per-block aggregates, totals. Must not import torch.

Every count is a Python ``int`` (unrounded) until a formatter renders it. Counts that depend on a
counting convention (``macs``, ``flops``) are those of ``CostReport.convention``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from cnncost.errors import Location
from cnncost.ops.registry import Shape


@dataclass(frozen=True)
class LayerCost:
    """One leaf layer. Activation and byte figures are for the whole batch."""

    name: str
    op: str
    inputs: tuple[str, ...]
    out_shape: Shape
    params_trainable: int
    params_non_trainable: int
    macs: int
    flops: int
    counted: bool  # False: the convention does not count this operator (see CostReport.uncounted)
    activation_bytes: int  # the output tensor
    bytes_read: int  # inputs + weights
    bytes_written: int  # output
    location: Location | None = None

    @classmethod
    def trusted(cls, **fields: Any) -> LayerCost:
        """A row from every field, by name, made without the frozen dataclass's ``__init__``
        (one ``object.__setattr__`` per field: a sixth of the costing time of the zoo's 34,000
        rows). For the engine, which gives every field: the result equals ``LayerCost(**fields)``
        (tests/cost/test_rows.py)."""
        row = object.__new__(cls)
        row.__dict__.update(fields)
        return row

    @property
    def params_total(self) -> int:
        return self.params_trainable + self.params_non_trainable

    @property
    def scope(self) -> str:
        return self.name.rpartition(".")[0]


@dataclass(frozen=True)
class BlockCost:
    """The sum over every layer whose dotted name starts with ``name + '.'``."""

    name: str
    level: int  # 1 for a top-level block, 2 for a block inside it, ...
    layers: int  # number of leaf layers inside
    params_trainable: int
    params_non_trainable: int
    macs: int
    flops: int
    activation_bytes: int

    @property
    def params_total(self) -> int:
        return self.params_trainable + self.params_non_trainable


@dataclass(frozen=True)
class Totals:
    params_trainable: int
    params_non_trainable: int
    weight_bytes: int  # every parameter (trainable and not) at the report's dtype
    macs: int
    flops: int
    activation_bytes: int  # every tensor of the forward pass, the input included
    peak_activation_bytes: int  # live tensors at inference, freed after their last consumer
    depth: int  # nodes on the longest input -> output path, the input included
    weighted_depth: int  # conv / dense layers on the longest such path
    layers: int
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]

    @property
    def params_total(self) -> int:
        return self.params_trainable + self.params_non_trainable


@dataclass(frozen=True)
class UncountedOp:
    """An operator the report's convention does not count, with cnncost's complete count for it."""

    op: str
    layers: int
    macs: int
    flops: int


@dataclass(frozen=True)
class ConventionInfo:
    name: str
    title: str
    description: str


@dataclass(frozen=True)
class DocumentedFigure:
    """A figure the spec's metadata documents (parameters, MACs, accuracy...) with its source."""

    metric: str
    value: float | int | str
    source: str
    variant: str | None = None
    note: str | None = None
    convention: str | None = None
    unit: str | None = None  # K, M or G: the source's value is rounded in this unit
    checked: bool = True  # False: shown, never asserted (the spec's note says why)
    written: str | None = None  # a float's text as the spec writes it ("0.70": two decimals)


@dataclass(frozen=True)
class CostReport:
    model: str
    title: str
    variant: str | None
    overrides: Mapping[str, Any]
    convention: ConventionInfo
    batch: int
    dtype: str
    bytes_per_element: int
    layers: tuple[LayerCost, ...]
    blocks: tuple[BlockCost, ...]
    totals: Totals
    uncounted: tuple[UncountedOp, ...] = ()
    documented: tuple[DocumentedFigure, ...] = ()
    spec_file: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> LayerCost:
        """The row of layer ``name``. Raises: KeyError: no such layer."""
        return self._layer_index[name]

    def block(self, name: str) -> BlockCost:
        """The row of block ``name``. Raises: KeyError: no such block."""
        return self._block_index[name]

    # indexes built on first use (a CSV asks for every row by name: a scan each would be n^2)
    @cached_property
    def _layer_index(self) -> dict[str, LayerCost]:
        return {row.name: row for row in self.layers}

    @cached_property
    def _block_index(self) -> dict[str, BlockCost]:
        return {row.name: row for row in self.blocks}

    def to_dict(self) -> dict[str, Any]:
        """Every number unrounded, JSON-ready (locations strings; tuples stay tuples, which JSON
        writes as lists), keys in field order with ``params_total`` after each row's fields."""
        data = _fields(self)
        data["convention"] = _fields(self.convention)
        data["layers"] = [{**_fields(x), "location": str(x.location) if x.location else None,
                           "params_total": x.params_total} for x in self.layers]
        data["blocks"] = [{**_fields(b), "params_total": b.params_total} for b in self.blocks]
        data["totals"] = {**_fields(self.totals), "params_total": self.totals.params_total}
        data["uncounted"] = [_fields(u) for u in self.uncounted]
        data["documented"] = [_fields(d) for d in self.documented]
        data["overrides"] = dict(self.overrides)
        data["params"] = dict(self.params)
        return data


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, shallow (``dataclasses.asdict`` deep-copies every value:
    most of the time of a large report's JSON)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return {name: getattr(obj, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
