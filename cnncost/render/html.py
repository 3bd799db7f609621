"""Self-contained HTML pages of a report, a diff and the zoo table. Must not import torch.

Each page is one file: the jinja2 template's HTML, the CSS, the vendored dagre and cnncost's own
scripts inlined, the charts inline as SVG, the data the scripts draw as JSON islands. Nothing is
fetched, so a page opens offline from disk. Every number is written from the report objects (the
table's exact integers, ``report.table``'s human formats); the scripts only lay out, hide and sort.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from cnncost import __version__
from cnncost.cost.result import CostReport
from cnncost.render import breakdown, charts
from cnncost.render.needs import need_jinja2
from cnncost.render.structure import FAMILY_COLOURS, block_shapes, family_of
from cnncost.render.timeline import eager_memory_timeline, live_memory_timeline
from cnncost.report.diff import DiffReport
from cnncost.report.table import (
    enclosing_blocks,
    format_bytes,
    format_count,
    format_shape,
    format_share,
    report_heading,
    report_rows,
    total_lines,
)
from cnncost.report.zoo import ZooRow

if TYPE_CHECKING:
    from cnncost.cost.training import TrainingCost
    from cnncost.memory.report import MemoryReport


def asset(name: str) -> str:
    """The text of ``cnncost/render/static/<name>``."""
    return (resources.files("cnncost.render") / "static" / name).read_text(encoding="utf-8")


def json_island(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` element (``</`` cannot close it)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def inline_svg(svg: str, prefix: str) -> str:
    """A matplotlib SVG made safe to sit beside others in one page: its ids (and the references
    to them) get ``prefix``, and the metadata block goes (it names outside vocabularies)."""
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)


def _environment() -> Any:
    jinja2 = need_jinja2()
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cnncost.render", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _page(template: str, scripts: Sequence[str], **context: Any) -> str:
    need_jinja2()
    from markupsafe import Markup  # jinja2's own dependency

    code = []
    for name in scripts:
        text = asset(name)
        if name == "dagre.min.js":  # the MIT notice travels with the code
            text = asset("dagre.min.js.LEGAL.txt") + "\n" + text
        code.append((name, Markup(text.replace("</script", "<\\/script"))))
    context = {k: Markup(v) if k.endswith(("_json", "_chart")) or k == "chart" else v
               for k, v in context.items()}
    return _environment().get_template(template).render(
        version=__version__, css=Markup(asset("report.css")), scripts=code, **context)


# --------------------------------------------------------------------------- the report page


@dataclass(frozen=True)
class TableRow:
    """One row of the page's layer table, with what the scripts need to open and close it."""

    name: str
    label: str
    kind: str
    parent: str
    indent: int
    op: str
    shape: str
    params_total: int
    params_non_trainable: int
    macs: int
    flops: int
    activation_bytes: int
    share: str
    location: str
    collapsed: bool  # a block closed at the page's first view
    hidden: bool  # under a closed block at the first view


def table_rows(report: CostReport, depth: int | None) -> list[TableRow]:
    """Every block and layer (``report_rows`` at full depth); those deeper than ``depth`` closed."""
    blocks = {b.name for b in report.blocks}
    locations = {x.name: str(x.location) if x.location else "" for x in report.layers}
    out = []
    for row in report_rows(report):
        around = enclosing_blocks(row.name, blocks)
        closed = [b for b in around if depth is not None and b.count(".") + 1 >= depth]
        out.append(TableRow(
            name=row.name, label=row.label, kind=row.kind, parent=around[-1] if around else "",
            indent=row.indent, op=row.op, shape=format_shape(row.out_shape),
            params_total=row.params_total, params_non_trainable=row.params_non_trainable,
            macs=row.macs, flops=row.flops, activation_bytes=row.activation_bytes,
            share=format_share(row.macs, report.totals.macs),
            location=locations.get(row.name, ""),
            collapsed=row.kind == "block" and depth is not None
            and row.name.count(".") + 1 >= depth,
            hidden=bool(closed)))
    return out


