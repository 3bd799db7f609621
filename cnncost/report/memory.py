"""Renderings of a MemoryReport: the figures (rich, Markdown), JSON, and the timeline as JSON
or CSV (the data a live-memory plot needs). Must not import torch.

Every figure names its memory model, mode, device and what it assumes (``config_line``). rich is
imported by the rich renderings only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost.errors import FileAccessError, UsageError
from cnncost.memory.models import MODELS
from cnncost.memory.report import MemoryReport
from cnncost.report.table import format_bytes, format_count

if TYPE_CHECKING:
    from rich.console import RenderableType

    from cnncost.cost.training import TrainingCost

#: Columns of the per-layer CSV and of the timeline CSV.
LAYER_COLUMNS = ("name", "op", "before_bytes", "peak_bytes", "after_bytes", "allocated_bytes",
                 "saved_bytes", "backward_peak_bytes")
EVENT_COLUMNS = ("index", "phase", "layer", "label", "category", "delta_bytes", "live_bytes")


def config_line(m: MemoryReport) -> str:
    """What the figures follow: ``eager model · training · cuda · batch 64 · float32 ...``."""
    parts = [f"{m.model} memory model", m.mode, m.device, f"batch {m.batch}"]
    if m.mode == "training":
        parts += [f"{m.dtype} parameters, {m.precision} compute",
                  f"{m.optimizer} ({m.implementation})"]
    else:
        parts.append(m.dtype)
    return " · ".join(parts)


def figure_rows(m: MemoryReport) -> list[tuple[str, int, str]]:
    """(what, bytes, note) for every figure of the report, the peak last."""
    rows = [("weights (trainable parameters)", m.weights_bytes, ""),
            ("buffers (batch-norm statistics ...)", m.buffers_bytes, ""),
            ("input batch" + (" and labels" if m.mode == "training" else ""), m.input_bytes, "")]
    if m.mode == "training":
        rows += [("gradients (after backward)", m.gradients_bytes, ""),
                 ("optimizer state", m.optimizer_bytes, m.optimizer or ""),
                 ("activations saved for backward", m.saved_bytes, "at the end of the forward"),
                 ("first step peak", m.first_step_peak_bytes, "no optimizer state yet")]
    rows.append(("activations at the peak", m.activation_peak_bytes,
                 "peak minus weights, buffers and input"))
    where = f"{m.peak_phase}: {m.peak_layer or '-'} ({m.peak_op})"
    rows.append(("peak" + (" (steady state)" if m.mode == "training" else ""), m.peak_bytes,
                 where))
    return rows


def training_rows(t: TrainingCost) -> list[tuple[str, int]]:
    """(what, count) of a training step's arithmetic, the total last."""
    return [("forward, training mode", t.forward_flops),
            ("backward: input gradients (MACs)", sum(r.input_grad_macs for r in t.layers)),
            ("backward: weight gradients (MACs)", sum(r.weight_grad_macs for r in t.layers)),
            ("backward", t.backward_flops),
            ("training step", t.flops)]


def render_training(t: TrainingCost, *, exact: bool = False) -> RenderableType:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, title=f"training step FLOPs ({t.convention} convention, "
                                             f"batch {t.batch})", title_justify="left")
    table.add_column("")
    table.add_column("count", justify="right")
    for what, value in training_rows(t):
        table.add_row(what, format_count(value, exact=exact))
    note = ("FLOPs = 2 x MACs of conv and linear layers, forward and backward (what "
            "FlopCounterMode measures, except its count of grouped convolutions' weight "
            "gradients: groups times too many)" if t.convention == "torchvision" else
            "every elementary operation of the training-mode forward and of the backward "
            "(docs/operators.md)")
    return Group(table, Text(note, style="dim"))


