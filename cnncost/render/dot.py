"""The architecture drawn by Graphviz: a ``Drawing`` as DOT, and DOT laid out as SVG, PNG or PDF.

Must not import torch. The ``graphviz`` package (imported here only, when a drawing is made)
writes the DOT text, blocks as nested clusters; laying it out and rendering it takes Graphviz's
``dot`` program, which ``--format dot`` does not need.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from cnncost.errors import FileAccessError, UsageError
from cnncost.render.needs import need_dot, need_graphviz
from cnncost.render.structure import FAMILY_COLOURS, Drawing, Node
from cnncost.report.table import format_bytes, format_count, format_shape

if TYPE_CHECKING:
    import graphviz

#: Output formats of ``cnncost draw``; all but ``dot`` need the ``dot`` program.
DRAW_FORMATS = ("svg", "png", "pdf", "dot")
DIRECTIONS = ("TB", "LR")
_CLUSTER_FILLS = ("#f8fafc", "#eef2f7")  # alternate by nesting level, so nested boxes read


def _label(node: Node, costs: bool) -> str:
    """An HTML-like Graphviz label: the name in bold, then op and shape (a block: its size)."""
    what = (f"{node.op} · {format_shape(node.out_shape)}" if node.kind == "layer"
            else f"{node.layers} layers → {format_shape(node.out_shape)}")
    lines = [f"<b>{escape(node.label)}</b>", f'<font point-size="9">{escape(what)}</font>']
    if costs:
        lines.append(f'<font point-size="9">MACs {format_count(node.macs)} · params '
                     f"{format_count(node.params_total)} · act "
                     f"{format_bytes(node.activation_bytes)}</font>")
    return "<" + "<br/>".join(lines) + ">"


def to_graphviz(drawing: Drawing, *, direction: str = "TB", costs: bool = False) -> graphviz.Digraph:
    """The drawing as a ``graphviz.Digraph``: one node per ``Node`` (its dotted name as id),
    every cluster a ``subgraph cluster_<name>``.

    Raises:
        UsageError: ``direction`` is not TB or LR.
        MissingDependency: the graphviz package is not installed.
    """
    if direction not in DIRECTIONS:
        raise UsageError(f"unknown direction {direction!r}; choose from TB, LR")
    gv = need_graphviz()
    title = drawing.model + (f" — {drawing.title}" if drawing.title else "")
    root = gv.Digraph(name=drawing.model, graph_attr={
        "rankdir": direction, "label": title, "labelloc": "t", "fontname": "Helvetica",
        "fontsize": "14", "nodesep": "0.25", "ranksep": "0.35"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                   "fontsize": "10", "margin": "0.08,0.04", "penwidth": "0.8"},
        edge_attr={"arrowsize": "0.6", "penwidth": "0.8", "color": "#4b5563"})
    children: dict[str, list[str]] = {}
    for cluster in drawing.clusters:
        children.setdefault(cluster.parent, []).append(cluster.name)
    members: dict[str, list[Node]] = {}
    for node in drawing.nodes:
        members.setdefault(node.cluster, []).append(node)
    clusters = {c.name: c for c in drawing.clusters}

    def fill(graph: graphviz.Digraph, scope: str, level: int) -> None:
        for node in members.get(scope, ()):
            block = node.kind == "block"
            graph.node(node.name, label=_label(node, costs), tooltip=node.name,
                       fillcolor=FAMILY_COLOURS.get(node.family, FAMILY_COLOURS["other"]),
                       peripheries="2" if block else "1")
        for name in children.get(scope, ()):
            cluster = clusters[name]
            with graph.subgraph(name=f"cluster_{name}") as sub:
                sub.attr(label=f"{cluster.label} ({cluster.layers} layers)", labeljust="l",
                         style="rounded,filled", fillcolor=_CLUSTER_FILLS[level % 2],
                         color="#94a3b8", fontname="Helvetica", fontsize="10", tooltip=name)
                fill(sub, name, level + 1)

    fill(root, "", 0)
    for source, target in drawing.edges:
        root.edge(source, target)
    return root


def write_drawing(drawing: Drawing, output: Path, *, fmt: str, direction: str = "TB",
                  costs: bool = False) -> None:
    """Write the drawing to ``output`` as ``fmt`` (svg, png, pdf or dot).

    Raises:
        UsageError: unknown format or direction.
        MissingDependency: the graphviz package, or for svg/png/pdf the ``dot`` program, is missing.
        FileAccessError: ``output`` cannot be written.
    """
    if fmt not in DRAW_FORMATS:
        raise UsageError(f"unknown drawing format {fmt!r}; choose from {', '.join(DRAW_FORMATS)}")
    graph = to_graphviz(drawing, direction=direction, costs=costs)
    if fmt == "dot":
        data = graph.source.encode("utf-8")
    else:
        need_dot(fmt)
        data = graph.pipe(format=fmt)
    try:
        output.write_bytes(data)
    except OSError as err:
        raise FileAccessError(f"cannot write {output}: {err.strerror or err}") from None