def graph_data(report: CostReport, depth: int | None, direction: str) -> dict[str, Any]:
    """What the page's graph script draws: layers (with the indices of their inputs) and blocks."""
    index = {x.name: i for i, x in enumerate(report.layers)}
    shapes = block_shapes(report)
    return {
        "direction": direction,
        "depth": depth,
        "layers": [[x.name, x.op, family_of(x.op), format_shape(x.out_shape),
                    [index[i] for i in x.inputs], x.macs, x.params_total, x.activation_bytes]
                   for x in report.layers],
        "blocks": [[b.name, b.layers, format_shape(shapes[b.name]), b.macs, b.params_total,
                    b.activation_bytes] for b in report.blocks],
    }


def _cards(report: CostReport) -> list[dict[str, str]]:
    t = report.totals
    conv = report.convention.name
    cards = [("params_total", "parameters", t.params_total, False),
             ("macs", f"MACs ({conv})", t.macs, False), ("flops", f"FLOPs ({conv})", t.flops, False),
             ("weight_bytes", f"weights ({report.dtype})", t.weight_bytes, True),
             ("activation_bytes", "activations", t.activation_bytes, True),
             ("peak_activation_bytes", "peak live activations", t.peak_activation_bytes, True)]
    out = [{"metric": m, "label": label, "human": format_bytes(v) if b else format_count(v),
            "exact": f"{v:,}" + (" B" if b else "")} for m, label, v, b in cards]
    out.append({"metric": "depth", "label": "depth / weighted", "human":
                f"{t.depth} / {t.weighted_depth}", "exact": f"{t.layers:,} layers"})
    return out


def _memory_cards(memory: MemoryReport | None,
                  training: TrainingCost | None) -> list[dict[str, str]]:
    """The cards of a memory analysis and of a training step's FLOPs."""
    out: list[dict[str, str]] = []
    if memory is not None:
        what = "training step" if memory.mode == "training" else "inference"
        out.append({"metric": "memory_peak", "label": f"peak memory, {what} ({memory.model})",
                    "human": format_bytes(memory.peak_bytes),
                    "exact": f"{memory.peak_bytes:,} B"})
        if memory.mode == "training":
            for metric, label, value in (
                    ("memory_gradients", "gradients", memory.gradients_bytes),
                    ("memory_optimizer", f"optimizer state ({memory.optimizer})",
                     memory.optimizer_bytes),
                    ("memory_saved", "saved for the backward", memory.saved_bytes)):
                out.append({"metric": metric, "label": label, "human": format_bytes(value),
                            "exact": f"{value:,} B"})
    if training is not None:
        flops = training.flops
        out.append({"metric": "training_flops", "label": "FLOPs, training step",
                    "human": format_count(flops), "exact": f"{flops:,}"})
    return out


