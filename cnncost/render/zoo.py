"""The zoo pictures: accuracy against MACs, variant curves, and the committed zoo page and chart.

Must not import torch. The zoo chart is the figure of Canziani et al. (2016), "An Analysis of
Deep Neural Network Models for Practical Applications": documented top-1 accuracy against
operations, bubble area proportional to parameters, drawn from ``cnncost table``'s rows
(``report.zoo.ZooRow``). ``render.committed`` writes ``reports/zoo.html`` and ``reports/zoo.png``
with ``write_zoo_pictures``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost.cost.result import CostReport
from cnncost.errors import FileAccessError, UsageError
from cnncost.render.charts import new_figure, save
from cnncost.report.table import format_count
from cnncost.report.zoo import ZOO_CONVENTION, ZooRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Marker area (points²) per million parameters: VGG-16's 138 M is a bubble ~16 pt across.
AREA_PER_MPARAM = 6.0
#: Steps adjustText takes to move labels off each other.
ITERATIONS = 150
#: PNG text chunk that carries the plotted points, so a test can tell a stale picture.
DATA_KEY = "cnncost-data"


def short_label(row: ZooRow) -> str:
    """``resnet50`` for ``resnet@resnet50`` (the variant names the model), else ``model variant``."""
    if not row.variant:
        return row.model
    stem = row.model.split("_")[0]
    return row.variant if stem in row.variant else f"{row.model} {row.variant}"


def zoo_points(rows: Sequence[ZooRow]) -> list[dict[str, Any]]:
    """The bubbles: every row with a documented top-1, in table order."""
    return [{"label": short_label(r), "model": r.model, "variant": r.variant, "macs": r.macs,
             "params_total": r.params_total, "top1": r.top1} for r in rows if r.top1 is not None]


def zoo_chart(rows: Sequence[ZooRow], *, convention: str) -> Figure:
    """Top-1 accuracy against MACs (log scale), one bubble per model and variant, area ∝ params.

    Raises:
        UsageError: no row documents a top-1 accuracy.
        MissingDependency: matplotlib is not installed.
    """
    points = zoo_points(rows)
    if not points:
        raise UsageError("no spec documents a top-1 accuracy (documented: metric top1): nothing "
                         "to plot")
    from matplotlib import colormaps
    from matplotlib.collections import PathCollection

    figure = new_figure(12, 8)
    ax = figure.subplots()
    models = list(dict.fromkeys(p["model"] for p in points))
    palette = colormaps["tab20"]
    texts = []
    for i, model in enumerate(models):
        mine = [p for p in points if p["model"] == model]
        colour = palette(i % 20)
        collection = ax.scatter([p["macs"] for p in mine], [100 * p["top1"] for p in mine],
                                s=[AREA_PER_MPARAM * p["params_total"] / 1e6 for p in mine],
                                color=colour, alpha=0.55, edgecolors="#1f2937", linewidths=0.5,
                                label=model)
        collection.set_gid(f"model:{model}")
        for p in mine:
            texts.append(ax.text(p["macs"], 100 * p["top1"], p["label"], fontsize=6.5,
                                 color="#111827"))
    ax.set_xscale("log")
    _count_ticks(ax.xaxis)
    ax.set_xlabel(f"MACs per image ({convention} convention, log scale)")
    ax.set_ylabel("top-1 accuracy (%, documented)")
    ax.set_title("Accuracy against operations; bubble area ∝ parameters "
                 "(after Canziani et al. 2016)", fontsize=11)
    ax.grid(True, which="both", alpha=0.25)
    ax.margins(0.08)
    _size_key(ax)
    legend = ax.legend(loc="lower right", fontsize=7, ncols=2, title="model", title_fontsize=8)
    for handle in legend.legend_handles:  # one size in the key: colour names the model
        if isinstance(handle, PathCollection):
            handle.set_sizes([30])
    _declutter(ax, texts)
    return figure


def _count_ticks(axis: Any) -> None:
    """Ticks written as counts (``500 M``, ``2.00 G``), not powers of ten; 1-2-5 on a log axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if axis.get_scale() == "log":
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _: format_count(round(v))))


def _size_key(ax: Any) -> None:
    """Three grey bubbles in the upper left that say what an area means."""
    for i, mparams in enumerate((5, 25, 100)):
        x, y = 0.04 + 0.07 * i, 0.93
        ax.scatter([x], [y], s=[AREA_PER_MPARAM * mparams], transform=ax.transAxes, color="#9ca3af",
                   alpha=0.5, edgecolors="#374151", linewidths=0.5, clip_on=False)
        ax.text(x, y - 0.045, f"{mparams} M", transform=ax.transAxes, ha="center", fontsize=7)
    ax.text(0.04, 0.985, "parameters", transform=ax.transAxes, fontsize=7, va="top")


def _declutter(ax: Any, texts: list[Any]) -> None:
    """Move labels off each other with adjustText, when it is installed."""
    try:
        from adjustText import adjust_text
    except ImportError:
        return
    # a number of steps, not adjustText's default of one second: the same picture every time
    adjust_text(texts, ax=ax, arrowprops={"arrowstyle": "-", "color": "#6b7280", "lw": 0.4},
                expand=(1.1, 1.5), ensure_inside_axes=True, iter_lim=ITERATIONS)


# --------------------------------------------------------------------------- variant curves


@dataclass(frozen=True)
class VariantPoint:
    variant: str
    values: dict[str, float | str]  # macs, params, top1, top5, and every scalar spec parameter


