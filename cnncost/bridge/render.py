"""Rendering of a CheckReport: rich tables and JSON. Must not import torch.

``render_check`` prints the totals, exactly the differing layers (all layers with
``all_layers``), what fvcore does not count with cnncost's own count for it, and what
FlopCounterMode counted, per aten op.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from cnncost.bridge.result import QUANTITIES, CheckReport, Comparison, LayerCheck, MemoryRun

#: Column titles of the compared quantities.
TITLES = {
    "shape": "output shape",
    "params_trainable": "trainable params",
    "params_non_trainable": "non-trainable params",
    "fvcore_macs": "fvcore MACs",
    "torch_flops": "FlopCounterMode FLOPs",
}


def _value(value: Any) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) for v in value):
            return ", ".join(_value(v) for v in value)
        return "×".join(str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _mark(ok: bool) -> Text:
    return Text("ok", style="green") if ok else Text("DIFFERS", style="bold red")


def _totals_table(report: CheckReport) -> Table:
    table = Table(title="totals", box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in (("quantity", "left"), ("analytic", "right"),
                            ("measured", "right"), ("", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for c in report.totals:
        table.add_row(TITLES[c.quantity], _value(c.analytic), _value(c.measured), _mark(c.ok))
    return table


def _legend() -> Text:
    lines = [f"{TITLES[q]}: {what}" for q, what in QUANTITIES.items()]
    return Text("measured: " + "; ".join(lines), style="dim")


def _layers_table(layers: tuple[LayerCheck, ...], title: str, only_differing: bool) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in (("layer", "left"), ("op", "left"), ("quantity", "left"),
                            ("analytic", "right"), ("measured", "right"), ("", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for layer in layers:
        rows: tuple[Comparison, ...] = layer.differing if only_differing else layer.comparisons
        for i, c in enumerate(rows):
            table.add_row(layer.name if i == 0 else "", layer.op if i == 0 else "",
                          TITLES[c.quantity], _value(c.analytic), _value(c.measured), _mark(c.ok))
    return table


#: What the rows of the "not counted by fvcore" table are.
NOT_COUNTED_NOTE = (
    "A row is an operator fvcore does not count, an activation fused into a conv or linear layer "
    "(fused), or an operator fvcore does count, compared layer by layer above, whose traced "
    "module also ran aten operators fvcore has no handle for (counted; unsupported ops inside): "
    "fvcore reports those operators as unsupported and counts nothing for them; they are the "
    "module's own helpers (a reflection pad, shape arithmetic traced as aten::sub), not "
    "arithmetic the operator's count leaves out. Layers and cnncost's complete count are given "
    "for every row.")


def _not_counted_table(report: CheckReport) -> Table:
    table = Table(title="not counted by fvcore (cnncost's own count, batch included)",
                  box=box.SIMPLE_HEAD, title_justify="left", caption=NOT_COUNTED_NOTE,
                  caption_justify="left")
    for header, justify in (("operator", "left"), ("layers", "right"), ("MACs", "right"),
                            ("FLOPs", "right"), ("fvcore: unsupported aten ops", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for n in report.fvcore_not_counted:
        aten = ", ".join(f"{op} ×{count}" for op, count in n.aten_ops) or "(ops fvcore ignores)"
        table.add_row(n.label, _value(n.layers), _value(n.macs), _value(n.flops), aten)
    return table


def _memory_table(runs: tuple[MemoryRun, ...]) -> Table:
    """One row per compared peak of each memory run, then its layers' verdict."""
    table = Table(title="memory and training: cnncost's eager model vs PyTorch run on fake "
                        "tensors under a memory tracker (bytes, parameters and input included)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in (("run", "left"), ("quantity", "left"), ("cnncost", "right"),
                            ("measured", "right"), ("", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for run in runs:
        what = f"{run.label}, batch {run.batch}" + (
            f", {run.precision}, {run.optimizer}" if run.optimizer else
            f", {run.dtype}" if run.mode == "inference" else "")
        for i, c in enumerate(run.totals):
            table.add_row(what if i == 0 else "", c.quantity, _value(c.analytic),
                          _value(c.measured), _mark(c.ok))
        if run.layers_compared:
            bad = len(run.layers)
            layers = (f"{run.layers_compared} layers: forward peak"
                      + (" and saved bytes" if run.mode == "training" else "")
                      + (" equal" if not bad else f"; {bad} differ"))
            table.add_row("", layers, "", "", _mark(not bad))
    return table


def check_renderable(report: CheckReport, *, all_layers: bool = False) -> RenderableType:
    """The check as one rich renderable (see the module docstring)."""
    where = f"{report.device} · batch {report.batch} · {report.dtype}"
    versions = " · ".join(f"{k} {v}" for k, v in report.versions.items())
    overrides = ("overrides " + ", ".join(f"{k}={v}" for k, v in report.overrides.items())
                 + " · ") if report.overrides else ""
    parts: list[RenderableType] = [
        Text(f"cnncost check {report.label}", style="bold"),
        Text(f"spec {report.spec_file} · {overrides}{where} · {versions}", style="dim"),
        _totals_table(report),
    ]
    bad = report.mismatches
    if all_layers:
        parts.append(_layers_table(report.layers, f"layers ({len(report.layers)})", False))
    elif bad:
        parts.append(_layers_table(bad, f"differing layers ({len(bad)} of {len(report.layers)})",
                                   True))
    if report.fvcore_not_counted:
        parts.append(_not_counted_table(report))
    if report.fvcore_uncalled:
        names = ", ".join(report.fvcore_uncalled)
        parts.append(Text(f"modules in which fvcore traced no operator (expected for identity, "
                          f"flatten, dropout and inputs): {names}", style="dim"))
    if report.memory:
        parts.append(_memory_table(report.memory))
        for run in report.memory:
            if run.layers:
                parts.append(_layers_memory_table(run))
    counted = ", ".join(f"{op} {v:,}" for op, v in report.torch_counted_ops) or "nothing"
    parts.append(Text(f"FlopCounterMode (on {report.flop_counter_device}) counted: {counted}",
                      style="dim"))
    parts.append(_legend())
    memory_bad = [run.label for run in report.memory if not run.ok]
    verdict = (Text(f"OK: {len(report.layers)} layers, every quantity equal"
                    + (", memory and training FLOPs equal to the measured"
                       if report.memory else ""),
                    style="bold green")
               if report.ok else
               Text(f"MISMATCH: {len(bad)} of {len(report.layers)} layers differ"
                    + ("" if all(c.ok for c in report.totals) else "; totals differ")
                    + (f"; memory differs ({', '.join(memory_bad)})" if memory_bad else ""),
                    style="bold red"))
    parts.append(verdict)
    return Group(*parts)


def _layers_memory_table(run: MemoryRun) -> Table:
    table = Table(title=f"memory: differing layers ({run.label})", box=box.SIMPLE_HEAD,
                  title_justify="left")
    for header, justify in (("layer", "left"), ("quantity", "left"), ("cnncost", "right"),
                            ("tracker", "right"), ("", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for layer in run.layers:
        for i, c in enumerate(layer.differing):
            table.add_row(layer.name if i == 0 else "", c.quantity, _value(c.analytic),
                          _value(c.measured), _mark(c.ok))
    return table


def render_check(report: CheckReport, console: Console, *, all_layers: bool = False) -> None:
    """Print the check on ``console`` (the CLI's console: only the CLI decides where it goes)."""
    console.print(check_renderable(report, all_layers=all_layers))


def check_text(report: CheckReport, *, width: int = 120, all_layers: bool = False) -> str:
    """The rendered check as plain text (no colour) at ``width`` columns."""
    console = Console(width=width, record=True, color_system=None, force_terminal=False,
                      highlight=False, emoji=False, file=io.StringIO())
    render_check(report, console, all_layers=all_layers)
    return console.export_text()


def check_to_json(report: CheckReport) -> str:
    """The whole check as JSON (exact integers, ``ok`` flags, the mismatching layer names)."""
    return json.dumps(report.to_dict(), indent=2) + "\n"

