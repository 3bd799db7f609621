"""The engine's rows, made with ``LayerCost.trusted`` (no frozen ``__init__``), are the rows a
plain ``LayerCost(...)`` makes: the same fields, equal, hashing alike, still frozen."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cnncost import api
from cnncost.cost.result import LayerCost

ROOT = Path(__file__).resolve().parents[2]


def test_trusted_rows_are_plain_rows() -> None:
    report = api.analyze(ROOT / "specs" / "inception_v1.yaml", batch=2)
    names = {f.name for f in dataclasses.fields(LayerCost)}
    for row in report.layers:
        assert set(vars(row)) == names, row.name  # every field given, nothing else
        plain = LayerCost(**{name: getattr(row, name) for name in names})
        assert plain == row and hash(plain) == hash(row) and repr(plain) == repr(row)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.layers[0].macs = 0  # type: ignore[misc]


@pytest.mark.parametrize("ref", ["resnet.yaml@resnet50", "inception_v3.yaml", "lenet5.yaml@modern",
                                 "nasnet.yaml@mobile", "efficientnet.yaml@b3", "deeplabv3.yaml"])
def test_totals_only_is_the_totals_of_the_whole_report(ref: str) -> None:
    """``layers=False`` (sweeps, the zoo table) makes no rows and no blocks, and the same totals;
    the weighted depth is the one the rows give (weighted layers on the longest such path)."""
    whole = api.analyze(f"{ROOT / 'specs'}/{ref}", batch=3, dtype="bfloat16")
    totals = api.analyze(f"{ROOT / 'specs'}/{ref}", batch=3, dtype="bfloat16", layers=False)
    assert totals.layers == () and totals.blocks == ()
    assert totals.totals == whole.totals and totals.documented == whole.documented
    assert totals.uncounted == whole.uncounted and totals.variant == whole.variant
    assert whole.totals.layers == len(whole.layers)
    graph, _ = api.build_graph(ROOT / "specs" / ref.split("@")[0],
                               variant=ref.split("@")[1] if "@" in ref else None)
    path = graph.longest_path(weighted_only=True)
    assert whole.totals.weighted_depth == sum(graph.node(n).opdef.weighted for n in path)


def test_a_spec_is_named_with_its_variant_as_everywhere() -> None:
    by_ref = api.analyze(f"{ROOT / 'specs'}/resnet.yaml@resnet18")
    assert by_ref.variant == "resnet18"
    assert by_ref.totals == api.analyze(ROOT / "specs/resnet.yaml", variant="resnet18").totals


def test_a_file_whose_name_holds_an_at_sign_is_that_file(tmp_path: Path) -> None:
    spec = tmp_path / "net@224.yaml"
    spec.write_text("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
                    "  - conv2d: {out: 4, kernel: 3}\n")
    assert api.parse_spec_ref(str(spec)) == (spec, None)
    assert api.analyze(str(spec)).totals.params_total == 4 * 3 * 9 + 4  # 3x3 conv 3 -> 4, bias
    assert api.parse_spec_ref(f"{spec}@v") == (spec, "v")
