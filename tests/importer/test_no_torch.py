"""The importer keeps torch where it traces: the spec it writes is analyzed without torch, its
writing half (structure, blocks, repeats, YAML) imports none, and importing the command's glue
loads none until a model is imported."""

from __future__ import annotations

import subprocess
import sys

from notorch import HEAVY, assert_runs_without_heavy, imported_roots

from .conftest import ROOT

#: Modules that never import torch (the writing half and the IR it reads).
TORCH_FREE = ("ir", "calls", "items", "blocks", "structure", "repeats", "emit", "document")
#: Modules that import it only when a function of theirs runs.
LAZY = ("cnncost.importer", "cnncost.importer.command", "cnncost.importer.pipeline",
        "cnncost.importer.catalogue", "cnncost.importer.roundtrip")


def test_the_writing_half_imports_no_torch() -> None:
    folder = ROOT / "cnncost" / "importer"
    assert {p.stem for p in folder.glob("*.py")} >= set(TORCH_FREE)
    assert [m for m in TORCH_FREE if imported_roots(folder / f"{m}.py") & set(HEAVY)] == []
    assert imported_roots(folder / "trace.py") & {"torch"}  # the rule can fire


def test_an_imported_spec_is_analyzed_without_torch(tmp_path) -> None:
    spec = tmp_path / "tiny.yaml"
    subprocess.run([sys.executable, "-m", "cnncost", "import", "tests/importer/models.py:branches",
                    "--input", "3x16x16", "-o", str(spec)], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    assert_runs_without_heavy(list(LAZY), [["report", str(spec)], ["validate", str(spec)]])
