"""Machine- and document-friendly renderings of a CostReport: JSON, CSV, Markdown.

Must not import torch. JSON and CSV carry every number unrounded (``int``); Markdown writes exact
integers with thousands separators. The row order is the table's (see ``report.table``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from cnncost.cost.result import CostReport
from cnncost.memory.report import MemoryReport
from cnncost.report.table import (
    format_shape,
    format_share,
    report_heading,
    report_rows,
    total_lines,
)

#: Columns of ``to_csv``; a block row leaves the layer-only columns empty.
CSV_COLUMNS = (
    "kind", "name", "level", "op", "out_shape", "inputs", "layers",
    "params_trainable", "params_non_trainable", "params_total", "macs", "flops", "counted",
    "activation_bytes", "bytes_read", "bytes_written", "location",
)


def _plain(value: Any) -> Any:
    """``value`` with what strict JSON cannot hold replaced: a NaN or infinite float (from a
    ``.nan`` in YAML, or a ratio past 1e308) becomes null, and anything that is not a number,
    text, list or mapping (a YAML date in ``params``) becomes its text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_plain(v) for v in sorted(value, key=str)]
    return str(value)


def _key(key: Any) -> Any:
    plain = key is None or isinstance(key, (str, int)) or (
        isinstance(key, float) and math.isfinite(key))
    return key if plain else str(key)


def json_text(data: Any) -> str:
    """Indented, strict JSON (RFC 8259: no NaN or Infinity) of report data, key order kept."""
    return json.dumps(_plain(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_json(report: CostReport, memory: MemoryReport | None = None) -> str:
    """``report.to_dict()`` as indented JSON: every number unrounded, key order stable; with
    ``memory``, its figures and per-layer rows under ``"memory"``."""
    data = report.to_dict()
    if memory is not None:
        from cnncost.report.memory import to_dict

        data["memory"] = to_dict(memory)
    return json_text(data)


def to_csv(report: CostReport) -> str:
    """One row per block and per leaf layer (``kind`` tells which), table order, exact integers.

    ``out_shape`` is per sample, ``'x'``-separated (``64x56x56``); ``inputs`` is ``;``-separated.
    """
    blocks = {b.name: b for b in report.blocks}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report_rows(report):
        common = [row.params_trainable, row.params_non_trainable, row.params_total, row.macs,
                  row.flops]
        if row.kind == "block":
            b = blocks[row.name]
            writer.writerow(["block", b.name, b.level, "", "", "", b.layers, *common, "",
                             b.activation_bytes, "", "", ""])
        else:
            x = report.layer(row.name)
            writer.writerow([
                "layer", x.name, row.level, x.op, "x".join(str(d) for d in x.out_shape),
                ";".join(x.inputs), 1, *common, str(x.counted).lower(), x.activation_bytes,
                x.bytes_read, x.bytes_written, str(x.location) if x.location else "",
            ])
    return buffer.getvalue()


# --------------------------------------------------------------------------- markdown


def md_cell(text: object) -> str:
    """Text safe inside a GitHub table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def md_table(header: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> str:
    """A GitHub table; ``align`` has one letter per column, ``l`` or ``r``."""
    marks = {"l": ":---", "r": "---:"}
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |",
             "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def md_name(label: str, indent: int, block: bool) -> str:
    """An indented (em spaces survive GitHub's cell trimming), code-formatted name."""
    name = md_code(label)
    return "&emsp;" * indent + (f"**{name}**" if block else name)


def to_markdown(report: CostReport, depth: int | None = None,
                memory: MemoryReport | None = None) -> str:
    """The layer table, the totals and the convention as GitHub Markdown (and the memory
    figures with ``memory``).

    Raises:
        UsageError: ``depth`` is below 0 (0: the totals only).
    """
    first, second = report_heading(report)
    conv = report.convention.name
    total = report.totals.macs
    rows = []
    for row in report_rows(report, depth):
        name = md_name(row.label, row.indent, row.kind == "block")
        if row.collapsed:
            name += f" ({row.layers} layers)"
        rows.append([
            name, row.op, format_shape(row.out_shape),
            f"{row.params_total:,}", f"{row.macs:,}", format_share(row.macs, total),
            f"{row.activation_bytes:,}",
        ])
    parts = [
        f"# {first}\n",
        f"{second}\n",
        *([md_table(["name", "op", "output", "params", f"MACs ({conv})", "MACs %",
                     "activation (bytes)"], "lllrrrr", rows)] if depth != 0 else []),
        "## Totals\n",
        md_table(["metric", "value", "≈", "documented"], "lrrl",
                 ([t.label, t.exact, t.human, "<br>".join(t.documented)]
                  for t in total_lines(report))),
        f"## Convention: {conv}\n",
        f"**{report.convention.title}**" + (f" — {report.convention.description}"
                                            if report.convention.description else "") + "\n",
    ]
    if report.uncounted:
        parts += [
            "### Operators this convention does not count\n",
            md_table(["op", "layers", "MACs (cnncost, complete)", "FLOPs (cnncost, complete)"],
                     "lrrr", ([u.op, u.layers, f"{u.macs:,}", f"{u.flops:,}"]
                              for u in report.uncounted)),
        ]
    if memory is not None:
        from cnncost.report.memory import to_markdown as memory_markdown

        parts.append(memory_markdown(memory))
    return "\n".join(parts)

