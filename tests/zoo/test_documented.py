"""Every documented figure in every spec's metadata is asserted, by cnncost's own pytest plugin.

``pyproject.toml`` names the zoo's specs (``cnncost_specs``) and lets pytest walk ``specs/``; the
plugin (``cnncost.pytest_plugin``) collects one item per checked figure of every variant, e.g.
``specs/resnet.yaml::resnet50:params_total``, compared by ``cnncost.cost.documented``: exact
integers to the unit, figures with a ``unit`` at the precision the spec writes them with. Figures
marked ``checked: false`` carry a note saying why they cannot be met and are not collected.
Here: every spec documents something, and each checked count becomes exactly one item.
"""

from __future__ import annotations

from pathlib import Path

from cnncost import api
from cnncost.cost import documented

SPECS = Path(__file__).resolve().parents[2] / "specs"


def spec_files() -> list[Path]:
    return sorted(p for p in SPECS.rglob("*.yaml") if "blocks" not in p.parts)


def test_every_spec_documents_something() -> None:
    for path in spec_files():
        assert api.load(path).spec.documented, f"{path} documents no figure"


def test_every_checked_count_is_one_plugin_item() -> None:
    # a figure without a variant documents the default variant: it is collected there, once
    total = 0
    for path in spec_files():
        loaded = api.load(path)
        spec = loaded.spec
        checked = [d for d in spec.documented
                   if d.checked and d.metric in documented.DOCUMENTED_METRICS]
        items = [f for v in documented.variants_to_check(spec)
                 for f in api.documented_figures(loaded, v)
                 if f.checked and f.metric in documented.DOCUMENTED_METRICS]
        assert len(items) == len(checked), path.name
        total += len(items)
    assert total == 217  # the zoo's checked counts (params, MACs, FLOPs, depths, connections)
