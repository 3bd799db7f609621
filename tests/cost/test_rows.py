"""The engine's rows, made with ``LayerCost.trusted`` (no frozen ``__init__``), are the rows a
plain ``LayerCost(...)`` makes: the same fields, equal, hashing alike, still frozen."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cnncost import api
from cnncost.cost.result import LayerCost

ROOT = Path(__file__).resolve().parents[2]


def test_trusted_rows_are_plain_rows() -> None:
    report = api.analyze(ROOT / "specs" / "inception_v1.yaml", batch=2)
    names = {f.name for f in dataclasses.fields(LayerCost)}
    for row in report.layers:
        assert set(vars(row)) == names, row.name  # every field given, nothing else
        plain = LayerCost(**{name: getattr(row, name) for name in names})
        assert plain == row and hash(plain) == hash(row) and repr(plain) == repr(row)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.layers[0].macs = 0  # type: ignore[misc]