def training_dict(t: TrainingCost) -> dict[str, Any]:
    return {"convention": t.convention, "batch": t.batch, "forward_flops": t.forward_flops,
            "backward_flops": t.backward_flops, "flops": t.flops, "macs": t.macs,
            "blocks": [{"name": name, "forward_flops": f, "backward_flops": b}
                       for name, (f, b) in t.block_flops().items()],
            "layers": [{"name": r.name, "op": r.op, "forward_macs": r.forward_macs,
                        "forward_flops": r.forward_flops, "input_grad_macs": r.input_grad_macs,
                        "weight_grad_macs": r.weight_grad_macs,
                        "backward_flops": r.backward_flops} for r in t.layers]}


def render_memory(m: MemoryReport, *, exact: bool = False) -> RenderableType:
    """The figures as a rich table with the config line."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, title="memory", title_justify="left")
    table.add_column("")
    table.add_column("bytes", justify="right")
    table.add_column("", style="dim")
    for what, value, note in figure_rows(m):
        table.add_row(what, format_bytes(value, exact=exact), note)
    return Group(table, Text(config_line(m) + " — " + MODELS[m.model], style="dim"))


def to_markdown(m: MemoryReport) -> str:
    lines = ["## Memory", "", config_line(m), "", "| | bytes | |", "|---|---:|---|"]
    for what, value, note in figure_rows(m):
        lines.append(f"| {what} | {value:,} | {note} |")
    return "\n".join(lines) + "\n"


def to_dict(m: MemoryReport, timeline: bool = False) -> dict[str, Any]:
    data = m.to_dict(timeline=timeline)
    data["model_description"] = MODELS[m.model]
    return data


def layers_csv(m: MemoryReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LAYER_COLUMNS)
    for row in m.layers:
        writer.writerow([row.name, row.op, row.before_bytes, row.peak_bytes, row.after_bytes,
                         row.allocated_bytes, row.saved_bytes, row.backward_peak_bytes])
    return buffer.getvalue()


def timeline_csv(m: MemoryReport) -> str:
    """Every change of live memory in the (steady-state) step: one row per allocation or free."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for i, e in enumerate(m.timeline):
        writer.writerow([i, e.phase, e.layer, e.label, e.category, e.delta, e.live])
    return buffer.getvalue()


def write_timeline(m: MemoryReport, path: Path) -> None:
    """``path``'s suffix chooses: ``.csv`` (events) or ``.json`` (the report with every event).

    Raises:
        UsageError: another suffix.
        FileAccessError: the file cannot be written.
    """
    if path.suffix == ".csv":
        text = timeline_csv(m)
    elif path.suffix == ".json":
        text = json.dumps(to_dict(m, timeline=True), indent=1) + "\n"
    else:
        raise UsageError(f"--timeline {path}: write a .csv or a .json file")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise FileAccessError(f"cannot write {path}: {err.strerror or err}") from None


def render_memory_diff(a: MemoryReport, b: MemoryReport, labels: Sequence[str],
                       *, exact: bool = False) -> RenderableType:
    """The figures of two analyses side by side, B relative to A."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, title="memory", title_justify="left")
    for header, justify in (("", "left"), (labels[0], "right"), (labels[1], "right"),
                            ("B - A", "right"), ("B / A", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for (what, va, _), (_, vb, _) in zip(figure_rows(a), figure_rows(b)):
        ratio = f"×{vb / va:.3f}" if va else "–"
        table.add_row(what, format_bytes(va, exact=exact), format_bytes(vb, exact=exact),
                      format_bytes(vb - va, exact=exact, signed=True), ratio)
    where = f"peak of A: {a.peak_layer or a.peak_phase}; of B: {b.peak_layer or b.peak_phase}"
    return Group(table, Text(config_line(a) + " — " + where, style="dim"))


def diff_rows(a: MemoryReport, b: MemoryReport) -> list[dict[str, Any]]:
    """JSON rows of the memory diff: every figure of A and B, exact."""
    return [{"figure": what, "a": va, "b": vb, "delta": vb - va}
            for (what, va, _), (_, vb, _) in zip(figure_rows(a), figure_rows(b))]
