"""``check`` passes on CPU for every spec in ``specs/`` and every variant (batch 1, float32).

The memory section of the check runs on the whole zoo in ``python -m cnncost.bridge.memzoo``
(tens of minutes); ``test_memory_zoo`` keeps its committed report current.

The specs are discovered at collection time (``specs/**/*.yaml`` except ``specs/blocks/``), so a
new spec or variant is covered without touching this file. Models above ``SLOW_MACS`` conv +
linear MACs are marked ``slow`` (they still run in CI). A spec that does not load is collected as
one failing case that shows its error, rather than breaking collection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api
from cnncost.bridge.check import check
from cnncost.bridge.render import check_text
from cnncost.errors import CnncostError

from .conftest import SPECS

SLOW_MACS = 1_000_000_000


def spec_files() -> list[Path]:
    return sorted(p for p in SPECS.rglob("*.yaml") if "blocks" not in p.relative_to(SPECS).parts)


def cases() -> list:
    out = []
    for path in spec_files():
        label = str(path.relative_to(SPECS))
        try:
            variants = api.variants(path) or (None,)
            for variant in variants:
                macs = api.analyze(path, variant=variant, convention="torchvision").totals.macs
                marks = [pytest.mark.slow] if macs > SLOW_MACS else []
                out.append(pytest.param(path, variant, None, marks=marks,
                                        id=f"{label}@{variant or '-'}"))
        except CnncostError as err:
            out.append(pytest.param(path, None, str(err), id=f"{label}:does-not-load"))
    return out


def test_specs_are_found() -> None:
    found = {p.name for p in spec_files()}
    assert {"resnet.yaml", "inception_v1.yaml", "inception_5x5_bottleneck.yaml"} <= found
    assert not any("blocks" in p.parts for p in spec_files())


@pytest.mark.parametrize("path, variant, load_error", cases())
def test_check_passes(path: Path, variant: str | None, load_error: str | None) -> None:
    assert load_error is None, f"{path} does not load:\n{load_error}"
    report = check(path, variant=variant, memory=False)  # memory: test_memory_zoo
    assert report.ok, check_text(report, width=160)
    assert report.mismatches == ()
    assert report.layers, "nothing was checked"
    assert report.total("params_trainable").measured == report.total("params_trainable").analytic
