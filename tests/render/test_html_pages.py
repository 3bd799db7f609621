"""The HTML pages read as a person would see them (without a browser): every number equal to the
report's, every layer of the graph in its data, the charts' bars as long as the report says, the
first view's closed blocks hiding their rows, and nothing fetched from outside the file."""

from __future__ import annotations

import json
import re

import pytest

from cnncost import api
from cnncost.render.breakdown import chart_depth, units_at
from cnncost.render.html import diff_page, report_page, zoo_page
from cnncost.render.timeline import live_memory_timeline
from cnncost.report.diff import diff_reports
from cnncost.report.table import format_bytes, format_count, report_rows, total_lines
from cnncost.report.zoo import zoo_rows

from .conftest import SPECS
from .htmltree import Element, parse

#: XML namespace names: identifiers a browser never fetches.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def islands(page: Element) -> dict[str, object]:
    return {s.attrs["id"]: json.loads(s.text) for s in page.iter("script", type="application/json")}


def assert_self_contained(text: str) -> None:
    """No address outside the file: no src/href leaving the page, no stylesheet or import, and
    every http(s) string an XML namespace name."""
    page = parse(text)
    for element in page.iter():
        for attr in ("src", "href", "xlink:href", "action", "data"):
            value = element.attrs.get(attr)
            if value is not None:
                assert value.startswith("#"), f"<{element.tag} {attr}={value!r}>"
    assert not list(page.iter("link")) and not list(page.iter("iframe"))
    assert not re.search(r"@import|url\((?!#)", text)
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= NAMESPACES
    assert "sourceMappingURL" not in text
    assert all("src" not in s.attrs for s in page.iter("script"))


def test_report_table_rows_equal_the_report(resnet50, resnet50_page) -> None:
    page = parse(resnet50_page)
    rows = list(page.by_id("layer-table").find("tbody").iter("tr"))
    expected = report_rows(resnet50)
    assert [r.attrs["data-name"] for r in rows] == [x.name for x in expected]
    total = resnet50.totals.macs
    for tr, row in zip(rows, expected):
        cells = [td for td in tr.iter("td")]
        source = resnet50.block(row.name) if row.kind == "block" else resnet50.layer(row.name)
        values = [source.params_total, source.params_non_trainable, source.macs, source.flops,
                  source.activation_bytes]
        assert [int(td.attrs["data-v"]) for td in cells[3:8]] == values
        assert [td.text for td in cells[3:8]] == [f"{v:,}" for v in values]
        assert cells[8].text == f"{100 * source.macs / total:.1f} %"
        assert cells[0].text.strip() == row.label
    conv1 = page.find("tr", data_name="conv1")
    assert [td.text for td in conv1.iter("td")][:3] == ["conv1", "conv2d", "64×112×112"]
    assert conv1.find("td").attrs["title"] == str(resnet50.layer("conv1").location)


def test_report_totals_and_cards_equal_the_report(resnet50, resnet50_page) -> None:
    page = parse(resnet50_page)
    lines = list(page.find("table", class_="totals").find("tbody").iter("tr"))
    expected = total_lines(resnet50)
    assert [[td.text for td in tr.iter("td")][:3] for tr in lines] == [
        [x.label, x.exact, x.human] for x in expected]
    t = resnet50.totals
    cards = {c.attrs["data-metric"]: c for c in page.iter("div", class_="card")}
    assert cards["macs"].find("div", class_="v").text == format_count(t.macs) == "4.09 G"
    assert cards["macs"].find("div", class_="x").text == "4,089,184,256"
    assert cards["peak_activation_bytes"].find("div", class_="v").text == format_bytes(
        t.peak_activation_bytes)
    assert cards["params_total"].find("div", class_="x").text == f"{t.params_total:,}"


def test_report_graph_data_has_every_node_and_input(resnet50, resnet50_page) -> None:
    data = islands(parse(resnet50_page))["cnncost-graph"]
    names = [x[0] for x in data["layers"]]
    assert names == [x.name for x in resnet50.layers]
    for (name, op, _, shape, inputs, macs, params, act), x in zip(data["layers"],
                                                                  resnet50.layers):
        assert (op, [names[i] for i in inputs], macs, params, act) == (
            x.op, list(x.inputs), x.macs, x.params_total, x.activation_bytes)
        assert shape == "×".join(map(str, x.out_shape))
    assert [b[0:2] + b[3:] for b in data["blocks"]] == [
        [b.name, b.layers, b.macs, b.params_total, b.activation_bytes] for b in resnet50.blocks]
    assert data["depth"] == 2 and data["direction"] == "TB"


