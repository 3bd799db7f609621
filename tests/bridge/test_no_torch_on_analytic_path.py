"""torch, torchvision and fvcore are imported only under ``cnncost/bridge/`` (and the importer,
``cnncost/importer/``: tests/importer/test_no_torch.py), and only when a bridge function runs: the analytic path (api, cli, report, diff, validate, schema) and even
importing the bridge's modules never load them.

``tests/cli/test_cli.py`` runs the analytic CLI commands in a subprocess; this file adds the
static rule (no module outside the bridge imports them at all) and the bridge's lazy imports.
"""

from __future__ import annotations

from notorch import HEAVY, assert_runs_without_heavy, imported_roots

from .conftest import ROOT

PACKAGE = ROOT / "cnncost"


def test_only_the_bridge_imports_torch() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if not {"bridge", "importer"} & set(p.relative_to(PACKAGE).parts)
                 and imported_roots(p) & set(HEAVY)]
    assert offenders == []
    bridge_modules = list((PACKAGE / "bridge").glob("*.py"))
    assert any(imported_roots(p) & {"torch"} for p in bridge_modules)  # the rule can fire


def test_analytic_path_and_bridge_imports_load_no_torch() -> None:
    spec = str(ROOT / "specs" / "examples" / "inception_5x5_bottleneck.yaml")
    assert_runs_without_heavy(
        ["cnncost.api", "cnncost.cli", "cnncost.bridge", "cnncost.bridge.check",
         "cnncost.bridge.profile", "cnncost.bridge.render", "cnncost.bridge.result",
         "cnncost.bridge.command"],
        [["report", spec], ["diff", f"{spec}@naive", f"{spec}@bottleneck"], ["validate", spec],
         ["schema"]])
