"""Documented figures: which apply, how they compare with the computed ones, how they read.

Must not import torch. The one owner of a spec's ``documented:`` figures: the report and its
totals panel, the zoo table, ``cnncost validate``, the pytest plugin and the repository's own
tests all ask this module, so that a figure shown with a tick is a figure the tests pass.

- **Which apply.** A figure names a variant, or none: then it documents the spec's default
  configuration (no variant, or the spec's ``default_variant``). Overrides that change a
  parameter make a different network, which no figure documents.
- **How they compare.** An integer without a unit is exact (``25_557_032`` must be computed to
  the unit). A figure with a unit is rounded in that unit at the precision it is written with in
  the spec (``0.70 G`` keeps its two decimals: the text as written is kept, not the float). A
  figure is compared under its own counting convention (``connections`` for the connections
  metric), and figures of per-image metrics only at batch 1; anything else is shown, not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cnncost.cost.result import CostReport, DocumentedFigure, Totals

#: Documented metrics that have a computed counterpart in ``Totals`` (``params`` is an alias).
DOCUMENTED_METRICS = {
    "params": "params_total",
    "params_total": "params_total",
    "params_trainable": "params_trainable",
    "params_non_trainable": "params_non_trainable",
    "weight_bytes": "weight_bytes",
    "macs": "macs",
    "connections": "macs",  # the connections convention reports them in the MACs column
    "flops": "flops",
    "activation_bytes": "activation_bytes",
    "peak_activation_bytes": "peak_activation_bytes",
    "depth": "depth",
    "weighted_depth": "weighted_depth",
    "layers": "layers",
}
#: Metrics that scale with the batch; documented figures for them are per image (batch 1).
BATCH_METRICS = frozenset({"macs", "flops", "activation_bytes", "peak_activation_bytes"})
#: Unit suffixes a documented figure may carry (``unit: G`` beside ``value: 1.5``).
UNIT_SCALE = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "B": 1,
              "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def applies(figure_variant: str | None, variant: str | None, default_variant: str | None) -> bool:
    """Whether a figure documenting ``figure_variant`` applies to ``variant`` (the variant the
    analysis ran, after the default was chosen)."""
    if figure_variant is None:
        return variant is None or variant == default_variant
    return figure_variant == variant


def figures_for(loaded: Any, variant: str | None, *, overridden: bool = False
                ) -> tuple[DocumentedFigure, ...]:
    """The figures of ``loaded`` (a LoadedSpec) that apply to ``variant``; none when overrides
    change a parameter (``overridden``)."""
    if overridden:
        return ()
    spec = loaded.spec
    out = []
    for i, d in enumerate(spec.documented):
        if not applies(d.variant, variant, spec.default_variant):
            continue
        written = loaded.source.float_texts.get(("documented", i, "value"))
        out.append(DocumentedFigure(d.metric, d.value, d.source, d.variant, d.note,
                                    d.convention, d.unit, checked=d.checked,
                                    written=written))
    return tuple(out)


def variants_to_check(spec: Any) -> tuple[str | None, ...]:
    """The variants whose figures are checked: every variant, and the bare spec (None) when it
    has no variants, or has figures without a variant and no default variant to carry them."""
    names: tuple[str | None, ...] = tuple(spec.variants)
    if not names or (spec.default_variant is None
                     and any(d.variant is None for d in spec.documented)):
        names = (*names, None)
    return names


def convention_of(figure: DocumentedFigure) -> str | None:
    """The counting convention a figure is documented under (None: any)."""
    return figure.convention or ("connections" if figure.metric == "connections" else None)


@dataclass(frozen=True)
class Verdict:
    """A figure beside its computed value.

    ``status``: "match", "mismatch", or why it is not compared: "convention" (documented under
    another one), "batch" (a per-image figure at another batch), "unit" (a rounded figure without
    a unit, or a unit off by more than 10x), "metric" (nothing computed to compare with).
    """

    figure: DocumentedFigure
    computed: int | None
    status: str
    relative: float | None = None  # (computed - documented) / documented, for rounded figures

    @property
    def compared(self) -> bool:
        return self.status in ("match", "mismatch")


def _decimals(figure: DocumentedFigure) -> tuple[Decimal, int]:
    """The figure's value as written, and its number of decimals."""
    try:
        written = Decimal(figure.written if figure.written is not None else str(figure.value))
    except InvalidOperation:
        written = Decimal(0)
    exponent = written.as_tuple().exponent
    return written, max(-exponent, 0) if isinstance(exponent, int) else 0


