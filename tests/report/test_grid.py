"""Design-space sweeps: grid axes, every combination, the Pareto front, workers, the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cnncost import api
from cnncost.errors import UsageError
from cnncost.report import grid as g
from cnncost.report.zoo import ZooRow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "specs/examples/inception_5x5_bottleneck.yaml"
SETTINGS = {"convention": "torchvision", "dtype": "float32", "batch": 1}


@pytest.mark.parametrize(("item", "expected"), [
    ("alpha=0.25,0.5,1", ("alpha", [0.25, 0.5, 1])),
    ("resolution=96:224:32", ("resolution", [96, 128, 160, 192, 224])),  # the stop included
    ("resolution=96:230:32", ("resolution", [96, 128, 160, 192, 224])),  # 256 would pass it
    ("alpha=0.25:1.0:0.25", ("alpha", [0.25, 0.5, 0.75, 1.0])),  # exact: no 0.7500000001
    ("r=10:0:-5", ("r", [10, 5, 0])),
    ("flavor=keras,torchvision", ("flavor", ["keras", "torchvision"])),
])
def test_axes(item: str, expected: tuple) -> None:
    assert g.parse_axis(item) == expected


@pytest.mark.parametrize("item", ["alpha", "alpha=", "r=0:10:0", "r=0:10:-1", "r=a:b:c",
                                  "r=!!int x"])
def test_bad_axes(item: str) -> None:
    with pytest.raises(UsageError):
        g.parse_axis(item)


def test_points_in_order_and_bounded() -> None:
    axes = [("a", [1, 2]), ("b", ["x", "y", "z"])]
    pts = g.points(axes)
    assert len(pts) == 6 and pts[0] == (("a", 1), ("b", "x")) and pts[3] == (("a", 2), ("b", "x"))
    with pytest.raises(UsageError, match="twice"):
        g.points([("a", [1]), ("a", [2])])
    with pytest.raises(UsageError, match="combinations"):
        g.points([("a", list(range(1001))), ("b", list(range(1001)))])  # 1,002,001 > 10**6


def test_every_combination_is_the_analysis_of_its_overrides() -> None:
    rows = g.sweep(EXAMPLE, [g.parse_axis("reduce=0:32:8")], jobs=1, **SETTINGS)
    assert [r.point for r in rows] == [(("reduce", v),) for v in (0, 8, 16, 24, 32)]
    # reduce r > 0: 784*192*r + 784*25*r*32 = 777,728 * r MACs; r = 0: 784*25*192*32
    assert [r.row.macs for r in rows] == [120_422_400, 6_221_824, 12_443_648, 18_665_472,
                                          24_887_296]
    report = api.analyze(EXAMPLE, overrides={"reduce": 24}, convention="torchvision")
    assert rows[3].row.params_total == report.totals.params_total == 992 * 24


def test_variant_axis_brings_documented_accuracy_and_a_bad_point_is_a_row() -> None:
    rows = g.sweep(ROOT / "specs/mobilenet_v1.yaml",
                   [g.parse_axis("variant=mobilenet_1.0_224,mobilenet_0.5_160")], jobs=1,
                   **SETTINGS)
    # the spec documents the top-1 of mobilenet_1.0_224 only (Keras Applications, seed 003)
    assert [r.row.top1 for r in rows] == [0.704, None]
    # a network the sweep changed is not the documented one: no accuracy
    (changed,) = g.sweep(ROOT / "specs/mobilenet_v1.yaml", [("resolution", [200])], jobs=1,
                         **SETTINGS)
    assert changed.row.top1 is None
    (bad,) = g.sweep(EXAMPLE, [("reduce", ["many"])], jobs=1, **SETTINGS)
    assert bad.row is None and "expression" in bad.error


def test_unknown_grid_key() -> None:
    with pytest.raises(UsageError, match="not a parameter"):
        g.sweep(EXAMPLE, [("resolution", [1])], jobs=1, **SETTINGS)


def _row(macs: int, params: int, top1: float | None = None) -> g.GridRow:
    zoo = ZooRow("s", "m", None, (3,), 0, None, params, params, 1, 1, macs, 2 * macs, 0, 0,
                 top1, None)
    return g.GridRow((("i", macs),), zoo)


def test_pareto_front() -> None:
    # A(10, 5), B(20, 3), C(20, 5) beaten by A, D(5, 9), E(30, 3) beaten by B: front D, A, B
    rows = [_row(10, 5), _row(20, 3), _row(20, 5), _row(5, 9), _row(30, 3),
            g.GridRow((("i", 0),), None, "failed")]
    marked = g.mark_pareto(rows, ("macs", "params_total"))
    assert [r.pareto for r in marked] == [True, True, False, True, False, False]
    # accuracy is maximised: X(10, 0.7), Y(20, 0.8), Z(20, 0.6) beaten by X and Y, W no top1
    rows = [_row(10, 1, 0.7), _row(20, 1, 0.8), _row(20, 1, 0.6), _row(1, 1)]
    assert [r.pareto for r in g.mark_pareto(rows, ("macs", "top1"))] == [True, True, False,
                                                                          False]
    with pytest.raises(UsageError):
        g.parse_pareto("macs")
    with pytest.raises(UsageError):
        g.parse_pareto("macs,speed")


def test_workers_give_the_rows_of_one_process() -> None:
    axes = [g.parse_axis("reduce=0:79:1")]  # 80 points: past PARALLEL_FROM
    assert len(g.points(axes)) >= g.PARALLEL_FROM
    one = g.sweep(EXAMPLE, axes, jobs=1, pareto=("macs", "params_total"), **SETTINGS)
    two = g.sweep(EXAMPLE, axes, jobs=2, pareto=("macs", "params_total"), **SETTINGS)
    assert one == two
    # reduce 0 is the naive 5x5: 120,422,400 MACs and 153,600 params; reduce 1 has 777,728 MACs
    # and 992 params, below every larger reduce in both: the front is reduce 1 alone
    assert [r.point[0][1] for r in one if r.pareto] == [1]


def test_cli_grid_csv(capsys) -> None:
    from cnncost.cli import main

    with pytest.raises(SystemExit) as info:
        main(["table", str(EXAMPLE), "--grid", "reduce=0,8,16", "--pareto", "macs,params_total",
              "--convention", "torchvision", "--format", "csv"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["reduce"], r["macs"], r["pareto"]) for r in rows] == [
        ("0", "120422400", "False"), ("8", "6221824", "True"), ("16", "12443648", "False")]
    with pytest.raises(SystemExit) as info:
        main(["table", str(EXAMPLE), "--pareto", "macs,params_total"])
    assert info.value.code == 2
