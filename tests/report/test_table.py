"""The rich table, its row model and number formatting. Golden files: CNNCOST_REGEN_GOLDEN=1."""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from cnncost.cost.documented import documented_text
from cnncost.cost.result import DocumentedFigure
from cnncost.errors import UsageError
from cnncost.report.table import (
    format_bytes,
    format_count,
    format_shape,
    format_share,
    render_report,
    render_text,
    report_rows,
    total_lines,
)

GOLDEN = Path(__file__).parent / "golden"


def report_text(report, *, width: int = 120, depth: int | None = None, exact: bool = False) -> str:
    return render_text(render_report(report, depth=depth, exact=exact), width)
REGEN = os.environ.get("CNNCOST_REGEN_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with CNNCOST_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(("n", "text"), [
    (0, "0"),
    (999, "999"),
    (1_000, "1.00 k"),
    (12_352, "12.4 k"),
    (153_632, "154 k"),
    (999_499, "999 k"),
    (999_500, "1.00 M"),  # 999.5 k rounds to 1000 k: shown in the next unit
    (6_624_904, "6.62 M"),
    (1_504_954_368, "1.50 G"),
    (-131_536, "-132 k"),
])
def test_format_count_human(n: int, text: str) -> None:
    assert format_count(n) == text


def test_format_count_exact_and_signed() -> None:
    assert format_count(120_422_400, exact=True) == "120,422,400"
    assert format_count(320, signed=True) == "+320"
    assert format_count(-107_978_752, signed=True) == "-108 M"
    assert format_count(0, signed=True) == "0"


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"),
    (1_023, "1,023 B"),
    (1_024, "1.00 KiB"),
    (602_112, "588 KiB"),  # 192·28·28·4 = 602_112 = 588 · 1024
    (1_506_088, "1.44 MiB"),  # 1_506_088 / 2^20 = 1.436
    (5 * 2**30, "5.00 GiB"),
])
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


def test_format_bytes_exact_share_shape() -> None:
    assert format_bytes(602_112, exact=True) == "602,112 B"
    assert format_share(1, 3) == "33.3 %"
    assert format_share(0, 0) == "–"
    assert format_shape((64, 56, 56)) == "64×56×56"
    assert format_shape(None) == ""


# --------------------------------------------------------------------------- rows


NAIVE_ORDER = [
    ("layer", "input", 0), ("block", "mixed", 0), ("block", "mixed.branch_5x5", 1),
    ("layer", "mixed.branch_5x5.conv", 2), ("layer", "mixed.branch_5x5.relu", 2),
    ("block", "mixed.branch_1x1", 1), ("layer", "mixed.branch_1x1.conv", 2),
    ("layer", "mixed.branch_1x1.bn", 2), ("layer", "mixed.concat", 1), ("layer", "pool", 0),
    ("layer", "dropout", 0), ("layer", "fc", 0),
]


def test_rows_order_and_indent(naive) -> None:
    rows = report_rows(naive)
    assert [(r.kind, r.name, r.indent) for r in rows] == NAIVE_ORDER
    assert rows[3].label == "conv"  # relative to its block
    assert rows[2].label == "branch_5x5"


def test_depth_collapses_into_block_rows(naive) -> None:
    top = report_rows(naive, depth=1)
    assert [r.name for r in top] == ["input", "mixed", "pool", "dropout", "fc"]
    assert top[1].collapsed and top[1].layers == 5
    two = report_rows(naive, depth=2)
    assert [r.name for r in two] == ["input", "mixed", "mixed.branch_5x5", "mixed.branch_1x1",
                                     "mixed.concat", "pool", "dropout", "fc"]
    assert not two[1].collapsed and two[2].collapsed
    assert report_rows(naive, depth=3) == report_rows(naive)


@pytest.mark.parametrize("depth", [None, 1, 2, 3])
@pytest.mark.parametrize("variant", ["naive", "bottleneck"])
def test_top_level_rows_sum_to_totals(make_report, variant: str, depth: int | None) -> None:
    report = make_report(variant, batch=3)
    top = [r for r in report_rows(report, depth) if r.indent == 0]
    t = report.totals
    assert sum(r.params_total for r in top) == t.params_total
    assert sum(r.macs for r in top) == t.macs
    assert sum(r.flops for r in top) == t.flops
    assert sum(r.activation_bytes for r in top) == t.activation_bytes


def test_block_rows_are_the_sum_of_their_leaves(bottleneck) -> None:
    rows = report_rows(bottleneck)
    for block in (r for r in rows if r.kind == "block"):
        leaves = [r for r in rows if r.kind == "layer" and r.name.startswith(block.name + ".")]
        assert len(leaves) == block.layers
        assert sum(r.macs for r in leaves) == block.macs
        assert sum(r.params_total for r in leaves) == block.params_total
    # hand check: 2_408_448 + 10_035_200 = 12_443_648 MACs in the 5×5 branch
    assert bottleneck.block("mixed.branch_5x5").macs == 12_443_648


def test_depth_zero_is_the_totals_only_and_below_is_a_usage_error(naive) -> None:
    assert report_rows(naive, depth=0) == []
    with pytest.raises(UsageError):
        report_rows(naive, depth=-1)


# --------------------------------------------------------------------------- documented figures