def variant_points(reports: Sequence[CostReport]) -> list[VariantPoint]:
    """One point per report (a spec's variants): its totals, documented accuracy, parameters."""
    from cnncost.report.zoo import row_of

    out = []
    for report in reports:
        row = row_of(report, Path(report.spec_file or report.model))
        values: dict[str, float | str] = {"macs": row.macs, "params": row.params_total,
                                    "flops": row.flops,
                                    "peak_activation_bytes": row.peak_activation_bytes}
        if row.top1 is not None:
            values["top1"] = 100 * row.top1
        if row.top5 is not None:
            values["top5"] = 100 * row.top5
        for name, value in report.params.items():
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                values.setdefault(name, value)
        out.append(VariantPoint(report.variant or report.model, values))
    return out


def variant_chart(points: Sequence[VariantPoint], *, x: str, y: str, group: str | None,
                  title: str) -> Figure:
    """``y`` against ``x`` over a spec's variants, one curve per value of ``group``.

    Raises:
        UsageError: fewer than two variants have both ``x`` and ``y`` (the message lists what
            the variants do have).
    """
    usable = [p for p in points if _number(p, x) and _number(p, y)
              and (group is None or group in p.values)]
    if len(usable) < 2:
        counts: dict[str, int] = {}
        for p in points:
            for key in p.values:
                counts[key] = counts.get(key, 0) + 1
        have = ", ".join(f"{k} ({n})" for k, n in sorted(counts.items()))
        raise UsageError(f"fewer than two variants have numbers for both {x} and {y}"
                         + (f" and a {group}" if group else "") + f"; the variants have: {have}")
    if group is None:  # a text parameter that tells the variants apart (flavor) makes the curves
        words = [k for k in usable[0].values if all(isinstance(p.values.get(k), str) for p in usable)
                 and len({p.values[k] for p in usable}) > 1]
        group = words[0] if len(words) == 1 else None
    figure = new_figure(9, 6)
    ax = figure.subplots()
    groups: dict[Any, list[VariantPoint]] = {}
    texts: list[Any] = []
    for p in usable:
        groups.setdefault(p.values[group] if group else "", []).append(p)
    for key, members in groups.items():
        members.sort(key=lambda p: float(p.values[x]))
        xs, ys = [float(p.values[x]) for p in members], [float(p.values[y]) for p in members]
        (line,) = ax.plot(xs, ys, "o-", ms=4, label=f"{group} = {key}" if group else None)
        line.set_gid(f"curve:{key}")
        texts += [ax.text(px, py, p.variant, fontsize=6.5, color="#374151")
                  for px, py, p in zip(xs, ys, members)]
    ax.set_xlabel(_axis_name(x))
    ax.set_ylabel(_axis_name(y))
    for key, axis in ((x, ax.xaxis), (y, ax.yaxis)):
        if key in ("macs", "flops", "params"):
            if _spread(usable, key) > 20:
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
            _count_ticks(axis)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if group:
        ax.legend(fontsize=8)
    _declutter(ax, texts)
    return figure


def _number(point: VariantPoint, key: str) -> bool:
    return isinstance(point.values.get(key), (int, float))


def _spread(points: Sequence[VariantPoint], key: str) -> float:
    values = [float(p.values[key]) for p in points if float(p.values[key]) > 0]
    return max(values) / min(values) if values else 1.0


def _axis_name(key: str) -> str:
    return {"macs": "MACs", "flops": "FLOPs", "params": "parameters",
            "peak_activation_bytes": "peak live activations (bytes)",
            "top1": "top-1 accuracy (%, documented)",
            "top5": "top-5 accuracy (%, documented)"}.get(key, key)


# --------------------------------------------------------------------------- rows from JSON


def rows_from_json(path: Path) -> list[ZooRow]:
    """The rows ``cnncost table --format json`` wrote.

    Raises:
        FileAccessError: the file cannot be read or is not such a table.
    """
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [ZooRow(**{**item, "input_shape": tuple(item["input_shape"])}) for item in items]
    except OSError as err:
        raise FileAccessError(f"cannot read {path}: {err.strerror or err}") from None
    except (ValueError, TypeError, KeyError) as err:
        raise FileAccessError(f"{path} is not the JSON of cnncost table: {err}") from None


# --------------------------------------------------------------------------- committed pictures


def zoo_data(rows: Sequence[ZooRow]) -> list[dict[str, Any]]:
    """What the committed pictures show, as the test compares it: every row, as JSON values."""
    return [{**asdict(r), "input_shape": list(r.input_shape)} for r in rows]


def write_zoo_pictures(rows: Sequence[ZooRow], out_dir: Path) -> list[Path]:
    """Write ``out_dir/zoo.html`` (the sortable table with the chart) and ``out_dir/zoo.png``."""
    from cnncost.render.html import zoo_page

    page = out_dir / "zoo.html"
    page.write_text(zoo_page(rows, convention=ZOO_CONVENTION, dtype="float32", batch=1),
                    encoding="utf-8")
    picture = out_dir / "zoo.png"
    save(zoo_chart(rows, convention=ZOO_CONVENTION), picture, "png",
         metadata={DATA_KEY: json.dumps(zoo_points(rows), sort_keys=True)})
    return [page, picture]


def describe(rows: Sequence[ZooRow]) -> str:
    """One line for the page: how many models, variants and bubbles."""
    bubbles = len(zoo_points(rows))
    return (f"{len({r.model for r in rows})} models, {len(rows)} variants; {bubbles} document a "
            f"top-1 accuracy; the largest has {format_count(max(r.macs for r in rows))} MACs")

