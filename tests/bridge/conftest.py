"""Fixtures of the torch-bridge tests: tiny specs written to a temporary directory."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():  # fvcore's import touches torch.jit.script, deprecated in torch 2.x
    warnings.simplefilter("ignore", FutureWarning)
    import fvcore.nn  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

WriteSpec = Callable[..., Path]


def spec_text(name: str, input_shape: list[int], layers: list[Any], **extra: Any) -> str:
    """A spec's YAML: ``input: {shape: ...}`` and ``layers`` as given (plus top-level keys)."""
    return yaml.safe_dump({"name": name, "input": {"shape": list(input_shape)}, **extra,
                           "layers": layers}, sort_keys=False)


@pytest.fixture
def write_spec(tmp_path: Path) -> WriteSpec:
    """``write_spec(name, input_shape, layers, **top_level) -> path`` of a spec in tmp_path."""

    def write(name: str, input_shape: list[int], layers: list[Any], **extra: Any) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(spec_text(name, input_shape, layers, **extra), encoding="utf-8")
        return path

    return write
