"""Differences between two CostReports, aligned by block name, and their renderings.

Must not import torch. The rows are the union of both sides' blocks (every level) and of the
top-level leaf layers that sit in no block, in the order they first appear (side A first; a row
only B has goes right after its predecessor in B). A name only one side has is ``added`` (B only)
or ``removed`` (A only). A missing side counts as 0 in ``delta`` (so the deltas of the top-level
rows add up to the total delta) and makes ``ratio`` None, as does a zero on side A.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cnncost.cost.result import CostReport
from cnncost.report.formats import json_text, md_code, md_table
from cnncost.report.table import (
    check_depth,
    enclosing_blocks,
    format_bytes,
    format_count,
    format_ratio,
    report_rows,
)

#: Per-row metrics: (attribute, column title, is a byte count).
ROW_METRICS = (("params", "params", False), ("macs", "MACs", False),
               ("flops", "FLOPs", False), ("activation_bytes", "activation", True))


@dataclass(frozen=True)
class Change:
    """One metric on both sides; ``None`` where the side lacks the row."""

    a: int | None
    b: int | None
    delta: int  # b - a, a missing side counting as 0
    ratio: float | None  # b / a; None when a side is missing or a is 0, inf past a float

    @classmethod
    def of(cls, a: int | None, b: int | None) -> Change:
        ratio = None
        if a and b is not None:
            try:
                ratio = b / a
            except OverflowError:  # a ratio past 1e308 (counts are exact ints, any size)
                ratio = math.inf if (a > 0) == (b > 0) else -math.inf
        return cls(a, b, (b or 0) - (a or 0), ratio)


@dataclass(frozen=True)
class DiffRow:
    name: str
    kind: str  # "block" or "layer" (a top-level layer in no block)
    status: str  # "common", "added" (B only) or "removed" (A only)
    parent: str  # the enclosing row's name, "" at top level
    level: int  # 1 at top level
    params: Change
    macs: Change
    flops: Change
    activation_bytes: Change


@dataclass(frozen=True)
class DiffTotals:
    params: Change
    params_trainable: Change
    weight_bytes: Change
    macs: Change
    flops: Change
    activation_bytes: Change
    peak_activation_bytes: Change
    depth: Change
    weighted_depth: Change
    layers: Change


@dataclass(frozen=True)
class DiffSide:
    """What one side is: its label and the settings its numbers depend on."""

    label: str
    model: str
    variant: str | None
    convention: str
    batch: int
    dtype: str
    spec_file: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DiffReport:
    a: DiffSide
    b: DiffSide
    rows: tuple[DiffRow, ...]
    totals: DiffTotals
    notes: tuple[str, ...] = ()  # why some figures are not comparable (convention, dtype...)

    def row(self, name: str) -> DiffRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Every number unrounded, JSON-ready."""
        data = asdict(self)
        for side in ("a", "b"):
            data[side]["overrides"] = dict(getattr(self, side).overrides)
        return data


def default_label(report: CostReport) -> str:
    """``'inception_5x5_bottleneck.yaml@naive [classes=10]'`` (spec file name, else model)."""
    label = Path(report.spec_file).name if report.spec_file else report.model
    if report.variant:
        label += f"@{report.variant}"
    if report.overrides:
        label += " [" + ", ".join(f"{k}={v}" for k, v in report.overrides.items()) + "]"
    return label


def _units(report: CostReport) -> tuple[dict[str, dict[str, int]], dict[str, list[str]], set[str]]:
    """Each aligned unit's figures, the children of each parent in order, and the block names."""
    blocks = {b.name for b in report.blocks}
    figures: dict[str, dict[str, int]] = {}
    children: dict[str, list[str]] = {}
    for row in report_rows(report):
        enclosing = enclosing_blocks(row.name, blocks)
        if row.kind == "layer" and enclosing:
            continue
        figures[row.name] = {"params": row.params_total, "macs": row.macs, "flops": row.flops,
                             "activation_bytes": row.activation_bytes}
        children.setdefault(enclosing[-1] if enclosing else "", []).append(row.name)
    return figures, children, blocks


def _merge(first: list[str], second: list[str]) -> list[str]:
    """``first`` with ``second``'s extra names inserted right after their predecessor there."""
    merged = list(first)
    anchor = -1
    for name in second:
        if name in merged:
            anchor = merged.index(name)
        else:
            anchor += 1
            merged.insert(anchor, name)
    return merged


def _side(report: CostReport, label: str | None) -> DiffSide:
    return DiffSide(label or default_label(report), report.model, report.variant,
                    report.convention.name, report.batch, report.dtype, report.spec_file,
                    dict(report.overrides))


