"""``report/diff/table --format html``, ``draw`` and ``plot`` from the command line; what they
import; what they say when a library or Graphviz's ``dot`` is missing."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from xml.etree import ElementTree

import pytest
from runcli import cli

from cnncost.report.table import format_count

from .conftest import ROOT

R50 = "specs/resnet.yaml@resnet50"
HAS_DOT = __import__("shutil").which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed "
                               "(apt-get install graphviz; .ci/run installs it)")


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_terminal_report_loads_no_picture_library() -> None:
    code = textwrap.dedent(f"""
        import sys
        from cnncost.cli import main
        try:
            main(["report", {R50!r}])
        except SystemExit as exit:
            assert exit.code in (0, None)
        heavy = ("matplotlib", "jinja2", "graphviz", "adjustText", "cnncost.render.charts",
                 "cnncost.render.html")
        print("LOADED", sorted(m for m in heavy if m in sys.modules), file=sys.stderr)
        """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOADED []" in done.stderr


def test_report_diff_table_write_html(capsys, tmp_path) -> None:
    for args in (["report", R50], ["diff", R50, "specs/resnet.yaml@keras_resnet50"],
                 ["table", "specs/lenet5.yaml", "specs/vgg.yaml"]):
        out = tmp_path / f"{args[0]}.html"
        code, _, err = cli(capsys, *args, "--format", "html", "-o", out)
        assert code == 0 and f"wrote {out}" in err
        text = out.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert 'id="layer-table"' in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="diff-table"' in (tmp_path / "diff.html").read_text(encoding="utf-8")
    assert "vgg@vgg16" in (tmp_path / "table.html").read_text(encoding="utf-8")


def test_report_html_depth_is_the_first_view(capsys) -> None:
    code, out, _ = cli(capsys, "report", R50, "--format", "html", "--depth", "1")
    assert code == 0 and '"depth":1' in out
    assert cli(capsys, "report", R50, "--format", "html", "--depth", "0")[0] == 2


def test_draw_dot_on_standard_output_needs_no_program(capsys, monkeypatch, resnet50) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)  # as if Graphviz were not installed
    code, out, _ = cli(capsys, "draw", R50, "--depth", "1")
    assert code == 0 and out.startswith("digraph resnet {")
    for name in ("input", "conv1", "layer1", "layer4", "fc"):
        assert re.search(rf"^\s*{name} \[label=<<b>{name}</b>", out, re.MULTILINE), name
    assert "layer3 -> layer4" in out and "cluster" not in out
    code, out, _ = cli(capsys, "draw", R50, "--depth", "2", "--costs", "--direction", "LR")
    assert "subgraph cluster_layer1 {" in out and "rankdir=LR" in out
    block = resnet50.block("layer3.1")
    assert f"MACs {format_count(block.macs)} · params {format_count(block.params_total)}" in out
    assert "MACs 218 M · params 1.12 M" in out


def test_draw_without_dot_says_how_to_install_it(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, _, err = cli(capsys, "draw", R50, "-o", tmp_path / "net.svg")
    assert code == 2
    assert "needs Graphviz's dot program" in err and "apt-get install graphviz" in err
    assert "--format dot" in err and "--format html" in err
    assert not (tmp_path / "net.svg").exists()


@needs_dot
def test_draw_svg_has_every_node_and_edge(capsys, tmp_path, resnet50) -> None:
    out = tmp_path / "net.svg"
    assert cli(capsys, "draw", R50, "--depth", "2", "-o", out)[0] == 0
    svg = ElementTree.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = {g.get("class"): [] for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    for g in svg.iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("s:title", ns)
        if title is not None:
            groups[g.get("class")].append(title.text)
    from cnncost.render.structure import drawing_of

    drawing = drawing_of(resnet50, 2)
    assert sorted(groups["node"]) == sorted(n.name for n in drawing.nodes)
    assert sorted(groups["cluster"]) == sorted(f"cluster_{c.name}" for c in drawing.clusters)
    assert sorted(groups["edge"]) == sorted(f"{a}->{b}" for a, b in drawing.edges)
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "conv2d · 64×112×112" in texts and "10 layers → 1024×14×14" in texts


@needs_dot
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_draw_png_and_pdf(capsys, tmp_path, suffix, magic) -> None:
    out = tmp_path / f"net{suffix}"
    assert cli(capsys, "draw", "specs/lenet5.yaml", "-o", out)[0] == 0
    assert out.read_bytes().startswith(magic)


def test_draw_and_plot_refuse_what_they_cannot_write(capsys, tmp_path) -> None:
    code, _, err = cli(capsys, "draw", R50, "-o", tmp_path / "net.jpg")
    assert code == 2 and "cannot tell the format from the suffix of 'net.jpg'" in err
    code, _, err = cli(capsys, "draw", R50, "--format", "png")
    assert code == 2 and "name the file with -o" in err
    code, _, err = cli(capsys, "draw", R50, "--direction", "BT", "--format", "dot")
    assert code == 2 and "unknown direction" in err
    code, _, err = cli(capsys, "plot", "specs/", "--kind", "pie", "-o", tmp_path / "x.png")
    assert code == 2 and "unknown plot kind 'pie'" in err
    code, _, err = cli(capsys, "plot", "specs/mobilenet_v1.yaml", "--kind", "variants", "-o",
                       tmp_path / "v.png")
    # only mobilenet_1.0_224 documents a top-1 accuracy
    assert code == 2 and "top1 (1)" in err and "resolution (16)" in err
    code, _, err = cli(capsys, "plot", R50, "specs/vgg.yaml", "--kind", "layers", "-o",
                       tmp_path / "l.png")
    assert code == 2 and "draws one spec; got 2" in err


def test_plot_zoo_layers_and_variants(capsys, tmp_path) -> None:
    runs = {
        "zoo.png": ["plot", "specs/vgg.yaml", "specs/resnet.yaml", "--convention",
                    "torchvision"],
        "layers.svg": ["plot", R50, "--kind", "layers"],
        "variants.pdf": ["plot", "specs/mobilenet_v1.yaml", "--kind", "variants", "--x",
                         "resolution", "--y", "macs", "--group", "alpha"],
    }
    for name, args in runs.items():
        out = tmp_path / name
        code, _, err = cli(capsys, *args, "-o", out)
        assert code == 0, err
    assert (tmp_path / "zoo.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "variants.pdf").read_bytes().startswith(b"%PDF")
    svg = (tmp_path / "layers.svg").read_text(encoding="utf-8")
    assert svg.count('id="macs:') == 176 and 'id="activation_bytes:fc"' in svg


def test_plot_reads_the_tables_json(capsys, tmp_path) -> None:
    table = tmp_path / "vgg.json"
    assert cli(capsys, "table", "specs/vgg.yaml", "--format", "json", "-o", table)[0] == 0
    out = tmp_path / "zoo.svg"
    assert cli(capsys, "plot", table, "-o", out)[0] == 0
    svg = out.read_text(encoding="utf-8")
    assert 'id="model:vgg"' in svg and "vgg16_bn_torchvision" in svg
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a table"}', encoding="utf-8")
    code, _, err = cli(capsys, "plot", bad, "-o", out)
    assert code == 4 and "is not the JSON of cnncost table" in err


def test_a_missing_library_is_a_message(capsys, monkeypatch, tmp_path) -> None:
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
        code, _, err = cli(capsys, "plot", R50, "--kind", "layers", "-o", tmp_path / "l.png")
        assert code == 2 and "plots need matplotlib" in err and '.[pictures]' in err
        assert not (tmp_path / "l.png").exists()
    monkeypatch.setitem(sys.modules, "jinja2", None)
    code, _, err = cli(capsys, "report", R50, "--format", "html")
    assert code == 2 and "HTML output needs jinja2" in err
