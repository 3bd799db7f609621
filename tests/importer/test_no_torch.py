"""The importer keeps torch where it traces: the spec it writes is analyzed without torch, its
writing half (structure, blocks, repeats, YAML) imports none, and importing the command's glue
loads none until a model is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.bridge.test_no_torch_on_analytic_path import HEAVY, imported_roots

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
    code = textwrap.dedent(f"""
        import sys
        import importlib
        for name in {LAZY!r}:
            importlib.import_module(name)
        from cnncost.cli import main
        for argv in (["report", {str(spec)!r}], ["validate", {str(spec)!r}]):
            try:
                main(argv)
            except SystemExit as exit:
                assert exit.code in (0, None), (argv, exit.code)
        print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
        """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY []" in proc.stderr