def _notes(a: CostReport, b: CostReport) -> tuple[str, ...]:
    notes = []
    if a.convention.name != b.convention.name:
        notes.append(f"conventions differ ({a.convention.name} vs {b.convention.name}): "
                     "MACs and FLOPs are not comparable")
    if a.batch != b.batch:
        notes.append(f"batch sizes differ ({a.batch} vs {b.batch})")
    if a.dtype != b.dtype:
        notes.append(f"dtypes differ ({a.dtype} vs {b.dtype}): byte figures reflect it")
    return tuple(notes)


def diff_reports(a: CostReport, b: CostReport, *, label_a: str | None = None,
                 label_b: str | None = None) -> DiffReport:
    """Align ``a`` and ``b`` by block name; per-row and total changes of B relative to A."""
    fig_a, kids_a, blocks_a = _units(a)
    fig_b, kids_b, blocks_b = _units(b)
    rows: list[DiffRow] = []
    seen: set[str] = set()

    def visit(parent: str, level: int) -> None:
        for name in _merge(kids_a.get(parent, []), kids_b.get(parent, [])):
            if name in seen:  # nested differently on the two sides: shown once
                continue
            seen.add(name)
            fa, fb = fig_a.get(name), fig_b.get(name)
            status = "common" if fa and fb else "removed" if fa else "added"
            rows.append(DiffRow(
                name=name, kind="block" if name in blocks_a | blocks_b else "layer",
                status=status, parent=parent, level=level,
                **{m: Change.of(fa[m] if fa else None, fb[m] if fb else None)
                   for m, _, _ in ROW_METRICS}))
            visit(name, level + 1)

    visit("", 1)
    ta, tb = a.totals, b.totals
    totals = DiffTotals(**{
        "params": Change.of(ta.params_total, tb.params_total),
        **{m: Change.of(getattr(ta, m), getattr(tb, m)) for m in (
            "params_trainable", "weight_bytes", "macs", "flops", "activation_bytes",
            "peak_activation_bytes", "depth", "weighted_depth", "layers")},
    })
    return DiffReport(_side(a, label_a), _side(b, label_b), tuple(rows), totals, _notes(a, b))


# --------------------------------------------------------------------------- renderers


def visible_rows(diff: DiffReport, depth: int | None = None) -> list[tuple[DiffRow, bool]]:
    """Rows shown at ``depth`` (dotted levels), each with whether it is a collapsed block.

    Raises:
        UsageError: ``depth`` is below 0 (0: the totals only).
    """
    check_depth(depth)
    if depth == 0:
        return []
    parents = {row.parent for row in diff.rows}
    hidden: set[str] = set()  # rows whose contents are not shown
    shown = []
    for row in diff.rows:
        if row.parent in hidden:
            hidden.add(row.name)
            continue
        collapsed = (depth is not None and row.name in parents
                     and row.name.count(".") + 1 >= depth)
        if collapsed:
            hidden.add(row.name)
        shown.append((row, collapsed))
    return shown


_MARK = {"common": "", "added": "+", "removed": "-"}
_TOTALS = (("params", "params, total", False), ("params_trainable", "params, trainable", False),
           ("weight_bytes", "weight memory", True), ("macs", "MACs", False),
           ("flops", "FLOPs", False), ("activation_bytes", "activation memory", True),
           ("peak_activation_bytes", "peak activation memory", True), ("depth", "depth", False),
           ("weighted_depth", "weighted depth", False), ("layers", "layers", False))


def _fmt(value: int | None, is_bytes: bool, exact: bool, signed: bool = False) -> str:
    if value is None:
        return "–"
    fmt = format_bytes if is_bytes else format_count
    return fmt(value, exact=exact, signed=signed)


def _label(row: DiffRow, collapsed: bool) -> str:
    local = row.name[len(row.parent) + 1:] if row.parent else row.name
    return local + (" (collapsed)" if collapsed else "")


def _heading(diff: DiffReport) -> list[str]:
    def side(s: DiffSide) -> str:
        return f"{s.label} · {s.convention} · batch {s.batch} · {s.dtype}"
    lines = [f"A: {side(diff.a)}", f"B: {side(diff.b)}"]
    return lines + [f"note: {n}" for n in diff.notes]


