"""JSON, CSV and Markdown renderings: every integer survives exactly; content where it belongs."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields, replace

import pytest

from cnncost.cost.result import CostReport, LayerCost
from cnncost.report.formats import CSV_COLUMNS, to_csv, to_json, to_markdown

LAYER_INTS = [f.name for f in fields(LayerCost) if f.type == "int"] + ["params_total"]
BLOCK_INTS = ["level", "layers", "params_trainable", "params_non_trainable", "params_total",
              "macs", "flops", "activation_bytes"]


def huge(report: CostReport) -> CostReport:
    """A report whose MACs do not fit a float64 mantissa (2^53 + 1): exactness must survive."""
    big = 2**53 + 1
    layers = tuple(replace(x, macs=big) if x.name == "fc" else x for x in report.layers)
    return replace(report, layers=layers, totals=replace(report.totals, macs=big + 1))


# --------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("variant", ["naive", "bottleneck"])
def test_json_round_trip_is_exact(make_report, variant: str) -> None:
    report = huge(make_report(variant, batch=2, uncounted=True, overrides={"reduce": 16}))
    data = json.loads(to_json(report))
    assert data == json.loads(json.dumps(report.to_dict()))
    for row, layer in zip(data["layers"], report.layers, strict=True):
        for name in LAYER_INTS:
            value = getattr(layer, name)
            assert row[name] == value and type(row[name]) is int, (layer.name, name)
        assert tuple(row["out_shape"]) == layer.out_shape
        assert row["location"] == str(layer.location)
    for row, block in zip(data["blocks"], report.blocks, strict=True):
        for name in BLOCK_INTS:
            assert row[name] == getattr(block, name), (block.name, name)
    for name in ("params_trainable", "params_non_trainable", "params_total", "weight_bytes",
                 "macs", "flops", "activation_bytes", "peak_activation_bytes", "depth",
                 "weighted_depth", "layers"):
        assert data["totals"][name] == getattr(report.totals, name), name
    assert data["layers"][-1]["macs"] == 9_007_199_254_740_993  # 2^53 + 1, not rounded
    assert data["uncounted"][0] == {"op": "batch_norm", "layers": 1, "macs": 0,
                                    "flops": 200_704}  # 2·64·784 per image, batch 2
    assert data["overrides"] == {"reduce": 16}
    assert data["convention"]["name"] == "torchvision"


def test_json_is_stable(naive) -> None:
    assert to_json(naive) == to_json(naive)
    assert to_json(naive).endswith("}\n")


# --------------------------------------------------------------------------- CSV


def parse_csv(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_csv_has_one_row_per_layer_and_block(bottleneck) -> None:
    rows = parse_csv(to_csv(bottleneck))
    assert len(rows) == len(bottleneck.layers) + len(bottleneck.blocks)
    assert [r["name"] for r in rows if r["kind"] == "layer"] == [x.name for x in bottleneck.layers]
    assert {r["name"] for r in rows if r["kind"] == "block"} == {b.name for b in bottleneck.blocks}
    # a block's row precedes its first layer
    names = [r["name"] for r in rows]
    assert names.index("mixed.branch_pool") + 1 == names.index("mixed.branch_pool.pool")


def test_csv_integers_parse_back_exactly(make_report) -> None:
    report = huge(make_report("naive", batch=4))
    rows = parse_csv(to_csv(report))
    for row in (r for r in rows if r["kind"] == "layer"):
        layer = report.layer(row["name"])
        for name in LAYER_INTS:
            assert int(row[name]) == getattr(layer, name), (layer.name, name)
        assert row["op"] == layer.op
        assert tuple(int(d) for d in row["out_shape"].split("x")) == layer.out_shape
        assert row["inputs"] == ";".join(layer.inputs)
        assert row["counted"] == "true"
    for row in (r for r in rows if r["kind"] == "block"):
        block = report.block(row["name"])
        for name in BLOCK_INTS:
            assert int(row[name]) == getattr(block, name), (block.name, name)
        assert row["op"] == row["out_shape"] == ""
    layer_rows = [r for r in rows if r["kind"] == "layer"]
    assert sum(int(r["flops"]) for r in layer_rows) == report.totals.flops
    assert int(next(r for r in rows if r["name"] == "fc")["macs"]) == 2**53 + 1


def test_csv_marks_uncounted_layers(make_report) -> None:
    rows = parse_csv(to_csv(make_report("naive", uncounted=True)))
    counted = {r["name"]: r["counted"] for r in rows if r["kind"] == "layer"}
    assert counted["mixed.branch_5x5.relu"] == "false"
    assert counted["mixed.branch_5x5.conv"] == "true"


# --------------------------------------------------------------------------- Markdown


def test_markdown_table_totals_and_convention(naive) -> None:
    text = to_markdown(naive)
    assert text.startswith("# inception_5x5 @ naive — Inception 5×5 branch\n")
    assert "| name | op | output | params | MACs (cnncost) | MACs % | activation (bytes) |" in text
    assert "| `input` | input | 192×28×28 | 0 | 0 | 0.0 % | 602,112 |" in text
    # block rows bold, leaves indented one em space per level
    assert "| **`mixed`** |  |  | 166,240 | 130,056,192 | 100.0 % | 903,168 |" in text
    assert ("| &emsp;&emsp;`conv` | conv2d | 32×28×28 | 153,632 | 120,422,400 | 92.6 % | "
            "100,352 |") in text
    assert "| params, total | 167,210 | 167 k |  |" in text
    assert "| MACs (cnncost) | 130,057,152 | 130 M |  |" in text
    assert "## Convention: cnncost" in text and "**cnncost complete count**" in text
    assert "does not count" not in text


def test_markdown_depth_and_uncounted(make_report) -> None:
    text = to_markdown(make_report("bottleneck", uncounted=True), depth=1)
    assert "| **`mixed`** (8 layers) |" in text
    assert "`conv`" not in text and "`reduce`" not in text
    assert "### Operators this convention does not count" in text
    assert "| batch_norm | 1 | 0 | 100,352 |" in text


def test_markdown_escapes_pipes(naive) -> None:
    odd = replace(naive, layers=tuple(
        replace(x, name="a|b") if x.name == "fc" else x for x in naive.layers))
    assert "| `a\\|b` | linear |" in to_markdown(odd)
