"""What ``cnncost draw`` and ``cnncost plot`` do between the command line and the renderers.

Must not import torch; imports matplotlib and graphviz only through the renderers it calls. The
CLI parses the options, calls these, and prints what they return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: ``cnncost plot --kind``.
PLOT_KINDS = ("zoo", "layers", "variants")
PLOT_FORMATS = ("png", "svg", "pdf")
_SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def output_format(output: Path | None, fmt: str | None, allowed: Sequence[str]) -> str:
    """The format named by ``--format``, else by the output's suffix.

    Raises:
        UsageError: neither names one of ``allowed``.
    """
    if fmt is None and output is not None:
        fmt = _SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        what = f"the suffix of {output.name!r}" if output is not None else "no output file"
        raise UsageError(f"cannot tell the format from {what}: use --format "
                         f"({', '.join(allowed)}) or one of those suffixes")
    if fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(allowed)}")
    return fmt


def zoo_rows_of(items: Sequence[str], *, convention: str, dtype: str, batch: int) -> list[Any]:
    """The zoo rows of spec files, directories (their ``*.yaml``) and ``cnncost table`` JSON.

    Raises:
        FileAccessError, SpecError: a file cannot be read or a spec is invalid.
    """
    from cnncost.render.zoo import rows_from_json
    from cnncost.report.zoo import spec_paths, zoo_rows

    rows = []
    for item in items:
        if item.endswith(".json"):
            rows.extend(rows_from_json(Path(item)))
        else:
            rows.extend(zoo_rows(spec_paths([item]), convention=convention, dtype=dtype,
                                 batch=batch))
    return rows


def plot_figure(kind: str, items: Sequence[str], *, convention: str, dtype: str, batch: int,
                overrides: Mapping[str, Any], x: str, y: str, group: str | None) -> Figure:
    """The figure ``cnncost plot`` draws.

    Raises:
        UsageError: an unknown kind, or a kind given the wrong number of specs.
        MissingDependency: matplotlib is not installed.
        FileAccessError, SpecError: a file cannot be read or a spec is invalid.
    """
    from cnncost import api
    from cnncost.render import charts, zoo

    if kind not in PLOT_KINDS:
        raise UsageError(f"unknown plot kind {kind!r}; choose from {', '.join(PLOT_KINDS)}")
    if kind == "zoo":
        return zoo.zoo_chart(zoo_rows_of(items, convention=convention, dtype=dtype, batch=batch),
                             convention=convention)
    if len(items) != 1:
        raise UsageError(f"--kind {kind} draws one spec; got {len(items)}")
    path, variant = api.parse_spec_ref(items[0])
    if kind == "layers":
        report = api.analyze(path, variant=variant, overrides=overrides, batch=batch,
                             dtype=dtype, convention=convention)
        return charts.layer_chart(report)
    loaded = api.load(path)
    names = tuple(loaded.spec.variants)
    if len(names) < 2:
        raise UsageError(f"{path} has {len(names)} variant(s); --kind variants needs two or more")
    reports = [api.analyze(loaded, variant=name, overrides=overrides, batch=batch, dtype=dtype,
                           convention=convention) for name in names]
    title = f"{reports[0].model}: its variants ({convention} convention)"
    return zoo.variant_chart(zoo.variant_points(reports), x=x, y=y, group=group, title=title)
