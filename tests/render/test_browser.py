"""The HTML report in a real browser (headless Chromium): what its scripts draw and hide.

Optional: skipped when no Chromium is installed (``apt-get install chromium``; ``.ci/run``
installs it). Each test opens the page with a view in its address (``#depth=1&node=...``, which a
person can use too) and reads the document after the scripts ran (``--dump-dom``). The browser
resolves no host name (``--host-resolver-rules``), so nothing leaves this machine, and its network
log shows whether the page itself asked for anything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cnncost.render.html import report_page
from cnncost.render.structure import drawing_of

from .htmltree import Element, parse

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    BROWSER is None, reason="headless Chromium is not installed (apt-get install chromium); "
                            "these browser tests are optional")]

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--virtual-time-budget=15000")


def browse(page: Path, view: str = "", *extra: str) -> Element:
    """The document after the page's scripts ran, opened at ``page#view``."""
    done = subprocess.run([BROWSER, *FLAGS, *extra, "--dump-dom", f"{page.as_uri()}#{view}"],
                          capture_output=True, text=True, timeout=120, check=True)
    document = parse(done.stdout)
    assert document.find("body").attrs.get("data-ready") == "yes", done.stderr[-2000:]
    return document


@pytest.fixture(scope="module")
def resnet_file(resnet50, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "resnet50.html"
    path.write_text(report_page(resnet50), encoding="utf-8")
    return path


def graph_of(document: Element) -> tuple[list[str], set[tuple[str, str]], list[str]]:
    host = document.by_id("graph")
    nodes = [g.attrs["data-name"] for g in host.iter("g") if g.has_class("node")]
    edges = {(p.attrs["data-from"], p.attrs["data-to"]) for p in host.iter("path", class_="edge")}
    clusters = [g.attrs["data-name"] for g in host.iter("g") if g.has_class("cluster")]
    return nodes, edges, clusters


@pytest.mark.parametrize("depth", [1, 2, None], ids=["depth1", "depth2", "every-layer"])
def test_the_browser_draws_the_drawing(resnet50, resnet_file, depth) -> None:
    document = browse(resnet_file, f"depth={depth or 'all'}")
    nodes, edges, clusters = graph_of(document)
    drawing = drawing_of(resnet50, depth)
    assert nodes == [n.name for n in drawing.nodes]
    assert edges == set(drawing.edges)
    assert sorted(clusters) == sorted(c.name for c in drawing.clusters)
    labels = {g.attrs["data-name"]: [t.text for t in g.iter("text")]
              for g in document.by_id("graph").iter("g") if g.has_class("node")}
    for node in drawing.nodes:  # what each box says: its name in its block, op and shape
        assert labels[node.name][0] == node.label
    if depth == 1:
        assert labels["layer2"] == ["layer2", "42 layers → 512×28×28"]
        assert labels["conv1"] == ["conv1", "conv2d · 64×112×112"]


def test_inception_branches_side_by_side(inception_v1, tmp_path) -> None:
    page = tmp_path / "inception_v1.html"
    page.write_text(report_page(inception_v1, depth=2), encoding="utf-8")
    document = browse(page)
    nodes, _, _ = graph_of(document)
    assert nodes == [n.name for n in drawing_of(inception_v1, 2).nodes]
    boxes = {g.attrs["data-name"]: g.attrs["transform"] for g in document.by_id("graph").iter("g")
             if g.has_class("node")}
    branches = [f"inception_3a.{b}" for b in ("branch_1x1", "branch_3x3", "branch_5x5",
                                              "branch_pool")]
    tops = {float(boxes[b].split(",")[1].rstrip(")")) for b in branches}
    lefts = sorted(float(boxes[b].split("(")[1].split(",")[0]) for b in branches)
    assert len(tops) == 1  # one rank: side by side
    assert len(set(lefts)) == 4


def test_closing_a_block_hides_its_children(resnet50, resnet_file) -> None:
    document = browse(resnet_file, "depth=all&collapse=layer2")
    rows = {tr.attrs["data-name"]: tr for tr in document.by_id("layer-table").iter("tr")
            if "data-name" in tr.attrs}
    inside = [name for name in rows if name.startswith("layer2.")]
    # its 42 layers, its four bottlenecks and the first one's downsample block
    assert len(inside) == resnet50.block("layer2").layers + 4 + 1 == 47
    assert all("hidden" in rows[name].attrs for name in inside)
    assert "hidden" not in rows["layer2"].attrs and rows["layer2"].attrs["data-collapsed"] == "1"
    assert not any("hidden" in tr.attrs for name, tr in rows.items()
                   if not name.startswith("layer2."))
    nodes, edges, clusters = graph_of(document)
    assert "layer2" in nodes and not any(n.startswith("layer2.") for n in nodes)
    assert ("layer1.2.relu_out", "layer2") in edges and ("layer2", "layer3.0.conv1") in edges
    assert "layer2" not in clusters and "layer3" in clusters


def test_a_nodes_row_is_shown_beside_the_graph(resnet50, resnet_file) -> None:
    name = "layer3.1.conv2"
    document = browse(resnet_file, f"depth=1&node={name}")
    details = document.by_id("details")
    shown = dict(zip((dt.text for dt in details.iter("dt")), (dd.text for dd in details.iter("dd"))))
    layer = resnet50.layer(name)
    assert shown["name"] == name and shown["op"] == "conv2d"
    assert shown["MACs (cnncost)"] == f"{layer.macs:,}" == "115,605,504"  # 256·256·9·14·14
    assert shown["params"] == f"{layer.params_total:,}"
    assert shown["spec"] == str(layer.location)
    nodes, _, _ = graph_of(document)
    assert name in nodes  # its blocks were opened to show it
    row = document.find("tr", data_name=name)
    assert row.has_class("selected") and "hidden" not in row.attrs


def test_sorting_by_macs(resnet50, resnet_file) -> None:
    document = browse(resnet_file, "flat=1&sort=5:desc")
    shown = [tr for tr in document.by_id("layer-table").find("tbody").iter("tr")
             if "hidden" not in tr.attrs]
    assert len(shown) == len(resnet50.layers)  # layers only: no block rows
    macs = [int(list(tr.iter("td"))[5].attrs["data-v"]) for tr in shown]
    assert macs == sorted((x.macs for x in resnet50.layers), reverse=True)
    assert shown[0].attrs["data-name"] == max(resnet50.layers, key=lambda x: x.macs).name


def test_the_page_asks_for_nothing(resnet_file, tmp_path) -> None:
    log = tmp_path / "net.json"
    browse(resnet_file, "depth=all", f"--log-net-log={log}")
    events = json.loads(log.read_text(encoding="utf-8"))
    names = {v: k for k, v in events["constants"]["logEventTypes"].items()}
    started = [e["params"] for e in events["events"]
               if names[e["type"]] == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})]
    # the browser's own background requests have no origin; a page's would come from its own
    asked = [p["url"] for p in started if p.get("initiator") != "not an origin"]
    assert asked == []