def verdict(figure: DocumentedFigure, report: CostReport) -> Verdict:
    """Compare ``figure`` with ``report`` (see the module docstring for the rules)."""
    attr = DOCUMENTED_METRICS.get(figure.metric)
    value, unit = figure.value, figure.unit or ""
    if attr is None or isinstance(value, (bool, str)) or unit not in UNIT_SCALE:
        return Verdict(figure, None, "metric")
    totals: Totals = report.totals
    computed = int(getattr(totals, attr))
    convention = convention_of(figure)
    if figure.metric in BATCH_METRICS and report.batch != 1:
        return Verdict(figure, computed, "batch")
    if convention and convention != report.convention.name:
        return Verdict(figure, computed, "convention")
    if isinstance(value, int) and not unit:
        return Verdict(figure, computed, "match" if value == computed else "mismatch")
    expected = value * UNIT_SCALE[unit]
    relative = (computed - expected) / expected if expected else None
    # a figure off by more than 10x has lost its unit on the way here: no number beats a wrong one
    if relative is None or abs(relative) > 10:
        return Verdict(figure, computed, "unit")
    if not unit:  # a rounded figure without a unit: its precision is unknown
        return Verdict(figure, computed, "unit", relative)
    written, decimals = _decimals(figure)
    shown = round(Decimal(computed) / UNIT_SCALE[unit], decimals)
    return Verdict(figure, computed, "match" if shown == written else "mismatch", relative)


def value_text(figure: DocumentedFigure) -> str:
    """The figure's value as the spec writes it, with its unit."""
    value = figure.value
    if figure.written is not None:
        text = figure.written
    elif isinstance(value, int | float) and not isinstance(value, bool) and float(
            value).is_integer() and abs(value) < 1e18:
        text = f"{int(value):,}"
    else:
        text = str(value)
    return text + (f" {figure.unit}" if figure.unit else "")


def mark(v: Verdict) -> str:
    """`` ✓``, `` ✗ (Δ +200)``, `` ✓ (computed +0.04 %)``, or why it is not compared."""
    if v.status == "batch":
        return " (per image; batch differs)"
    if v.status == "convention":
        return f" (under convention {convention_of(v.figure)})"
    percent = f"computed {100 * v.relative:+.2f} %" if v.relative is not None else ""
    if v.status == "unit":
        return f" ({percent})" if percent else ""
    if v.status == "metric":
        return ""
    tick = " ✓" if v.status == "match" else " ✗"
    if percent:
        return f"{tick} ({percent})"
    if v.status == "mismatch" and v.computed is not None and isinstance(v.figure.value, int):
        return f"{tick} (Δ {v.computed - v.figure.value:+,})"
    return tick


def documented_text(figure: DocumentedFigure, report: CostReport) -> str:
    """``'documented 6,624,904 ✓ · source; note'``: the value, its verdict, where it is from."""
    where = "; ".join(x for x in (figure.source, figure.note) if x)
    return (f"documented {value_text(figure)}{mark(verdict(figure, report))}"
            + (f" · {where}" if where else ""))


def failure_text(v: Verdict, label: str) -> str:
    """One line naming a figure that does not match: the figure, the computed value and the
    convention (for ``cnncost validate`` and the pytest plugin)."""
    f = v.figure
    convention = convention_of(f) or "cnncost"
    unit = f" {f.unit}" if f.unit else ""
    computed = f"{v.computed:,}" if v.computed is not None else "nothing"
    if f.unit and v.computed is not None:
        _, decimals = _decimals(f)
        computed += f" ({Decimal(v.computed) / UNIT_SCALE[f.unit]:.{decimals}f}{unit})"
    return (f"{label}: documented {f.metric} {value_text(f)} ({f.source}) but computed "
            f"{computed} under convention {convention}")
