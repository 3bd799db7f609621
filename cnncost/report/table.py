"""Rich rendering of a CostReport, and the row model every format shares. Must not import torch.

The table has one row per block (from ``report.blocks``) and per leaf layer (``report.layers``),
in the order they first appear in ``report.layers``: a block's row comes just before its first
layer. A block at level L is indented L-1 steps and its layers one step more. ``depth`` collapses
every row deeper than ``depth`` dotted levels into its enclosing block's row; ``None`` shows every
leaf. Numbers stay ``int`` until the ``format_*`` helpers here turn them into text.
"""

from __future__ import annotations

import io
import math
from collections.abc import Container
from dataclasses import dataclass

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cnncost.cost.documented import DOCUMENTED_METRICS, documented_text, value_text
from cnncost.cost.result import CostReport, Totals
from cnncost.errors import UsageError

#: Decimal prefixes for counts (params, MACs, FLOPs) and binary ones for bytes.
_COUNT_UNITS = ("", "k", "M", "G", "T", "P", "E")
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")

# --------------------------------------------------------------------------- number formatting


def _scaled(n: int, base: int, units: tuple[str, ...]) -> tuple[str, str]:
    """``n`` (>= base) with three significant digits and its unit prefix.

    Integer arithmetic picks the unit, so a count past a float (10^320 MACs) still renders: from
    a thousand of the largest unit on it is written in scientific notation, ``1.00e320``, with an
    empty unit.
    """
    i = 0
    while n >= base ** (i + 1) and i < len(units) - 1:
        i += 1
    if n >= base ** (i + 1):  # a thousand of the largest unit, or more
        digits = str(n)
        return f"{digits[0]}.{digits[1:3]}e{len(digits) - 1}", ""
    value = n / base**i
    text = f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if float(text) >= base and i < len(units) - 1:  # 999.7 k rounds to 1000 k: go up a unit
        value /= base
        i += 1
        text = f"{value:.2f}"
    return text, units[i]


def format_count(n: int, *, exact: bool = False, signed: bool = False) -> str:
    """``1_504_954_368 -> '1.50 G'`` (``'1,504,954,368'`` exact); below 1000 always exact."""
    sign = ("+" if n > 0 else "-" if n < 0 else "") if signed else ("-" if n < 0 else "")
    m = abs(n)
    if exact or m < 1000:
        return f"{sign}{m:,}"
    text, unit = _scaled(m, 1000, _COUNT_UNITS)
    return f"{sign}{text} {unit}".rstrip()


def format_bytes(n: int, *, exact: bool = False, signed: bool = False) -> str:
    """``3_211_264 -> '3.06 MiB'`` (``'3,211,264 B'`` exact); below 1 KiB always exact."""
    sign = ("+" if n > 0 else "-" if n < 0 else "") if signed else ("-" if n < 0 else "")
    m = abs(n)
    if exact or m < 1024:
        return f"{sign}{m:,} B"
    text, unit = _scaled(m, 1024, _BYTE_UNITS)
    return f"{sign}{text} {unit or 'B'}"


