"""Design-space sweeps: every combination of parameter values, one row each, and a Pareto front.

Must not import torch. ``cnncost table SPEC --grid alpha=0.25,0.5,0.75,1.0 --grid
resolution=96:224:32 --pareto macs,top1`` evaluates every combination (the first ``--grid``
varies slowest) and writes the zoo table's columns after the grid's own. ``variant`` is a grid
key too (``--grid variant=*`` for every variant), which is how documented accuracy enters a sweep:
a documented figure applies to a variant as documented, not to a network whose parameters a
sweep changed. A combination that is not a valid network (a resolution too small for the
strides) is a row with its first problem instead of numbers, and is never on the front.

Large grids are spread over worker processes (one per core by default), each loading the spec
once and evaluating a run of combinations; rows come back in the grid's order, so the output does
not depend on the number of workers.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cnncost.errors import CnncostError, SpecError, UsageError, excerpt
from cnncost.gcpause import paused
from cnncost.limits import current, holding
from cnncost.report.formats import json_text, md_table
from cnncost.report.zoo import HEADER, ZooRow, cells, row_of

#: The most combinations one sweep may hold.
MAX_POINTS = 1_000_000
#: Grids at least this large are spread over worker processes.
PARALLEL_FROM = 64
#: Points evaluated between two collections of the young generations (``_evaluate``).
_COLLECT_EVERY = 50
#: Metrics the front can use: lower is better, except accuracies.
MAXIMISED = frozenset({"top1", "top5"})
METRICS = ("params_total", "params_trainable", "weight_bytes", "macs", "flops",
           "activation_bytes", "peak_activation_bytes", "depth", "weighted_depth", *MAXIMISED)


@dataclass(frozen=True)
class GridRow:
    """One combination: its values, its zoo row (None when it failed) and its place."""

    point: tuple[tuple[str, Any], ...]
    row: ZooRow | None
    error: str | None = None
    pareto: bool = False


def parse_axis(item: str) -> tuple[str, list[Any]]:
    """``"alpha=0.25,0.5"`` -> ``("alpha", [0.25, 0.5])``; ``"resolution=96:224:32"`` ->
    ``("resolution", [96, 128, 160, 192, 224])`` (the stop included when the steps land on it).

    Raises:
        UsageError: no ``=``, an empty list, or a range that is not ``start:stop:step`` with a
            step towards the stop.
    """
    from cnncost import api

    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or not text.strip():
        raise UsageError(f"--grid expects name=v1,v2,... or name=start:stop:step, got "
                         f"{excerpt(item)!r}")
    if text.count(":") == 2 and "," not in text:
        return key, _range(key, *text.split(":"))
    values = [api.parse_overrides([f"{key}={part.strip()}"])[key] for part in text.split(",")]
    return key, values


def _range(key: str, start: str, stop: str, step: str) -> list[Any]:
    try:
        a, b, s = (Decimal(x.strip()) for x in (start, stop, step))
    except InvalidOperation:
        raise UsageError(f"--grid {key}: start:stop:step must be numbers") from None
    if s == 0 or (b - a) * s < 0:
        raise UsageError(f"--grid {key}: the step {step} does not go from {start} to {stop}")
    count = int((b - a) / s) + 1
    if count > MAX_POINTS:
        raise UsageError(f"--grid {key}: {count:,} values; at most {MAX_POINTS:,} in a sweep")
    integral = all(x == x.to_integral_value() for x in (a, s))
    return [int(a + i * s) if integral else float(a + i * s) for i in range(count)]


def points(axes: Sequence[tuple[str, list[Any]]]) -> list[tuple[tuple[str, Any], ...]]:
    """Every combination, the first axis varying slowest.

    Raises:
        UsageError: a key given twice, or more than MAX_POINTS combinations.
    """
    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise UsageError(f"--grid names a parameter twice: {', '.join(keys)}")
    total = 1
    for _, values in axes:
        total *= len(values)
    if total > MAX_POINTS:
        raise UsageError(f"the grid has {total:,} combinations; at most {MAX_POINTS:,}")
    return [tuple(zip(keys, combo)) for combo in itertools.product(*(v for _, v in axes))]


def sweep(spec: Path, axes: Sequence[tuple[str, list[Any]]], *, variant: str | None = None,
          convention: str, dtype: str, batch: int, jobs: int | None = None,
          pareto: tuple[str, str] | None = None) -> list[GridRow]:
    """Evaluate every combination of ``axes`` on ``spec`` (``variant`` unless the grid varies
    it), marking the front on the ``pareto`` metrics; ``jobs`` worker processes for a large
    grid (default: one per core).

    Raises:
        UsageError: a bad grid, or a key that is not a parameter of the spec.
        SpecError, FileAccessError: the spec itself does not load.
    """
    from cnncost import api

    loaded = api.load(spec)
    axes = [(k, list(loaded.spec.variants) if k == "variant" and v == ["*"] else v)
            for k, v in axes]
    for key, _ in axes:
        if key != "variant" and key not in loaded.spec.params:
            known = ", ".join(loaded.spec.params) or "none"
            raise UsageError(f"--grid {key}: not a parameter of {loaded.spec.name} (parameters: "
                             f"{known}; or 'variant')")
    todo = points(axes)
    settings = (str(spec), variant, convention, dtype, batch)
    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1 or len(todo) < PARALLEL_FROM:
        _load(*settings)
        rows = _evaluate(todo)
    else:
        from concurrent.futures import ProcessPoolExecutor

        size = max(1, len(todo) // (jobs * 8))
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        with ProcessPoolExecutor(max_workers=jobs, initializer=_load,
                                 initargs=settings) as pool:
            rows = [row for chunk in pool.map(_evaluate, chunks) for row in chunk]
    return mark_pareto(rows, pareto)


# The spec and settings of one worker process (or of this process for a small grid).
_WORKER: dict[str, Any] = {}


def _load(spec: str, variant: str | None, convention: str, dtype: str, batch: int) -> None:
    from cnncost import api

    _WORKER.update(loaded=api.load(spec), spec=Path(spec), variant=variant,
                   convention=convention, dtype=dtype, batch=batch)


def _evaluate(chunk: list[tuple[tuple[str, Any], ...]]) -> list[GridRow]:
    w = _WORKER
    out: list[GridRow] = []
    # the limits in force when the sweep starts hold for all of it (read once, not per point)
    with paused(), holding(current()):
        for start in range(0, len(chunk), _COLLECT_EVERY):
            out.extend(_evaluate_run(chunk[start:start + _COLLECT_EVERY], w))
            # a point's expansion leaves no cycle (it unlinks its own), but a cycle a point
            # did leave would be young: collect the young generations only, never walking the
            # long-lived objects (cnncost.gcpause)
            gc.collect(1)
    return out


def _evaluate_run(chunk: list[tuple[tuple[str, Any], ...]], w: dict[str, Any]) -> list[GridRow]:
    from cnncost import api

    out = []
    for point in chunk:
        values = dict(point)
        variant = values.pop("variant", w["variant"])
        try:
            report = api.analyze(w["loaded"], variant=variant, overrides=values,
                                 convention=w["convention"], dtype=w["dtype"], batch=w["batch"],
                                 layers=False)
        except SpecError as err:
            first = err.problems[0] if err.problems else None
            out.append(GridRow(point, None, first.format() if first else str(err)))
            continue
        except CnncostError as err:
            out.append(GridRow(point, None, str(err)))
            continue
        out.append(GridRow(point, row_of(report, w["spec"])))
    return out


def mark_pareto(rows: list[GridRow], metrics: tuple[str, str] | None) -> list[GridRow]:
    """``rows`` with ``pareto`` set on those no other row beats on both ``metrics`` (lower is
    better, higher for accuracies); rows lacking a metric are never on the front.

    Raises:
        UsageError: a metric that is not one of METRICS.
    """
    if metrics is None:
        return rows
    for metric in metrics:
        if metric not in METRICS:
            raise UsageError(f"--pareto: unknown metric {metric!r}; choose from "
                             f"{', '.join(METRICS)}")
    signs = [-1 if m in MAXIMISED else 1 for m in metrics]
    scored = []
    for i, r in enumerate(rows):
        if r.row is None:
            continue
        values = [getattr(r.row, m) for m in metrics]
        if any(v is None for v in values):
            continue
        scored.append((signs[0] * values[0], signs[1] * values[1], i))
    # sweep by the first metric ascending (ties: the second ascending): a row is on the front
    # when its second metric is strictly below every earlier row's
    front: set[int] = set()
    best = None
    for first, second, i in sorted(scored):
        if best is None or second < best:
            front.add(i)
            best = second
    return [GridRow(r.point, r.row, r.error, i in front) for i, r in enumerate(rows)]


def parse_pareto(text: str | None) -> tuple[str, str] | None:
    """``"macs,params_total"`` -> ``("macs", "params_total")``.

    Raises:
        UsageError: not two known metrics.
    """
    if text is None:
        return None
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) != 2 or any(p not in METRICS for p in parts):
        raise UsageError(f"--pareto takes two metrics separated by a comma, from "
                         f"{', '.join(METRICS)}; got {excerpt(text)!r}")
    return parts[0], parts[1]


# ------------------------------------------------------------------ rendering


def _keys(rows: Sequence[GridRow]) -> list[str]:
    return [k for k, _ in rows[0].point] if rows else []


def _grid_cells(r: GridRow, exact: bool) -> list[str]:
    values = [str(v) for _, v in r.point]
    if r.row is None:
        return [*values, "", r.error or "", *[""] * (len(HEADER) - 1)]
    return [*values, "★" if r.pareto else "", *cells(r.row, exact)]


def render_rich(rows: Sequence[GridRow], *, caption: str, exact: bool = False) -> Any:
    from rich.table import Table

    table = Table(title="cnncost sweep", caption=caption, header_style="bold",
                  show_edge=False, pad_edge=False)
    keys = _keys(rows)
    for i, name in enumerate([*keys, "front", *HEADER]):
        table.add_column(name, justify="left" if i <= len(keys) + 2 else "right",
                         no_wrap=i == len(keys) + 1)
    for r in rows:
        table.add_row(*_grid_cells(r, exact))
    return table


def to_markdown(rows: Sequence[GridRow], *, caption: str) -> str:
    keys = _keys(rows)
    header = [*keys, "front", *HEADER]
    body = md_table(header, "l" * (len(keys) + 3) + "r" * (len(HEADER) - 2),
                    (_grid_cells(r, True) for r in rows))
    return f"{body}\n{caption}.\n"


def _flat(r: GridRow) -> dict[str, Any]:
    data: dict[str, Any] = dict(r.point)
    data["pareto"] = r.pareto
    data["error"] = r.error
    if r.row is not None:
        data.update(asdict(r.row))
    else:
        data.update({f.name: None for f in fields(ZooRow)})
    return data


def to_csv(rows: Sequence[GridRow]) -> str:
    buffer = io.StringIO()
    names = [*_keys(rows), "pareto", "error", *(f.name for f in fields(ZooRow))]
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        data = _flat(r)
        if r.row is not None:
            data["input_shape"] = "x".join(str(d) for d in r.row.input_shape)
        writer.writerow(data)
    return buffer.getvalue()


def to_json(rows: Sequence[GridRow]) -> str:
    return json_text([_flat(r) for r in rows])
