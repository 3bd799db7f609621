"""Helpers of the importer's tests: import a model, write its spec, load it back."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # fvcore's import touches torch.jit.script, deprecated in torch 2.x
    warnings.simplefilter("ignore", FutureWarning)
    import fvcore.nn  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
MODELS = "tests/importer/models.py"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def imported(ref: str, tmp_path: Path, **kwargs: Any) -> tuple[Path, Any]:
    """Import ``ref`` and write its spec in ``tmp_path``: (the spec's path, the ImportResult)."""
    from cnncost.importer.pipeline import import_model

    result = import_model(ref, **kwargs)
    path = tmp_path / f"{result.name}.yaml"
    path.write_text(result.text, encoding="utf-8")
    return path, result