def report_page(report: CostReport, *, depth: int | None = None, direction: str = "TB",
                memory: MemoryReport | None = None,
                training: TrainingCost | None = None) -> str:
    """The HTML report of ``report``; blocks deeper than ``depth`` start closed (``None``: as
    many levels open as keep the graph to 150 nodes).

    With an eager ``memory`` analysis the memory chart is its timeline (a training step's, in
    training) and its figures join the cards; without one, the liveness timeline of the cost
    report. ``training`` adds the training step's FLOPs.

    Raises:
        MissingDependency: jinja2 or matplotlib is not installed.
        UsageError: ``depth`` is below 1.
    """
    first = breakdown.drawing_depth(report) if depth is None else depth
    if first < 1:
        from cnncost.errors import UsageError

        raise UsageError(f"--depth must be at least 1, got {first}")
    chart_depth = breakdown.chart_depth(report)
    units = breakdown.units_at(report, chart_depth)
    eager = memory is not None and memory.model == "eager" and bool(memory.timeline)
    timeline = eager_memory_timeline(memory) if eager and memory else live_memory_timeline(report)
    heading, subheading = report_heading(report)
    charts_data = {
        "blocks": {"depth": chart_depth, "units": [
            {"name": u.name, "kind": u.kind, "macs": u.macs, "params_total": u.params_total,
             "activation_bytes": u.activation_bytes} for u in units]},
        "memory": {"model": timeline.model, "steps": list(timeline.steps),
                   "live_bytes": list(timeline.live_bytes), "peak_bytes": timeline.peak_bytes,
                   "peak_step": timeline.peak_step},
    }
    return _page(
        "report.html.j2", ("dagre.min.js", "table.js", "graph.js"),
        heading=heading, subheading=subheading,
        cards=_cards(report) + _memory_cards(memory, training),
        memory_title=("Device memory across a training step" if eager and memory
                      and memory.mode == "training" else "Device memory across the forward pass"
                      if eager else "Live memory across the forward pass"),
        memory_what=("Device memory (parameters, buffers and the input batch included) at each "
                     "layer of each phase, the highest total while it ran" if eager else
                     "Activation bytes live while each layer runs"),
        depths=list(range(1, breakdown.max_depth(report))),
        families=[(k, v) for k, v in FAMILY_COLOURS.items() if k not in ("block", "other")],
        all_families=list(FAMILY_COLOURS.items()),
        graph_json=json_island(graph_data(report, first, direction)),
        block_chart=inline_svg(charts.svg_text(charts.block_chart(units, report)), "blocks"),
        memory_chart=inline_svg(charts.svg_text(charts.memory_chart(timeline, report)),
                                "memory"),
        charts_json=json_island(charts_data), chart_depth=chart_depth,
        convention=report.convention, batch=report.batch, dtype=report.dtype,
        peak_human=format_bytes(timeline.peak_bytes), peak_exact=f"{timeline.peak_bytes:,}",
        peak_node=timeline.peak_node, memory_model=timeline.model,
        rows=table_rows(report, first), totals=total_lines(report), uncounted=report.uncounted)


# --------------------------------------------------------------------------- the diff page

#: The totals of a diff page: (DiffTotals field, label, is a byte count).
DIFF_TOTALS = (("params", "params, total", False), ("params_trainable", "params, trainable", False),
               ("weight_bytes", "weight memory", True), ("macs", "MACs", False),
               ("flops", "FLOPs", False), ("activation_bytes", "activation memory", True),
               ("peak_activation_bytes", "peak activation memory", True),
               ("depth", "depth", False), ("weighted_depth", "weighted depth", False),
               ("layers", "layers", False))
#: The row metrics of a diff page: (DiffRow field, column title).
DIFF_METRICS = (("params", "params"), ("macs", "MACs"), ("flops", "FLOPs"),
                ("activation_bytes", "activation (B)"))


def _exact(value: int | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+,}" if signed and value else f"{value:,}"


def _diff_rows(diff: DiffReport, depth: int | None) -> list[dict[str, Any]]:
    from cnncost.report.table import format_ratio

    parents = {row.parent for row in diff.rows}
    changed_blocks = set()
    for row in diff.rows:  # a block with a difference anywhere inside stays open
        if row.status != "common" or any(getattr(row, m).delta for m, _ in DIFF_METRICS):
            parent = row.parent
            while parent:
                changed_blocks.add(parent)
                parent = next(r.parent for r in diff.rows if r.name == parent)
    closed: set[str] = set()
    out = []
    for row in diff.rows:
        block = row.name in parents
        collapsed = block and (row.name.count(".") + 1 >= depth if depth is not None
                               else row.name not in changed_blocks)
        hidden = row.parent in closed
        if collapsed or hidden:
            closed.add(row.name)
        cells = []
        for attr, _ in DIFF_METRICS:
            c = getattr(row, attr)
            cells += [{"v": c.a, "text": _exact(c.a), "changed": False},
                      {"v": c.b, "text": _exact(c.b), "changed": False},
                      {"v": c.delta, "text": _exact(c.delta, True), "changed": bool(c.delta)}]
            if attr == "macs":
                cells.append({"v": c.ratio, "text": format_ratio(c.ratio), "changed": False})
        out.append({"name": row.name, "label": row.name[len(row.parent) + 1:] if row.parent
                    else row.name, "parent": row.parent, "level": row.level,
                    "kind": "block" if block else "layer", "status": row.status,
                    "collapsed": collapsed, "hidden": hidden, "cells": cells})
    return out