def test_report_chart_data_equals_the_report(resnet50, resnet50_page) -> None:
    charts = islands(parse(resnet50_page))["cnncost-charts"]
    depth = chart_depth(resnet50)
    assert charts["blocks"]["depth"] == depth
    assert charts["blocks"]["units"] == [
        {"name": u.name, "kind": u.kind, "macs": u.macs, "params_total": u.params_total,
         "activation_bytes": u.activation_bytes} for u in units_at(resnet50, depth)]
    timeline = live_memory_timeline(resnet50)
    memory = charts["memory"]
    assert memory["steps"] == [x.name for x in resnet50.layers]
    assert memory["live_bytes"] == list(timeline.live_bytes)
    assert memory["peak_bytes"] == resnet50.totals.peak_activation_bytes == max(
        memory["live_bytes"])


def _bar_width(group: Element) -> float:
    """The width of a horizontal bar: matplotlib writes it as a closed path of four corners."""
    d = group.find("path").attrs["d"]
    xs = [float(x) for x in re.findall(r"(-?[\d.]+) -?[\d.]+", d)]
    return max(xs) - min(xs)


def test_block_chart_bars_are_as_long_as_the_report_says(resnet50, resnet50_page) -> None:
    page = parse(resnet50_page)
    figure = page.by_id("chart-blocks")
    for metric, total in (("macs", resnet50.totals.macs),
                          ("params_total", resnet50.totals.params_total),
                          ("activation_bytes", resnet50.totals.activation_bytes)):
        widths = {}
        for unit in units_at(resnet50, chart_depth(resnet50)):
            widths[unit.name] = (_bar_width(figure.find("g", id=f"blocks-{metric}:{unit.name}")),
                                 getattr(unit, metric))
        assert widths["layer3"][0] > 50  # points: a bar a person sees
        scale = widths["layer3"][0] / widths["layer3"][1]
        for name, (width, value) in widths.items():
            assert width == pytest.approx(value * scale, abs=0.02), (metric, name)
    assert "1.46 G" in figure.text  # layer3's MACs, written at its bar


def test_memory_chart_marks_the_peak(resnet50, resnet50_page) -> None:
    figure = parse(resnet50_page).by_id("chart-memory")
    timeline = live_memory_timeline(resnet50)
    assert figure.find("g", id="memory-peak") is not None
    assert figure.find("g", id="memory-live-memory") is not None
    label = f"peak {format_bytes(timeline.peak_bytes)} at {timeline.peak_node}"
    assert label == "peak 9.19 MiB at layer1.0.downsample.1"
    assert label in figure.text
    assert f"({timeline.peak_bytes:,} B)" in figure.find("figcaption").text


def test_first_view_closes_blocks_below_the_depth(resnet50) -> None:
    page = parse(report_page(resnet50, depth=1))
    rows = {tr.attrs["data-name"]: tr for tr in page.by_id("layer-table").iter("tr")
            if "data-name" in tr.attrs}
    assert rows["layer1"].attrs["data-collapsed"] == "1" and "hidden" not in rows["layer1"].attrs
    assert rows["layer1"].find("button").attrs["aria-expanded"] == "false"
    hidden = {name for name, tr in rows.items() if "hidden" in tr.attrs}
    assert hidden == {x.name for x in report_rows(resnet50) if "." in x.name}
    assert islands(page)["cnncost-graph"]["depth"] == 1


def test_report_page_is_self_contained(resnet50_page) -> None:
    assert_self_contained(resnet50_page)
    assert "Copyright (c) 2012-2014 Chris Pettitt" in resnet50_page  # dagre's MIT notice
    scripts = [s.attrs.get("data-asset") for s in parse(resnet50_page).iter("script")]
    assert [s for s in scripts if s] == ["dagre.min.js", "table.js", "graph.js"]


def test_every_page_is_self_contained(resnet50) -> None:
    other = api.analyze(SPECS / "resnet.yaml", variant="keras_resnet50")
    assert_self_contained(diff_page(diff_reports(resnet50, other)))
    assert_self_contained(zoo_page(zoo_rows([SPECS / "vgg.yaml"]), convention="torchvision",
                                   dtype="float32", batch=1))


