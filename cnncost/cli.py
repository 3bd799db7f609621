"""The ``cnncost`` command: the only place that prints or exits. Must not import torch.

``report``, ``diff``, ``table``, ``validate`` and ``schema`` stay on the analytic path: the API and the
renderers are imported inside the commands, so ``cnncost --help`` stays fast and nothing here
pulls in torch. Every ``CnncostError`` is caught in ``main`` and printed without a traceback;
the exit codes are those of ``cnncost.errors`` (2 usage, 3 invalid spec, 4 file access).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cnncost.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    CnncostError,
    FileAccessError,
    SpecError,
    UsageError,
)

if TYPE_CHECKING:
    from cnncost.cost.result import CostReport

#: Output formats of ``report`` and ``diff``.
FORMATS = ("table", "json", "csv", "markdown")

app = typer.Typer(
    name="cnncost",
    help="Exact analytic costs (parameters, MACs, FLOPs, memory, depth) of CNNs declared in YAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # our own errors never reach here; bugs get a plain traceback
    rich_markup_mode="markdown",  # help paragraphs reflow; [brackets] stay literal
)


class _SpecErrorIn(SpecError):
    """A SpecError that remembers which spec argument it came from (for the summary line)."""

    def __init__(self, file: str, err: SpecError) -> None:
        super().__init__(err.problems)
        self.file = file


# --------------------------------------------------------------------------- shared options

SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="NAME=VALUE", help="Override a spec parameter (repeatable); VALUE is YAML.")]
BatchOption = Annotated[int, typer.Option("--batch", min=1, metavar="N", help="Batch size.")]
DtypeOption = Annotated[str, typer.Option(
    "--dtype", help="Element type for memory figures: float32, float16, bfloat16 or int8.")]
DepthOption = Annotated[int | None, typer.Option(
    "--depth", metavar="N",
    help="Collapse rows deeper than N dotted levels into their block (default: all).")]
ConventionOption = Annotated[str, typer.Option(
    "--convention", help="Counting convention: cnncost, torchvision, fvcore or connections.")]
FormatOption = Annotated[str, typer.Option(
    "--format", "-f", help="Output format: table, json, csv or markdown.")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.",
    dir_okay=False)]
WidthOption = Annotated[int | None, typer.Option(
    "--width", min=40, metavar="N",
    help="Console width for --format table (default: terminal, or 120).")]
ExactOption = Annotated[bool, typer.Option(
    "--exact", help="Table: exact integers instead of 1.50 G / 6.62 M.")]


def _choice(what: str, value: str, choices: Sequence[str]) -> str:
    """Raises: UsageError: ``value`` is not one of ``choices`` (listing them)."""
    if value not in choices:
        raise UsageError(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
    return value


def _check_common(dtype: str, convention: str, fmt: str, depth: int | None) -> None:
    from cnncost import api

    _choice("dtype", dtype, tuple(api.DTYPES))
    _choice("convention", convention, api.CONVENTIONS)
    _choice("format", fmt, FORMATS)
    if depth is not None and depth < 1:
        raise UsageError(f"--depth must be at least 1, got {depth}")


def _analyze(path: Path, variant: str | None, overrides: dict[str, Any], batch: int, dtype: str,
             convention: str) -> CostReport:
    from cnncost import api

    try:
        return api.analyze(path, variant=variant, overrides=overrides, batch=batch, dtype=dtype,
                           convention=convention)
    except SpecError as err:
        raise _SpecErrorIn(str(path), err) from None


def _emit(text: str, output: Path | None) -> None:
    """Write ``text`` to ``output`` or to standard output.

    Raises:
        FileAccessError: ``output`` cannot be written.
    """
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise FileAccessError(f"cannot write {output}: {err.strerror or err}") from None
    typer.echo(f"wrote {output}", err=True)


def _emit_rich(renderable: Any, output: Path | None, width: int | None) -> None:
    """A rich renderable on the terminal (colour where supported) or as plain text in a file."""
    from cnncost.report.table import render_text

    if output is not None:
        _emit(render_text(renderable, width or 120), output)
        return
    from rich.console import Console

    console = Console(width=width, highlight=False, emoji=False)
    if width is None and not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=120, highlight=False, emoji=False)
    console.print(renderable)


# --------------------------------------------------------------------------- commands


@app.command()
def report(
    spec: Annotated[str, typer.Argument(help="spec.yaml or spec.yaml@variant")],
    variant: Annotated[str | None, typer.Option(
        "--variant", help="Variant name (or write SPEC@VARIANT).")] = None,
    set_: SetOption = None,
    batch: BatchOption = 1,
    dtype: DtypeOption = "float32",
    depth: DepthOption = None,
    convention: ConventionOption = "cnncost",
    fmt: FormatOption = "table",
    output: OutputOption = None,
    width: WidthOption = None,
    exact: ExactOption = False,
) -> None:
    """Per-layer and per-block costs of one spec, with totals and the counting convention."""
    from cnncost import api

    _check_common(dtype, convention, fmt, depth)
    path, ref_variant = api.parse_spec_ref(spec)
    if ref_variant and variant and ref_variant != variant:
        raise UsageError(f"variant given twice: {spec!r} and --variant {variant}")
    overrides = api.parse_overrides(list(set_ or []))
    result = _analyze(path, variant or ref_variant, overrides, batch, dtype, convention)
    if fmt == "table":
        from cnncost.report.table import render_report

        _emit_rich(render_report(result, depth=depth, exact=exact), output, width)
        return
    from cnncost.report import formats

    text = {"json": lambda: formats.to_json(result), "csv": lambda: formats.to_csv(result),
            "markdown": lambda: formats.to_markdown(result, depth=depth)}[fmt]()
    _emit(text, output)


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="spec.yaml or spec.yaml@variant")],
    b: Annotated[str, typer.Argument(help="spec.yaml or spec.yaml@variant")],
    set_a: Annotated[list[str] | None, typer.Option(
        "--set-a", metavar="NAME=VALUE", help="Override a parameter of A (repeatable).")] = None,
    set_b: Annotated[list[str] | None, typer.Option(
        "--set-b", metavar="NAME=VALUE", help="Override a parameter of B (repeatable).")] = None,
    batch: BatchOption = 1,
    dtype: DtypeOption = "float32",
    depth: DepthOption = None,
    convention: ConventionOption = "cnncost",
    fmt: FormatOption = "table",
    output: OutputOption = None,
    width: WidthOption = None,
    exact: ExactOption = False,
) -> None:
    """Compare two specs or variants block by block (B relative to A)."""
    from cnncost import api
    from cnncost.report import diff as diffs

    _check_common(dtype, convention, fmt, depth)
    sides = []
    for ref, items in ((a, set_a or []), (b, set_b or [])):
        path, variant = api.parse_spec_ref(ref)
        overrides = api.parse_overrides(list(items))
        label = f"{path.name}@{variant}" if variant else path.name
        if items:
            label += " [" + ", ".join(items) + "]"
        sides.append((label, _analyze(path, variant, overrides, batch, dtype, convention)))
    (label_a, report_a), (label_b, report_b) = sides
    result = diffs.diff_reports(report_a, report_b, label_a=label_a, label_b=label_b)
    if fmt == "table":
        _emit_rich(diffs.render_diff(result, depth=depth, exact=exact), output, width)
        return
    text = {"json": lambda: diffs.diff_to_json(result), "csv": lambda: diffs.diff_to_csv(result),
            "markdown": lambda: diffs.diff_to_markdown(result, depth=depth)}[fmt]()
    _emit(text, output)


@app.command()
def table(
    specs: Annotated[list[Path], typer.Argument(
        help="Spec files or directories (a directory: its *.yaml files).")],
    batch: BatchOption = 1,
    dtype: DtypeOption = "float32",
    convention: ConventionOption = "cnncost",
    fmt: FormatOption = "table",
    output: OutputOption = None,
    width: WidthOption = None,
    exact: ExactOption = False,
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", metavar="NAME=V1,V2|NAME=START:STOP:STEP",
        help="Sweep one spec: every combination of these parameter values, one row each "
             "(repeatable; NAME may be 'variant', and 'variant=*' means every variant).")] = None,
    pareto: Annotated[str | None, typer.Option(
        "--pareto", metavar="METRIC,METRIC",
        help="With --grid: mark the Pareto front on two metrics (e.g. macs,params_total or "
             "macs,top1; lower is better, higher for top1/top5).")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", min=1, metavar="N",
        help="With --grid: worker processes for a large grid (default: one per core).")] = None,
) -> None:
    """One row per model and variant: weights, parameters, depth, MACs, memory, accuracy.

    With --grid, one row per combination of parameter values of one spec (a design-space
    sweep), optionally with its Pareto front.
    """
    from cnncost.report import zoo

    _check_common(dtype, convention, fmt, None)
    if grid:
        _grid_table(specs, grid, pareto, jobs, batch=batch, dtype=dtype, convention=convention,
                    fmt=fmt, output=output, width=width, exact=exact)
        return
    if pareto or jobs:
        raise UsageError("--pareto and --jobs go with --grid")
    paths = zoo.spec_paths(specs)
    rows = []
    for path in paths:
        try:
            rows.extend(zoo.zoo_rows([path], convention=convention, dtype=dtype, batch=batch))
        except SpecError as err:
            raise _SpecErrorIn(str(path), err) from None
    if fmt == "table":
        _emit_rich(zoo.render_rich(rows, convention=convention, dtype=dtype, batch=batch,
                                   exact=exact), output, width or 200)
        return
    text = {"json": lambda: zoo.to_json(rows), "csv": lambda: zoo.to_csv(rows),
            "markdown": lambda: zoo.to_markdown(rows, convention=convention, dtype=dtype,
                                                batch=batch)}[fmt]()
    _emit(text, output)


def _grid_table(specs: list[Path], items: list[str], pareto: str | None, jobs: int | None, *,
                batch: int, dtype: str, convention: str, fmt: str, output: Path | None,
                width: int | None, exact: bool) -> None:
    """``table --grid``: a sweep of one spec (see ``cnncost.report.grid``)."""
    from cnncost import api
    from cnncost.report import grid as g
    from cnncost.report.zoo import caption

    if len(specs) != 1:
        raise UsageError("--grid sweeps one spec (spec.yaml or spec.yaml@variant)")
    path, variant = api.parse_spec_ref(str(specs[0]))
    axes = [g.parse_axis(item) for item in items]
    try:
        rows = g.sweep(path, axes, variant=variant, convention=convention, dtype=dtype,
                       batch=batch, jobs=jobs, pareto=g.parse_pareto(pareto))
    except SpecError as err:
        raise _SpecErrorIn(str(path), err) from None
    text = caption(convention, dtype, batch)
    if fmt == "table":
        _emit_rich(g.render_rich(rows, caption=text, exact=exact), output, width or 200)
        return
    _emit({"json": lambda: g.to_json(rows), "csv": lambda: g.to_csv(rows),
           "markdown": lambda: g.to_markdown(rows, caption=text)}[fmt](), output)


@app.command()
def check(
    spec: Annotated[str, typer.Argument(help="spec.yaml or spec.yaml@variant")],
    variant: Annotated[str | None, typer.Option(
        "--variant", help="Variant name (or write SPEC@VARIANT).")] = None,
    set_: SetOption = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    batch: BatchOption = 1,
    dtype: Annotated[str, typer.Option(
        "--dtype", help="Torch dtype of the module and input: float32, float16 or bfloat16.")
    ] = "float32",
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    all_layers: Annotated[bool, typer.Option(
        "--all-layers", help="Show every layer, not only the differing ones.")] = False,
    width: WidthOption = None,
) -> None:
    """Build the spec as a torch module and prove the analytic numbers layer by layer.

    Output shapes (forward hooks), parameters and buffers, fvcore's per-module counts under the
    fvcore convention, FlopCounterMode under the torchvision convention; on CUDA also per-layer
    latency and peak memory, written under reports/gpu/. Exit 1 on any mismatch. Needs the
    torch extras (pip install -e ".[torch]").
    """
    import warnings

    from rich.console import Console

    from cnncost import api

    # fvcore traces with torch.jit, whose deprecation notice is not the user's concern
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.", category=FutureWarning)
    from cnncost.bridge.command import run_check
    from cnncost.bridge.render import check_renderable, check_to_json

    overrides = api.parse_overrides(list(set_ or []))
    console = Console(width=width or (None if sys.stdout.isatty() else 120), highlight=False,
                      emoji=False)
    try:
        run = run_check(spec, variant=variant, overrides=overrides, device=device, batch=batch,
                        dtype=dtype, fmt=fmt, progress=console)
    except SpecError as err:
        raise _SpecErrorIn(spec, err) from None
    if fmt == "json":
        console.out(check_to_json(run.report), end="", highlight=False)
    else:
        console.print(check_renderable(run.report, all_layers=all_layers))
        if run.profile_line:
            console.print(run.profile_line)
    raise typer.Exit(run.exit_code)


@app.command()
def sweep(
    specs: Annotated[list[str] | None, typer.Argument(
        help="Spec files, or directories standing for their *.yaml files.")] = None,
    device: Annotated[str, typer.Option("--device", help="cuda (or cpu: a dry run).")] = "cuda",
    batches: Annotated[list[int] | None, typer.Option(
        "--batch", min=1, metavar="N", help="Batch size (repeatable; default 1 and 64).")] = None,
    dtypes: Annotated[list[str] | None, typer.Option(
        "--dtype", help="float32, float16 or bfloat16 (repeatable; default float32 and "
                        "bfloat16).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", file_okay=False,
        help="Where the files go (default reports/gpu; required with --device cpu).")] = None,
    budget: Annotated[float | None, typer.Option(
        "--budget", metavar="SECONDS", min=0, help="Start no run after this many seconds.")] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed forwards.")] = 10,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed forwards.")] = 50,
    redo: Annotated[bool, typer.Option(
        "--redo", help="Run again the runs whose JSON file exists.")] = False,
    index_only: Annotated[bool, typer.Option(
        "--index-only", help="Only rewrite DIR/index.md from the JSON files there.")] = False,
) -> None:
    """Check and profile every spec, variant, batch and dtype on a device (the GPU zoo run).

    Each spec's default variant first, then the others; runs whose JSON file exists are
    skipped, so an interrupted sweep resumes. Writes `<stem>.json` / `.md` per run (as check
    --device cuda does) and index.md. Exit 1 if a check found a mismatch or a run failed.
    """
    import warnings

    from rich.console import Console

    from cnncost.bridge import sweep as sw
    from cnncost.report.zoo import spec_paths

    if out is None and device != "cuda" and not index_only:
        raise UsageError("--device cpu gives dry-run timings that do not belong in reports/gpu; "
                         "name a directory with --out")
    out_dir = out or Path("reports/gpu")
    console = Console(highlight=False, emoji=False,
                      width=None if sys.stdout.isatty() else 120)
    if index_only:
        console.print(f"wrote {sw.write_index(out_dir)}")
        return
    if not specs:
        raise UsageError("name the specs to sweep (files, or directories such as specs/)")
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.", category=FutureWarning)
    paths = spec_paths(specs)
    try:
        jobs = sw.plan(paths, batches or [1, 64], dtypes or ["float32", "bfloat16"])
    except SpecError as err:
        raise _SpecErrorIn(", ".join(specs), err) from None
    result = sw.run_sweep(jobs, out_dir, device=device, warmup=warmup, repeats=repeats,
                          budget_s=budget, redo=redo, progress=console, on_run=console.print)
    console.print(f"{len(result.done)} run, {len(result.skipped)} already there, "
                  f"{len(result.not_run)} not run; wrote {result.index}")
    for what, jobs_ in (("not run", result.not_run),
                        ("out of device memory", result.out_of_memory),
                        ("CHECK MISMATCH", result.check_failures), ("FAILED", result.errors)):
        for job in jobs_:
            console.print(f"  {what}: {job.label}")
    if result.interrupted:
        console.print("interrupted: the run in progress was abandoned; run again to resume")
        raise typer.Exit(130)
    bad = result.check_failures + result.errors
    raise typer.Exit(EXIT_CHECK_FAILED if bad else EXIT_OK)


@app.command()
def validate(
    specs: Annotated[list[str], typer.Argument(help="Spec files (spec.yaml or spec.yaml@variant).")],
) -> None:
    """Check specs (every variant, or the one named) and their checked documented figures.

    Prints 'ok' per valid file, or every problem found (exit 3); a documented figure that the
    spec does not compute is named with the computed value and its convention (exit 1).
    """
    from cnncost import api
    from cnncost.cost.documented import failure_text

    worst = EXIT_OK
    for spec in specs:
        path, variant = api.parse_spec_ref(spec)
        try:
            names = api.validate(path, variant)
            verdicts = api.check_documented(path, variant)
        except SpecError as err:
            _print_error(_SpecErrorIn(spec, err))
            worst = max(worst, err.exit_code)
            continue
        except CnncostError as err:
            _print_error(err)
            worst = max(worst, err.exit_code)
            continue
        wrong = [(name, v) for name, v in verdicts if v.status == "mismatch"]
        for name, v in wrong:
            typer.echo(failure_text(v, f"{path}@{name}" if name else str(path)), err=True)
        count = f"{len(names)} variant" + ("" if len(names) == 1 else "s")
        figures = f", {len(verdicts) - len(wrong)} of {len(verdicts)} documented figures match"
        typer.echo(f"{'ok ' if not wrong else 'BAD'} {spec} ({count}{figures})")
        if wrong:
            worst = max(worst, EXIT_CHECK_FAILED)
    if worst != EXIT_OK:
        raise typer.Exit(worst)


@app.command()
def schema(output: OutputOption = None) -> None:
    """Print the JSON Schema of the spec format (for editors)."""
    from cnncost import api

    _emit(json.dumps(api.json_schema(), indent=2) + "\n", output)


# --------------------------------------------------------------------------- entry point


def _print_error(err: CnncostError) -> None:
    if isinstance(err, SpecError):
        for problem in err.problems:
            typer.echo(problem.format(), err=True)
        n = len(err.problems)
        where = f" in {err.file}" if isinstance(err, _SpecErrorIn) else ""
        typer.echo(f"{n} problem{'' if n == 1 else 's'}{where}", err=True)
    else:
        typer.echo(f"error: {err}", err=True)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point: run the app, turn typed errors into messages and exit codes."""
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="cnncost",
                   standalone_mode=False)
    except CnncostError as err:
        _print_error(err)
        raise SystemExit(err.exit_code) from None
    except typer.TyperException as err:  # typer's own (vendored click): bad option, exit 2
        show = getattr(err, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {err.format_message()}", err=True)
        raise SystemExit(err.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    except BrokenPipeError:  # ``cnncost report ... | head``
        sys.stderr.close()
        raise SystemExit(EXIT_OK) from None
    raise SystemExit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
