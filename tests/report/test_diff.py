"""Diffs: alignment by block name, deltas and ratios, and the four renderings."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from cnncost.errors import UsageError
from cnncost.report.diff import (
    Change,
    diff_reports,
    diff_to_csv,
    diff_to_json,
    diff_to_markdown,
    render_diff,
    visible_rows,
)
from cnncost.report.table import render_text

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def forward(naive, bottleneck):
    return diff_reports(naive, bottleneck)


def test_alignment_common_added_removed(forward) -> None:
    assert [(r.name, r.kind, r.status, r.level) for r in forward.rows] == [
        ("input", "layer", "common", 1),
        ("mixed", "block", "common", 1),
        ("mixed.branch_5x5", "block", "common", 2),
        ("mixed.branch_1x1", "block", "common", 2),
        ("mixed.branch_pool", "block", "added", 2),  # only the bottleneck side has it
        ("pool", "layer", "common", 1),
        ("dropout", "layer", "removed", 1),  # only the naive side has it
        ("fc", "layer", "common", 1),
    ]
    # leaves inside blocks are represented by their block, not aligned themselves
    assert "mixed.concat" not in {r.name for r in forward.rows}


def test_reverse_alignment_keeps_b_rows_after_their_predecessor(naive, bottleneck) -> None:
    back = diff_reports(bottleneck, naive)
    assert [(r.name, r.status) for r in back.rows] == [
        ("input", "common"), ("mixed", "common"), ("mixed.branch_5x5", "common"),
        ("mixed.branch_1x1", "common"), ("mixed.branch_pool", "removed"), ("pool", "common"),
        ("dropout", "added"), ("fc", "common"),
    ]


def test_deltas_and_ratios(forward) -> None:
    branch = forward.row("mixed.branch_5x5")
    # 12_443_648 - 120_422_400 = -107_978_752; 12_443_648 / 120_422_400 = 0.10333…
    assert branch.macs == Change(120_422_400, 12_443_648, -107_978_752,
                                 12_443_648 / 120_422_400)
    # params 153_632 -> 3_088 + 12_832 = 15_920
    assert branch.params.delta == -137_712
    added = forward.row("mixed.branch_pool")
    assert added.macs == Change(None, 4_816_896, 4_816_896, None)
    removed = forward.row("dropout")
    assert removed.activation_bytes == Change(384, None, -384, None)
    pool = forward.row("pool")
    assert pool.macs.ratio is None  # zero MACs on side A
    assert pool.flops == Change(75_264, 100_352, 25_088, 100_352 / 75_264)  # 96·784 -> 128·784


def test_top_level_deltas_add_up_to_total_deltas(forward) -> None:
    top = [r for r in forward.rows if r.level == 1]
    for metric in ("params", "macs", "flops", "activation_bytes"):
        assert sum(getattr(r, metric).delta for r in top) == getattr(forward.totals,
                                                                     metric).delta, metric
    assert forward.totals.params.delta == 35_994 - 167_210
    assert forward.totals.macs.a == 130_057_152 and forward.totals.macs.b == 26_895_616
    assert forward.totals.weighted_depth == Change(2, 3, 1, 1.5)


def test_identical_reports(naive) -> None:
    same = diff_reports(naive, naive)
    assert {r.status for r in same.rows} == {"common"}
    assert all(r.macs.delta == 0 and r.params.delta == 0 for r in same.rows)
    assert same.row("mixed").macs.ratio == 1.0
    assert same.row("input").macs.ratio is None
    assert same.notes == ()


def test_zero_total_ratio_is_none(make_report) -> None:
    a = make_report("naive")
    zero = dataclasses.replace(a, totals=dataclasses.replace(a.totals, macs=0))
    assert diff_reports(zero, a).totals.macs.ratio is None
    assert diff_reports(a, zero).totals.macs.ratio == 0.0


def test_labels_and_notes(make_report) -> None:
    a = make_report("naive")
    b = make_report("naive", uncounted=True, batch=2, overrides={"reduce": 16})
    d = diff_reports(a, b)
    assert d.a.label == "inception_5x5_bottleneck.yaml@naive"
    assert d.b.label == "inception_5x5_bottleneck.yaml@naive [reduce=16]"
    assert any("conventions differ (cnncost vs torchvision)" in n for n in d.notes)
    assert any("batch sizes differ (1 vs 2)" in n for n in d.notes)
    assert diff_reports(a, b, label_a="left", label_b="right").b.label == "right"


def test_diff_report_is_frozen(forward) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        forward.rows[0].status = "added"  # type: ignore[misc]


def test_depth(forward) -> None:
    assert [r.name for r, _ in visible_rows(forward, depth=1)] == [
        "input", "mixed", "pool", "dropout", "fc"]
    assert {r.name: c for r, c in visible_rows(forward, depth=1)}["mixed"] is True
    assert len(visible_rows(forward, depth=2)) == len(forward.rows)
    assert visible_rows(forward, depth=0) == []  # the totals only
    with pytest.raises(UsageError):
        visible_rows(forward, depth=-1)


# --------------------------------------------------------------------------- renderings


def test_rich_golden(forward) -> None:
    text = render_text(render_diff(forward), 120)
    path = GOLDEN / "diff_naive_bottleneck_w120.txt"
    if os.environ.get("CNNCOST_REGEN_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_rich_depth_and_exact(forward) -> None:
    text = render_text(render_diff(forward, depth=1, exact=True), 140)
    assert "mixed (collapsed)" in text and "branch_5x5" not in text
    assert "-103,161,856" in text  # 26_894_336 - 130_056_192 for the mixed block


def test_json_round_trip(forward) -> None:
    data = json.loads(diff_to_json(forward))
    assert data["a"]["label"] == "inception_5x5_bottleneck.yaml@naive"
    assert len(data["rows"]) == len(forward.rows)
    for row, original in zip(data["rows"], forward.rows, strict=True):
        assert row["name"] == original.name and row["status"] == original.status
        for metric in ("params", "macs", "flops", "activation_bytes"):
            change = getattr(original, metric)
            assert row[metric] == {"a": change.a, "b": change.b, "delta": change.delta,
                                   "ratio": change.ratio}
    assert data["totals"]["macs"]["delta"] == 26_895_616 - 130_057_152


def test_csv_parse_back(forward) -> None:
    rows = list(csv.DictReader(io.StringIO(diff_to_csv(forward))))
    assert [r["name"] for r in rows] == [r.name for r in forward.rows]
    for row, original in zip(rows, forward.rows, strict=True):
        for metric in ("params", "macs", "flops", "activation_bytes"):
            change = getattr(original, metric)
            assert row[f"{metric}_a"] == ("" if change.a is None else str(change.a))
            assert row[f"{metric}_b"] == ("" if change.b is None else str(change.b))
            assert int(row[f"{metric}_delta"]) == change.delta
            ratio = row[f"{metric}_ratio"]
            assert (float(ratio) if ratio else None) == change.ratio
    added = next(r for r in rows if r["name"] == "mixed.branch_pool")
    assert added["status"] == "added" and added["macs_a"] == "" and added["macs_ratio"] == ""


def test_markdown(forward) -> None:
    text = diff_to_markdown(forward)
    assert text.startswith("# inception_5x5_bottleneck.yaml@naive → "
                           "inception_5x5_bottleneck.yaml@bottleneck\n")
    assert ("| + | &emsp;**`branch_pool`** | – | 6,176 | +6,176 | – | 4,816,896 | +4,816,896 | – "
            "|") in text
    assert "| - | `dropout` | 0 | – | 0 |" in text
    assert "| MACs | 130,057,152 | 26,895,616 | -103,161,536 | ×0.207 |" in text
    shallow = diff_to_markdown(forward, depth=1)
    assert "**`mixed`** (collapsed)" in shallow and "branch_pool" not in shallow