def diff_page(diff: DiffReport, *, depth: int | None = None) -> str:
    """The HTML page of a diff: totals, a side-by-side chart, the aligned rows (collapsible).

    Blocks deeper than ``depth`` start closed; without ``depth``, the blocks with no difference.

    Raises:
        MissingDependency: jinja2 or matplotlib is not installed.
        UsageError: ``depth`` is below 1.
    """
    from cnncost.report.table import check_depth, format_ratio

    check_depth(depth)
    totals = []
    for attr, label, is_bytes in DIFF_TOTALS:
        c = getattr(diff.totals, attr)
        unit = " B" if is_bytes else ""
        totals.append({"metric": attr, "label": label, "a": c.a, "b": c.b, "delta": c.delta,
                       "a_text": _exact(c.a) + unit, "b_text": _exact(c.b) + unit,
                       "delta_text": _exact(c.delta, True) + unit, "ratio": format_ratio(c.ratio)})

    def side(s: Any) -> str:
        return f"{s.convention} · batch {s.batch} · {s.dtype}"

    top = [row for row in diff.rows if row.level == 1]
    chart = inline_svg(charts.svg_text(charts.diff_chart(diff, top)), "diff") if top else ""
    return _page("diff.html.j2", ("table.js",), a=diff.a, b=diff.b, side_a=side(diff.a),
                 side_b=side(diff.b), notes=diff.notes, totals=totals, chart=chart,
                 metrics=[title for _, title in DIFF_METRICS], rows=_diff_rows(diff, depth))


# --------------------------------------------------------------------------- the zoo page


def _zoo_cells(row: ZooRow) -> list[dict[str, Any]]:
    def num(v: float | None, text: str | None = None) -> dict[str, Any]:
        return {"v": v, "text": "" if v is None else text if text is not None else f"{v:,}"}

    size = row.documented_size_mb
    return [{"v": None, "text": row.label}, {"v": None, "text": format_shape(row.input_shape)},
            num(row.weight_bytes), num(size, f"{size:g} MB" if size is not None else ""),
            num(row.params_total), num(row.params_trainable), num(row.depth),
            num(row.weighted_depth), num(row.macs), num(row.flops), num(row.activation_bytes),
            num(row.peak_activation_bytes),
            num(row.top1, f"{row.top1:.3f}" if row.top1 is not None else ""),
            num(row.top5, f"{row.top5:.3f}" if row.top5 is not None else "")]


#: The zoo page's columns (``report.zoo.HEADER`` with the units of the exact figures).
ZOO_HEADER = ("model", "input", "weights (B)", "documented size", "parameters", "trainable",
              "depth", "weighted depth", "MACs", "FLOPs", "activations (B)", "peak (B)", "top-1",
              "top-5")


def zoo_page(rows: Sequence[ZooRow], *, convention: str, dtype: str, batch: int) -> str:
    """The zoo table as a sortable HTML page, with the accuracy-against-MACs chart when any row
    documents a top-1 accuracy.

    Raises:
        MissingDependency: jinja2 or matplotlib is not installed.
    """
    from cnncost.render import zoo

    chart = ""
    if zoo.zoo_points(rows):
        chart = inline_svg(charts.svg_text(zoo.zoo_chart(rows, convention=convention)), "zoo")
    caption = (f"convention {convention} · {dtype} · batch {batch} · weights = parameters × bytes "
               "per element; documented size = the Keras HDF5 file (seed 003), metadata")
    data = {"convention": convention, "dtype": dtype, "batch": batch, "rows": zoo.zoo_data(rows)}
    return _page("zoo.html.j2", ("table.js",), caption=caption,
                 summary=zoo.describe(rows) if rows else "no specs", chart=chart,
                 convention=convention, header=ZOO_HEADER,
                 rows=[{"label": r.label, "cells": _zoo_cells(r)} for r in rows],
                 zoo_json=json_island(data))