#: Run after the page's own scripts: a person's pointer, as DOM events, and what it showed.
POINTER = """<script>
(() => {
  const out = {};
  const node = (name) => [...document.querySelectorAll("#graph g.node")]
    .find((g) => g.dataset.name === name);
  const say = (key) => { out[key] = {nodes: Number(document.getElementById("graph").dataset.nodes),
    tip: document.getElementById("tip").hidden ? null : document.getElementById("tip").innerText,
    details: document.getElementById("details").dataset.name || null}; };
  node("conv1").querySelector("rect").dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
  say("hover");
  node("layer2").querySelector("rect").dispatchEvent(new MouseEvent("click", {bubbles: true}));
  say("open");
  const title = [...document.querySelectorAll("#graph g.cluster")]
    .find((g) => g.dataset.name === "layer2").querySelector("text");
  title.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  say("close");
  document.body.dataset.pointer = JSON.stringify(out);
})();
</script>"""


def test_pointer_hovers_opens_and_closes(resnet50, tmp_path) -> None:
    page = tmp_path / "pointer.html"
    page.write_text(report_page(resnet50, depth=1).replace("</body>", POINTER + "</body>"),
                    encoding="utf-8")
    seen = json.loads(browse(page).find("body").attrs["data-pointer"])
    conv1 = resnet50.layer("conv1")
    assert seen["hover"]["nodes"] == 12  # depth 1: stem, four stages, head
    assert "conv1" in seen["hover"]["tip"] and f"{conv1.macs:,}" in seen["hover"]["tip"]
    assert seen["open"]["nodes"] == 12 - 1 + 4  # layer2 opened: its four bottlenecks
    assert seen["open"]["details"] == "layer2"
    assert seen["close"]["nodes"] == 12