def test_diff_page_shows_both_sides_and_marks_differences(resnet50) -> None:
    other = api.analyze(SPECS / "resnet.yaml", variant="keras_resnet50")
    diff = diff_reports(resnet50, other)
    page = parse(diff_page(diff))
    rows = {tr.attrs["data-name"]: tr for tr in page.by_id("diff-table").iter("tr")
            if "data-name" in tr.attrs}
    assert list(rows) == [r.name for r in diff.rows]
    for row in diff.rows:
        tr = rows[row.name]
        assert tr.has_class(row.status)
        cells = list(tr.iter("td"))[1:]
        for i, attr in enumerate(("params", "macs", "flops", "activation_bytes")):
            change = getattr(row, attr)
            j = 3 * i + (1 if i > 1 else 0)  # MACs has a ratio column after its delta
            a, b, delta = cells[j:j + 3]
            assert a.attrs.get("data-v") == (None if change.a is None else str(change.a))
            assert b.attrs.get("data-v") == (None if change.b is None else str(change.b))
            assert int(delta.attrs["data-v"]) == change.delta
            assert delta.has_class("changed") == bool(change.delta)
    assert rows["conv1_pad"].has_class("added")  # Keras pads in a layer of its own
    assert rows["conv1"].find("td", class_="num changed").text == "+64"  # Keras' conv bias
    totals = {tr.attrs["data-metric"]: tr for tr in page.find("table", class_="totals").iter("tr")
              if "data-metric" in tr.attrs}
    assert [td.text for td in totals["macs"].iter("td")][1:4] == [
        f"{resnet50.totals.macs:,}", f"{other.totals.macs:,}",
        f"{other.totals.macs - resnet50.totals.macs:+,}"]


def test_diff_page_opens_only_blocks_with_a_difference() -> None:
    path = SPECS / "examples" / "inception_5x5_bottleneck.yaml"
    a = api.analyze(path, variant="naive")
    diff = diff_reports(a, a)  # nothing differs: every block starts closed, its rows hidden
    page = parse(diff_page(diff))
    rows = [tr for tr in page.by_id("diff-table").iter("tr") if "data-name" in tr.attrs]
    assert all(("hidden" in tr.attrs) == bool(tr.attrs["data-parent"]) for tr in rows)
    assert not list(page.iter("td", class_="num changed"))


def test_zoo_page_rows_equal_the_table(tmp_path) -> None:
    rows = zoo_rows([SPECS / "resnet.yaml", SPECS / "lenet5.yaml"], convention="torchvision")
    page = parse(zoo_page(rows, convention="torchvision", dtype="float32", batch=1))
    trs = list(page.by_id("zoo-table").find("tbody").iter("tr"))
    assert [tr.attrs["data-name"] for tr in trs] == [r.label for r in rows]
    for tr, row in zip(trs, rows):
        v = [td.attrs.get("data-v") for td in tr.iter("td")]
        assert v[2] == str(row.weight_bytes) and v[4] == str(row.params_total)
        assert v[8] == str(row.macs) and v[11] == str(row.peak_activation_bytes)
        assert v[12] == (None if row.top1 is None else str(row.top1))
    data = islands(page)["cnncost-zoo"]
    assert [r["macs"] for r in data["rows"]] == [r.macs for r in rows]
    # resnet50: 25,557,032 trainable parameters (torchvision num_params), 4.09 G MACs
    r50 = page.find("tr", data_name="resnet@resnet50")
    assert [td.text for td in r50.iter("td")][5] == "25,557,032"
    assert page.by_id("chart-zoo") is not None  # resnet documents top-1 accuracies


def test_a_training_page_draws_the_eager_step() -> None:
    from cnncost.memory.models import MemoryConfig
    from cnncost.render.timeline import eager_memory_timeline

    report = api.analyze(SPECS / "resnet.yaml", variant="resnet18", batch=8)
    memory = api.memory(SPECS / "resnet.yaml", MemoryConfig(mode="training", batch=8,
                        optimizer="adam"), variant="resnet18")
    training = api.training(SPECS / "resnet.yaml", variant="resnet18", batch=8)
    page = parse(report_page(report, memory=memory, training=training))
    data = islands(page)["cnncost-charts"]["memory"]
    timeline = eager_memory_timeline(memory)
    assert data["live_bytes"] == list(timeline.live_bytes)
    assert data["peak_bytes"] == memory.peak_bytes == max(data["live_bytes"])
    cards = {c.attrs["data-metric"]: c for c in page.iter("div") if "data-metric" in c.attrs}
    assert f"{memory.peak_bytes:,} B" in cards["memory_peak"].text
    assert f"{memory.optimizer_bytes:,} B" in cards["memory_optimizer"].text
    assert f"{training.flops:,}" in cards["training_flops"].text
    figure = page.by_id("chart-memory")
    assert figure.find("g", id="memory-held") is not None
    assert any("training step" in h.text for h in page.iter("h2"))
    assert f"({memory.peak_bytes:,} B)" in figure.find("figcaption").text
