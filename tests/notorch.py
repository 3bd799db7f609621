"""Shared by the no-torch tests of the bridge (tests/bridge/test_no_torch_on_analytic_path.py)
and of the importer (tests/importer/test_no_torch.py): which top-level packages a source file
imports, and running cnncost in a fresh interpreter to see that none of the heavy ones loads.

A plain module beside the test packages (pytest puts ``tests/`` on ``sys.path`` for them), so
both import it as ``notorch`` whatever directory pytest is started from."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "fvcore")


def imported_roots(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def assert_runs_without_heavy(modules: list[str], commands: list[list[str]]) -> None:
    """In a fresh interpreter: import ``modules``, run each ``cnncost`` command (exit 0), and
    find none of ``HEAVY`` loaded."""
    code = textwrap.dedent(f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        from cnncost.cli import main
        for argv in {commands!r}:
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