def format_share(part: int, total: int) -> str:
    """Percentage of ``total`` with one decimal; a dash when the total is zero."""
    return f"{100 * part / total:.1f} %" if total else "–"  # int / int: exact at any size


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(64, 56, 56) -> '64×56×56'`` (per sample, batch excluded)."""
    if shape is None:
        return ""
    return "×".join(str(d) for d in shape) if shape else "scalar"


def format_ratio(ratio: float | None) -> str:
    """``b / a`` as ``'×0.103'``; a dash when undefined."""
    if ratio is None:
        return "–"
    if not math.isfinite(ratio):
        return "×∞" if ratio > 0 else "×-∞"
    return f"×{ratio:.3g}" if ratio < 1000 else f"×{ratio:,.0f}"


def report_heading(report: CostReport) -> tuple[str, str]:
    """Two lines naming what was analysed: model@variant and title; spec, overrides, settings."""
    first = report.model + (f" @ {report.variant}" if report.variant else "")
    if report.title:
        first += f" — {report.title}"
    bits = []
    if report.spec_file:
        bits.append(f"spec {report.spec_file}")
    if report.overrides:
        bits.append("overrides " + ", ".join(f"{k}={v}" for k, v in report.overrides.items()))
    bits.append(f"batch {report.batch}")
    bits.append(f"{report.dtype} ({report.bytes_per_element} B/element)")
    bits.append(f"convention {report.convention.name}")
    return first, " · ".join(bits)


# --------------------------------------------------------------------------- row model


@dataclass(frozen=True)
class Row:
    """One line of the per-layer table: a block aggregate or a leaf layer."""

    kind: str  # "block" or "layer"
    name: str  # full dotted name
    label: str  # the name relative to the enclosing shown block
    level: int  # block.level for blocks; enclosing block's level + 1 for layers (0 at top)
    indent: int  # steps of indentation when shown
    op: str  # "" for blocks
    out_shape: tuple[int, ...] | None  # None for blocks
    layers: int  # 1 for a layer, the number of leaf layers inside for a block
    params_trainable: int
    params_non_trainable: int
    macs: int
    flops: int
    activation_bytes: int
    collapsed: bool = False  # a block whose contents ``depth`` hides

    @property
    def params_total(self) -> int:
        return self.params_trainable + self.params_non_trainable


def _dotted_levels(name: str) -> int:
    return name.count(".") + 1


def check_depth(depth: int | None) -> None:
    """``depth`` 0 shows no row (the totals only). Raises: UsageError: it is below 0."""
    if depth is not None and depth < 0:
        raise UsageError(f"depth must be at least 0 (0: the totals only; got {depth})")


def enclosing_blocks(name: str, block_names: Container[str]) -> list[str]:
    """The blocks whose dotted name is a proper prefix of ``name``, outermost first."""
    parts = name.split(".")
    prefixes = (".".join(parts[:i]) for i in range(1, len(parts)))
    return [p for p in prefixes if p in block_names]


def report_rows(report: CostReport, depth: int | None = None) -> list[Row]:
    """The table's rows in display order (see the module docstring).

    Raises:
        UsageError: ``depth`` is below 0.
    """
    check_depth(depth)
    if depth == 0:
        return []
    blocks = {b.name: b for b in report.blocks}
    rows: list[Row] = []
    emitted: set[str] = set()
    for layer in report.layers:
        parent, hidden = "", False
        for name in enclosing_blocks(layer.name, blocks):
            block = blocks[name]
            collapsed = depth is not None and _dotted_levels(name) >= depth
            if name not in emitted:
                emitted.add(name)
                rows.append(Row(
                    kind="block", name=name, label=_relative(name, parent), level=block.level,
                    indent=block.level - 1, op="", out_shape=None, layers=block.layers,
                    params_trainable=block.params_trainable,
                    params_non_trainable=block.params_non_trainable, macs=block.macs,
                    flops=block.flops, activation_bytes=block.activation_bytes,
                    collapsed=collapsed,
                ))
            parent = name
            if collapsed:
                hidden = True
                break
        if hidden:
            continue
        level = blocks[parent].level if parent else 0
        rows.append(Row(
            kind="layer", name=layer.name, label=_relative(layer.name, parent), level=level + 1,
            indent=level, op=layer.op, out_shape=layer.out_shape, layers=1,
            params_trainable=layer.params_trainable,
            params_non_trainable=layer.params_non_trainable, macs=layer.macs, flops=layer.flops,
            activation_bytes=layer.activation_bytes,
        ))
    return rows


def _relative(name: str, parent: str) -> str:
    return name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name


# --------------------------------------------------------------------------- documented figures


@dataclass(frozen=True)
class TotalLine:
    """One line of the totals panel: exact text, human text, and any documented figure for it."""

    label: str
    exact: str
    human: str
    documented: tuple[str, ...] = ()


def total_lines(report: CostReport) -> list[TotalLine]:
    """The totals panel's lines, with documented figures beside the metric they document."""
    t: Totals = report.totals
    docs = report.documented

    def doc(attr: str) -> tuple[str, ...]:
        return tuple(documented_text(d, report) for d in docs
                     if DOCUMENTED_METRICS.get(d.metric) == attr)

    def count(label: str, attr: str) -> TotalLine:
        v = getattr(t, attr)
        return TotalLine(label, f"{v:,}", format_count(v), doc(attr))

    def size(label: str, attr: str) -> TotalLine:
        v = getattr(t, attr)
        return TotalLine(label, f"{v:,} B", format_bytes(v), doc(attr))

    conv = report.convention.name
    lines = [
        count("params, trainable", "params_trainable"),
        count("params, non-trainable", "params_non_trainable"),
        count("params, total", "params_total"),
        size(f"weight memory ({report.dtype})", "weight_bytes"),
        count(f"MACs ({conv})", "macs"),
        count(f"FLOPs ({conv})", "flops"),
        size("activation memory (sum model)", "activation_bytes"),
        size("peak activation memory (liveness model)", "peak_activation_bytes"),
        TotalLine("depth", str(t.depth), "", doc("depth")),
        TotalLine("weighted depth", str(t.weighted_depth), "", doc("weighted_depth")),
        TotalLine("layers", str(t.layers), "", doc("layers")),
        TotalLine("input", ", ".join(format_shape(s) for s in t.input_shapes), ""),
        TotalLine("output", ", ".join(format_shape(s) for s in t.output_shapes), ""),
        TotalLine("batch", str(report.batch), ""),
        TotalLine("dtype", f"{report.dtype} ({report.bytes_per_element} B/element)", ""),
    ]
    for d in docs:
        if d.metric not in DOCUMENTED_METRICS:
            where = "; ".join(x for x in (d.source, d.note) if x)
            value = value_text(d)
            lines.append(TotalLine(f"{d.metric} (documented)", value, "", (where,)))
    return lines


