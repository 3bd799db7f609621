"""torch, torchvision and fvcore are imported only under ``cnncost/bridge/`` (and the importer,
``cnncost/importer/``: tests/importer/test_no_torch.py), and only when a bridge function runs: the analytic path (api, cli, report, diff, validate, schema) and even
importing the bridge's modules never load them.

``tests/cli/test_cli.py`` runs the analytic CLI commands in a subprocess; this file adds the
static rule (no module outside the bridge imports them at all) and the bridge's lazy imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from .conftest import ROOT

HEAVY = ("torch", "torchvision", "fvcore")
PACKAGE = ROOT / "cnncost"


def imported_roots(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_bridge_imports_torch() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if not {"bridge", "importer"} & set(p.relative_to(PACKAGE).parts)
                 and imported_roots(p) & set(HEAVY)]
    assert offenders == []
    bridge_modules = list((PACKAGE / "bridge").glob("*.py"))
    assert any(imported_roots(p) & {"torch"} for p in bridge_modules)  # the rule can fire


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


def test_analytic_path_and_bridge_imports_load_no_torch() -> None:
    spec = str(ROOT / "specs" / "examples" / "inception_5x5_bottleneck.yaml")
    assert_runs_without_heavy(
        ["cnncost.api", "cnncost.cli", "cnncost.bridge", "cnncost.bridge.check",
         "cnncost.bridge.profile", "cnncost.bridge.render", "cnncost.bridge.result",
         "cnncost.bridge.command"],
        [["report", spec], ["diff", f"{spec}@naive", f"{spec}@bottleneck"], ["validate", spec],
         ["schema"]])