def render_diff(diff: DiffReport, *, depth: int | None = None,
                exact: bool = False) -> RenderableType:
    """Heading, per-row table (A, B, Δ, B/A) and totals as one rich renderable.

    Raises:
        UsageError: ``depth`` is below 0 (0: the totals only).
    """
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  caption="+ only in B   - only in A   ratios are B/A", caption_justify="left")
    table.add_column("", width=1)
    table.add_column("name", overflow="fold")
    for title in ("params A", "params B", "Δ params", "MACs A", "MACs B", "Δ MACs", "MACs B/A",
                  "Δ FLOPs", "Δ activation"):
        table.add_column(title, justify="right")
    for row, collapsed in visible_rows(diff, depth):
        table.add_row(
            Text(_MARK[row.status]),
            Text("  " * (row.level - 1) + _label(row, collapsed),
                 style="bold" if row.kind == "block" else ""),
            Text(_fmt(row.params.a, False, exact)), Text(_fmt(row.params.b, False, exact)),
            Text(_fmt(row.params.delta, False, exact, True)),
            Text(_fmt(row.macs.a, False, exact)), Text(_fmt(row.macs.b, False, exact)),
            Text(_fmt(row.macs.delta, False, exact, True)), Text(format_ratio(row.macs.ratio)),
            Text(_fmt(row.flops.delta, False, exact, True)),
            Text(_fmt(row.activation_bytes.delta, True, exact, True)),
        )
    totals = Table(title="totals", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                   pad_edge=False)
    totals.add_column("metric")
    for title in ("A", "B", "Δ", "B/A"):
        totals.add_column(title, justify="right")
    for attr, title, is_bytes in _TOTALS:
        c: Change = getattr(diff.totals, attr)
        totals.add_row(Text(title), Text(_fmt(c.a, is_bytes, True)),
                       Text(_fmt(c.b, is_bytes, True)), Text(_fmt(c.delta, is_bytes, True, True)),
                       Text(format_ratio(c.ratio)))
    heading = [Text(line) for line in _heading(diff)]
    if depth == 0:
        return Group(*heading, Text(""), totals)
    return Group(*heading, Text(""), table, Text(""), totals)


def diff_to_json(diff: DiffReport) -> str:
    """``diff.to_dict()`` as indented JSON, every number unrounded."""
    return json_text(diff.to_dict())


def diff_to_csv(diff: DiffReport) -> str:
    """One row per aligned row: status, kind, name, level, then ``<metric>_a/_b/_delta/_ratio``.

    Missing values and undefined ratios are empty cells; integers are exact, ratios full floats.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["status", "kind", "name", "level"]
    for m, _, _ in ROW_METRICS:
        header += [f"{m}_a", f"{m}_b", f"{m}_delta", f"{m}_ratio"]
    writer.writerow(header)
    for row in diff.rows:
        cells: list[Any] = [row.status, row.kind, row.name, row.level]
        for m, _, _ in ROW_METRICS:
            c: Change = getattr(row, m)
            cells += ["" if c.a is None else c.a, "" if c.b is None else c.b, c.delta,
                      "" if c.ratio is None else repr(c.ratio)]
        writer.writerow(cells)
    return buffer.getvalue()


def diff_to_markdown(diff: DiffReport, depth: int | None = None) -> str:
    """The diff as GitHub Markdown with exact integers.

    Raises:
        UsageError: ``depth`` is below 0 (0: the totals only).
    """
    def num(value: int | None, signed: bool = False) -> str:
        return "–" if value is None else f"{value:+,}" if signed and value else f"{value:,}"

    rows = []
    for row, collapsed in visible_rows(diff, depth):
        name = md_code(_label(row, False))
        name = "&emsp;" * (row.level - 1) + (f"**{name}**" if row.kind == "block" else name)
        rows.append([_MARK[row.status], name + (" (collapsed)" if collapsed else ""),
                     num(row.params.a), num(row.params.b), num(row.params.delta, True),
                     num(row.macs.a), num(row.macs.b), num(row.macs.delta, True),
                     format_ratio(row.macs.ratio), num(row.flops.delta, True),
                     num(row.activation_bytes.delta, True)])
    totals = []
    for attr, title, is_bytes in _TOTALS:
        c: Change = getattr(diff.totals, attr)
        unit = " B" if is_bytes else ""
        totals.append([title, num(c.a) + unit, num(c.b) + unit, num(c.delta, True) + unit,
                       format_ratio(c.ratio)])
    return "\n".join([
        f"# {diff.a.label} → {diff.b.label}\n",
        "\n".join(f"- {line}" for line in _heading(diff)) + "\n",
        *([md_table(["", "name", "params A", "params B", "Δ params", "MACs A", "MACs B",
                     "Δ MACs", "MACs B/A", "Δ FLOPs", "Δ activation (B)"], "llrrrrrrrrr", rows),
           "`+` only in B, `-` only in A; ratios are B/A.\n"] if depth != 0 else []),
        "## Totals\n",
        md_table(["metric", "A", "B", "Δ", "B/A"], "lrrrr", totals),
    ])