def test_documented_marks(make_report) -> None:
    docs = (
        DocumentedFigure("params_total", 167_210, "hand count"),  # 153_632+12_352+256+970
        DocumentedFigure("macs", 130_056_952, "paper", note="approx"),  # 200 short
        DocumentedFigure("flops", 2.6e8, "rounded"),
        DocumentedFigure("top1", 0.5, "nowhere"),
    )
    report = make_report("naive", documented=docs)
    lines = {line.label: line for line in total_lines(report)}
    assert lines["params, total"].documented == ("documented 167,210 ✓ · hand count",)
    assert lines["MACs (cnncost)"].documented == (
        "documented 130,056,952 ✗ (Δ +200) · paper; approx",)
    # (260_390_282 - 2.6e8) / 2.6e8 = +0.15 %
    assert lines["FLOPs (cnncost)"].documented == (
        "documented 260,000,000 (computed +0.15 %) · rounded",)
    assert lines["top1 (documented)"].exact == "0.5"
    assert lines["top1 (documented)"].documented == ("nowhere",)
    text = report_text(report)
    assert "✓" in text and "✗ (Δ +200)" in text


def test_documented_units_and_conventions(make_report) -> None:
    naive = make_report("naive")  # 130_057_152 MACs, cnncost convention
    rounded = DocumentedFigure("macs", 0.13, "paper", unit="G")
    # (130_057_152 - 1.3e8) / 1.3e8 = +0.04 %; 130_057_152 / 1e9 = 0.130..., 0.13 at 2 decimals
    assert documented_text(rounded, naive) == (
        "documented 0.13 G ✓ (computed +0.04 %) · paper")
    # written "0.130" (three decimals): 0.130057 rounds to 0.130, a match; written "0.1299":
    # 0.130057 rounds to 0.1301, not 0.1299 ((130_057_152 - 1.299e8) / 1.299e8 = +0.12 %)
    assert documented_text(replace(rounded, written="0.130"), naive).startswith(
        "documented 0.130 G ✓")
    assert documented_text(replace(rounded, value=0.1299, written="0.1299"), naive).startswith(
        "documented 0.1299 G ✗ (computed +0.12 %)")
    other = DocumentedFigure("macs", 130_057_152, "model card", convention="torchvision")
    assert documented_text(other, naive) == (
        "documented 130,057,152 (under convention torchvision) · model card")
    tv = make_report("naive", uncounted=True)  # the torchvision convention
    assert documented_text(other, tv).startswith("documented 130,057,152 ✓")
    lecun = DocumentedFigure("connections", 340_908, "LeCun 1998")
    assert documented_text(lecun, naive) == (
        "documented 340,908 (under convention connections) · LeCun 1998")
    connections = dataclasses.replace(
        naive, convention=dataclasses.replace(naive.convention, name="connections"),
        totals=dataclasses.replace(naive.totals, macs=340_908))
    assert documented_text(lecun, connections) == "documented 340,908 ✓ · LeCun 1998"
    lost_unit = DocumentedFigure("macs", 1.3, "unit lost on the way")
    assert documented_text(lost_unit, naive) == (
        "documented 1.3 · unit lost on the way")


def test_documented_per_image_figures_are_not_compared_at_batch_2(make_report) -> None:
    report = make_report("naive", batch=2)
    figure = DocumentedFigure("macs", 130_057_152, "per image")
    assert documented_text(figure, report) == (
        "documented 130,057,152 (per image; batch differs) · per image")
    params = DocumentedFigure("params_total", 167_210, "count")
    assert documented_text(params, report).endswith("✓ · count")  # not per image


# --------------------------------------------------------------------------- rich output


def test_golden_naive(naive) -> None:
    check_golden("naive_w120.txt", report_text(naive, width=120))


def test_golden_bottleneck_uncounted_depth2(make_report) -> None:
    report = make_report("bottleneck", batch=2, uncounted=True,
                          overrides={"reduce": 16})
    check_golden("bottleneck_torchvision_depth2_w120.txt", report_text(report, depth=2))


def test_golden_exact_depth1_with_documented(make_report) -> None:
    report = make_report("naive", documented=(
        DocumentedFigure("params_total", 167_210, "hand count"),
        DocumentedFigure("macs", 120_422_400, "seed 003", note="the 5×5 conv only")))
    check_golden("naive_exact_depth1_w120.txt", report_text(report, depth=1, exact=True))


def test_the_tests_console_gives_the_golden_text(naive) -> None:
    console = Console(width=120, record=True, color_system=None, file=io.StringIO())
    console.print(render_report(naive))
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
    assert text == (GOLDEN / "naive_w120.txt").read_text(encoding="utf-8")


def test_rendering_is_deterministic_and_fits_the_width(bottleneck) -> None:
    first = report_text(bottleneck, width=100)
    assert first == report_text(bottleneck, width=100)
    assert max(len(line) for line in first.splitlines()) <= 100


def test_uncounted_table_only_when_something_is_uncounted(make_report, naive) -> None:
    assert "does not count" not in report_text(naive)
    text = report_text(make_report("naive", uncounted=True))
    assert "operators this convention does not count" in text
    assert "batch_norm" in text.split("does not count")[1]


def test_names_are_not_rich_markup(naive) -> None:
    odd = replace(naive, layers=tuple(
        replace(x, name="[bold]fc[/bold]") if x.name == "fc" else x for x in naive.layers))
    assert "[bold]fc[/bold]" in report_text(odd)