# --------------------------------------------------------------------------- rich rendering


def _layer_table(report: CostReport, depth: int | None, exact: bool) -> Table:
    conv = report.convention.name
    total = report.totals.macs
    cells: list[tuple[bool, str, str, str, str, str, str, str]] = []
    for row in report_rows(report, depth):
        label = "  " * row.indent + row.label
        if row.collapsed:
            label += f" ({row.layers} layers)"
        cells.append((row.kind == "block", label, row.op, format_shape(row.out_shape),
                      format_count(row.params_total, exact=exact),
                      format_count(row.macs, exact=exact), format_share(row.macs, total),
                      format_bytes(row.activation_bytes, exact=exact)))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("name", overflow="fold")
    table.add_column("op", overflow="fold")
    table.add_column("output", overflow="fold")
    # The number columns are short and never wrap: their widths are known here, which spares
    # rich measuring and wrapping thousands of cells (most of the time of a ResNet-152 table).
    for i, title in enumerate(("params", f"MACs ({conv})", "MACs %", "activation"), start=4):
        width = max([len(title), *(len(str(c[i])) for c in cells)])
        table.add_column(title, justify="right", width=width, no_wrap=True)
    for bold, *texts in cells:
        table.add_row(Text(texts[0], style="bold" if bold else ""), *map(Text, texts[1:]))
    return table


def _totals_panel(report: CostReport) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for line in total_lines(report):
        docs = line.documented or ("",)
        grid.add_row(Text(line.label), Text(line.exact), Text(line.human), Text(docs[0]))
        for extra in docs[1:]:
            grid.add_row(Text(""), Text(""), Text(""), Text(extra))
    return Panel(grid, title="totals", title_align="left", box=box.ROUNDED, expand=False)


def _convention_panel(report: CostReport) -> Panel:
    c = report.convention
    body = Text(c.title, style="bold")
    if c.description:
        body.append("\n" + c.description, style="")
    return Panel(body, title=f"convention: {c.name}", title_align="left", box=box.ROUNDED,
                 expand=False)


def _uncounted_table(report: CostReport, exact: bool) -> Table:
    table = Table(title="operators this convention does not count", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("op")
    table.add_column("layers", justify="right")
    table.add_column("MACs (cnncost, complete)", justify="right")
    table.add_column("FLOPs (cnncost, complete)", justify="right")
    for u in report.uncounted:
        table.add_row(Text(u.op), Text(str(u.layers)), Text(format_count(u.macs, exact=exact)),
                      Text(format_count(u.flops, exact=exact)))
    return table


def render_report(report: CostReport, *, depth: int | None = None,
                  exact: bool = False) -> RenderableType:
    """The whole report as one rich renderable: heading, layer table (none at ``depth`` 0),
    totals, convention.

    Raises:
        UsageError: ``depth`` is below 0.
    """
    first, second = report_heading(report)
    parts: list[RenderableType] = [Text(first, style="bold"), Text(second), Text("")]
    if depth != 0:
        parts += [_layer_table(report, depth, exact), Text("")]
    parts += [_totals_panel(report), _convention_panel(report)]
    if report.uncounted:
        parts += [Text(""), _uncounted_table(report, exact)]
    return Group(*parts)


def render_text(renderable: RenderableType, width: int = 120) -> str:
    """Plain text of a renderable at a fixed width (no colour): for files and golden tests."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO(),
                      force_terminal=False, legacy_windows=False, emoji=False, highlight=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
