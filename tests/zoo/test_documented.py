"""Every documented figure in every spec's metadata, asserted (one parametrized table).

Each row is a figure written in a spec's ``documented:`` list, with its source beside it there:
the Keras Applications table (seed 003), torchvision's weights metadata, or a paper. Exact
integers must match to the unit; figures with a ``unit`` must match at the precision the source
prints. Figures marked ``checked: false`` carry a note saying why they cannot be met and are not
collected here.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from cnncost import api
from cnncost.spec.model import UNITS

SPECS = Path(__file__).resolve().parents[2] / "specs"
ASSERTED = {"params_total", "params_trainable", "params_non_trainable", "macs", "flops",
            "connections", "depth", "weighted_depth"}


def spec_files() -> list[Path]:
    return sorted(p for p in SPECS.rglob("*.yaml") if "blocks" not in p.parts)


def cases() -> list:
    out = []
    for path in spec_files():
        for d in api.load(path).spec.documented:
            if d.metric in ASSERTED and d.checked:
                tag = f"{path.stem}@{d.variant or '-'}:{d.metric}"
                if d.convention:
                    tag += f"[{d.convention}]"
                out.append(pytest.param(path, d, id=tag))
    return out


@cache
def report(path: Path, variant: str | None, convention: str):
    return api.analyze(path, variant=variant, convention=convention)


def computed(path: Path, d) -> int:
    if d.metric == "connections":
        return report(path, d.variant, "connections").totals.macs
    r = report(path, d.variant, d.convention or "cnncost")
    return getattr(r.totals, d.metric)


@pytest.mark.parametrize(("path", "figure"), cases())
def test_documented_figure(path: Path, figure) -> None:
    value = computed(path, figure)
    if figure.unit is None:
        assert isinstance(figure.value, int), "an exact figure must be an integer"
        assert value == figure.value, f"{figure.source}: {figure.value:,} documented"
    else:
        written = Decimal(str(figure.value))
        decimals = max(-written.as_tuple().exponent, 0)
        shown = round(Decimal(value) / UNITS[figure.unit], decimals)
        assert shown == written, (f"{figure.source}: {written} {figure.unit} documented, "
                                  f"computed {value:,}")


def test_every_spec_documents_something() -> None:
    for path in spec_files():
        assert api.load(path).spec.documented, f"{path} documents no figure"
