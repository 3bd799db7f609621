"""matplotlib figures of the reports: cost by block, live memory, per-layer bars. No torch.

Every figure is a ``matplotlib.figure.Figure`` built without pyplot (no global state, no GUI
backend), from data the report already holds (``breakdown.units_at``, ``timeline``). Each bar
carries a ``gid`` (``macs:layer3``) so that a test can find it in the SVG and measure it. The zoo
and variant charts live in ``render.zoo_charts``. matplotlib is imported by ``new_figure`` only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cnncost.cost.result import CostReport
from cnncost.render.breakdown import Unit
from cnncost.render.needs import need_matplotlib
from cnncost.render.timeline import LiveMemoryTimeline
from cnncost.report.diff import DiffReport, DiffRow
from cnncost.report.table import format_bytes, format_count

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The three metrics of the block and layer charts: (Unit attribute, title, is a byte count).
METRICS = (("macs", "MACs", False), ("params_total", "parameters", False),
           ("activation_bytes", "activation memory", True))
COLOURS = {"macs": "#2563eb", "params_total": "#dc2626", "activation_bytes": "#059669"}
#: Saved files carry no date or software version, so the same data gives the same bytes.
SVG_RC: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "cnncost", "font.size": 9}
_BLANK = {"svg": {"Date": None, "Creator": None}, "png": {"Software": None},
          "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


def new_figure(width: float, height: float) -> Figure:
    """A blank figure (inches).

    Raises:
        MissingDependency: matplotlib is not installed.
    """
    need_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(figure: Figure, target: Any, fmt: str, metadata: dict[str, str] | None = None) -> None:
    """Write ``figure`` as ``fmt`` (svg, png or pdf) to a path or binary file object."""
    import matplotlib

    meta = {**_BLANK.get(fmt, {}), **(metadata or {})}
    with matplotlib.rc_context(SVG_RC):  # type: ignore[arg-type]  # typed as literal keys
        figure.savefig(target, format=fmt, metadata=meta, dpi=150)


def svg_text(figure: Figure) -> str:
    """The figure as an inline SVG element (no XML prologue), text kept as text."""
    buffer = io.BytesIO()
    save(figure, buffer, "svg")
    text = buffer.getvalue().decode("utf-8")
    return text[text.index("<svg"):]


def _human(value: int, is_bytes: bool) -> str:
    return format_bytes(value) if is_bytes else format_count(value)


def _share(value: int, total: int) -> float:
    return 100 * value / total if total else 0.0


def block_chart(units: Sequence[Unit], report: CostReport) -> Figure:
    """Where the cost goes: MACs, parameters and activation memory of each unit, side by side.

    One horizontal bar per unit (model order, top to bottom), as a share of the report's total;
    the value is written at the end of each bar.
    """
    totals = {"macs": report.totals.macs, "params_total": report.totals.params_total,
              "activation_bytes": report.totals.activation_bytes}
    height = 1.3 + 0.22 * len(units)
    figure = new_figure(11, height)
    axes = figure.subplots(1, 3, sharey=True)
    names = [u.name for u in units]
    positions = list(range(len(units)))
    for ax, (attr, title, is_bytes) in zip(axes, METRICS):
        values = [getattr(u, attr) for u in units]
        shares = [_share(v, totals[attr]) for v in values]
        bars = ax.barh(positions, shares, color=COLOURS[attr], height=0.7)
        for bar, unit, value in zip(bars, units, values):
            bar.set_gid(f"{attr}:{unit.name}")
            if value:
                ax.annotate(_human(value, is_bytes), (bar.get_width(), bar.get_y() + 0.35),
                            xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        label = title if attr != "macs" else f"MACs ({report.convention.name})"
        ax.set_title(f"{label}\ntotal {_human(totals[attr], is_bytes)}", fontsize=9)
        ax.set_xlabel("% of the total")
        ax.set_xlim(0, max(shares + [1.0]) * 1.3)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(positions, names, fontsize=8)
    axes[0].invert_yaxis()
    return figure


def _byte_unit(peak: int) -> tuple[int, str]:
    scale, unit = 1, "B"
    for name in ("KiB", "MiB", "GiB", "TiB"):
        if peak < scale * 1024 * 4:
            break
        scale, unit = scale * 1024, name
    return scale, unit


def memory_chart(timeline: LiveMemoryTimeline, report: CostReport) -> Figure:
    """Live memory at each step of the forward pass (or training step), the peak marked.

    Top-level blocks (a training step: its phases) are shaded bands, named where they are wide
    enough; what is held all along (parameters, buffers, input) is a dashed line.
    """
    scale, unit = _byte_unit(timeline.peak_bytes)
    figure = new_figure(11, 3.4)
    ax = figure.subplots()
    steps = list(range(len(timeline.steps)))
    values = [b / scale for b in timeline.live_bytes]
    peak_x, peak_y = timeline.peak_step, timeline.peak_bytes / scale
    held_y = timeline.held_bytes / scale
    # where parameters dominate (batch 1), the axis starts just below them: the curve is the part
    # that moves, and the dashed line says what sits beneath it
    bottom = held_y - 0.15 * (peak_y - held_y) if held_y > 0.5 * peak_y else 0.0
    ax.fill_between(steps, values, bottom, step="mid", color="#93c5fd", alpha=0.6, lw=0)
    (line,) = ax.step(steps, values, where="mid", color="#1d4ed8", lw=1)
    line.set_gid("live-memory")
    (mark,) = ax.plot([peak_x], [peak_y], "o", color="#dc2626", ms=6)
    mark.set_gid("peak")
    top = peak_y + 0.3 * (peak_y - bottom) if peak_y > bottom else 1
    # the label sits above the whole curve, the block names above it
    right = peak_x > len(steps) * 0.6
    ax.annotate(f"peak {format_bytes(timeline.peak_bytes)} at {timeline.peak_node}",
                (peak_x, peak_y), xytext=(peak_x, peak_y + 0.07 * (peak_y - bottom)),
                textcoords="data", ha="right" if right else "left", va="bottom", fontsize=8,
                color="#991b1b")
    if len(set(timeline.phases)) > 1:
        _block_bands(ax, timeline.phases)
    else:
        _block_bands(ax, timeline.steps)
    if timeline.held_bytes:
        held = ax.axhline(held_y, color="#6b7280", lw=0.8, ls="--")
        held.set_gid("held")
        held_text = format_bytes(timeline.held_bytes)
        ax.annotate(f"held throughout: parameters, buffers, input {held_text}",
                    (len(steps) - 1, held_y), xytext=(0, -2), textcoords="offset points",
                    fontsize=7, color="#374151", ha="right", va="top")
    ax.set_xlim(-0.5, max(len(steps) - 0.5, 0.5))
    ax.set_ylim(bottom, top)
    ax.set_xlabel(timeline.x_label)
    ax.set_ylabel(f"{timeline.quantity} ({unit})")
    ax.set_title(f"{timeline.quantity} · batch {report.batch} · {report.dtype}\n"
                 f"memory model: {timeline.model}", fontsize=8, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def _block_bands(ax: Any, steps: Sequence[str]) -> None:
    spans: list[list[Any]] = []  # [top-level name, first step, last step]
    for i, name in enumerate(steps):
        top = name.split(".")[0]
        if spans and spans[-1][0] == top:
            spans[-1][2] = i
        else:
            spans.append([top, i, i])
    n = max(len(steps), 1)
    shaded = 0
    for top, first, last in spans:
        if last == first:  # a single top-level layer: no band
            continue
        if shaded % 2 == 0:
            ax.axvspan(first - 0.5, last + 0.5, color="#f3f4f6", lw=0, zorder=0)
        shaded += 1
        if (last - first + 1) / n >= 0.045:
            ax.text((first + last) / 2, 0.98, top, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=7, color="#4b5563")


def layer_chart(report: CostReport) -> Figure:
    """Per-layer bars of one model: MACs, parameters and activation memory, one panel each.

    The x axis is the forward pass (layers in schedule order); top-level blocks are shaded.
    """
    layers = report.layers
    figure = new_figure(12, 7.5)
    axes = figure.subplots(3, 1, sharex=True)
    positions = list(range(len(layers)))
    names = [x.name for x in layers]
    for ax, (attr, title, is_bytes) in zip(axes, METRICS):
        values = [getattr(x, attr) for x in layers]
        scale, unit = _byte_unit(max(values, default=0)) if is_bytes else _count_unit(values)
        bars = ax.bar(positions, [v / scale for v in values], width=0.85,
                      color=COLOURS[attr])
        ax.set_ylim(0, max(values, default=0) / scale * 1.15 or 1)  # room for the block names
        for bar, name in zip(bars, names):
            bar.set_gid(f"{attr}:{name}")
        label = title if attr != "macs" else f"MACs ({report.convention.name})"
        total = getattr(report.totals, attr)
        ax.set_ylabel(f"{label}" + (f" ({unit})" if unit else ""))
        ax.set_title(f"{label}: total {_human(total, is_bytes)}", fontsize=8, loc="left")
        _block_bands(ax, names)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1].set_xlabel("forward pass: layers in schedule order")
    axes[-1].set_xlim(-0.5, max(len(layers) - 0.5, 0.5))
    heading = report.model + (f" @ {report.variant}" if report.variant else "")
    figure.suptitle(f"{heading}: per-layer cost · batch {report.batch} · {report.dtype}",
                    fontsize=10)
    return figure


def _count_unit(values: Sequence[int]) -> tuple[int, str]:
    top = max(values, default=0)
    for scale, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if top >= scale:
            return scale, unit
    return 1, ""


def diff_chart(diff: DiffReport, rows: Sequence[DiffRow]) -> Figure:
    """MACs and parameters of A and B side by side for ``rows`` (the top-level ones)."""
    height = 1.4 + 0.3 * len(rows)
    figure = new_figure(11, height)
    axes = figure.subplots(1, 2, sharey=True)
    positions = list(range(len(rows)))
    for ax, (attr, title) in zip(axes, (("macs", "MACs"), ("params", "parameters"))):
        for offset, side, colour in ((-0.2, "a", "#94a3b8"), (0.2, "b", COLOURS["macs"]
                                                                if attr == "macs" else
                                                                COLOURS["params_total"])):
            values = [getattr(getattr(r, attr), side) or 0 for r in rows]
            label = getattr(diff, side).label
            bars = ax.barh([p + offset for p in positions], values, height=0.38, color=colour,
                           label=f"{side.upper()}: {label}")
            for bar, row in zip(bars, rows):
                bar.set_gid(f"{attr}:{side}:{row.name}")
        ax.xaxis.set_major_formatter(_count_formatter())
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(positions, [r.name for r in rows], fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=7, loc="lower right")
    return figure


def _count_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: format_count(round(v)))
