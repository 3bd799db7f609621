"""The ``cnncost`` command: the only place that prints or exits. Must not import torch.

``report``, ``diff``, ``table``, ``validate`` and ``schema`` stay on the analytic path: the API and the
renderers are imported inside the commands, so ``cnncost --help`` stays fast and nothing here
pulls in torch. The pictures (``--format html``, ``draw``, ``plot``) import matplotlib, jinja2
and graphviz only in the branch that draws. Every ``CnncostError`` is caught in ``main`` and
printed without a traceback; the exit codes are those of ``cnncost.errors`` (2 usage, 3 invalid
spec, 4 file access).

The annotations here are real objects, not strings (no ``from __future__ import annotations``):
typer reads every command's signature at each start, and string annotations would be compiled
and evaluated there each time (~14 ms a start, more than evaluating them once at import).
"""

import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
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

#: Output formats of ``report``, ``diff`` and ``table``.
FORMATS = ("table", "json", "csv", "markdown", "html")

app = typer.Typer(
    name="cnncost",
    help="Exact analytic costs (parameters, MACs, FLOPs, memory, depth) of CNNs declared in YAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # our own errors never reach here; bugs get a plain traceback
    rich_markup_mode="markdown",  # help paragraphs reflow; [brackets] stay literal
)


def _collector_paused(command: Callable[..., None]) -> Callable[..., None]:
    """Run an analytic command with Python's cyclic collector off (``cnncost.gcpause``): the
    modules it imports and the graph it builds hold no cycle that needs it, and collections
    that walk them all are time spent for nothing in a process that ends with the command. Not
    for ``check``, ``import`` and ``sweep``: tracing a torch module leaves cyclic garbage that
    the collector must free."""
    @wraps(command)
    def paused_command(*args: Any, **kwargs: Any) -> None:
        from cnncost.gcpause import paused

        with paused():
            command(*args, **kwargs)

    return paused_command


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
    help="Collapse rows deeper than N dotted levels into their block (default: all; 0: the "
         "totals only).")]
ConventionOption = Annotated[str, typer.Option(
    "--convention", help="Counting convention: cnncost, torchvision, fvcore or connections.")]
FormatOption = Annotated[str, typer.Option(
    "--format", "-f", help="Output format: table, json, csv, markdown or html.")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.",
    dir_okay=False)]
WidthOption = Annotated[int | None, typer.Option(
    "--width", min=40, metavar="N",
    help="Console width for --format table (default: terminal, or 120).")]
ExactOption = Annotated[bool, typer.Option(
    "--exact", help="Table: exact integers instead of 1.50 G / 6.62 M.")]


ModeOption = Annotated[str, typer.Option(
    "--mode", help="Memory of an inference forward or of a training step: inference or training.")]
OptimizerOption = Annotated[str, typer.Option(
    "--optimizer", help="Training: sgd, sgd_momentum, adam or adamw.")]
PrecisionOption = Annotated[str, typer.Option(
    "--precision", help="Training: float32, bf16 (bfloat16-autocast) or fp16 (float16-autocast).")]
MemoryModelOption = Annotated[str, typer.Option(
    "--memory-model", help="eager (what eager PyTorch allocates), liveness or sum.")]
MemoryDeviceOption = Annotated[str, typer.Option(
    "--memory-device", help="Whose dispatch and allocator the memory follows: cuda or cpu.")]
ImplementationOption = Annotated[str | None, typer.Option(
    "--optimizer-impl",
    help="foreach, for_loop or fused (default: PyTorch's for the memory device).")]


def _memory_config(mode: str, batch: int, dtype: str, precision: str, optimizer: str,
                   model: str, device: str, implementation: str | None) -> Any:
    """The MemoryConfig of the memory options (validated).

    Raises:
        UsageError: an unknown name or an impossible combination.
    """
    from cnncost.memory.models import PRECISION_ALIASES, MemoryConfig

    precision = PRECISION_ALIASES.get(precision, precision)
    return MemoryConfig(mode=mode, batch=batch, dtype=dtype, precision=precision,
                        optimizer=optimizer, model=model, device=device,
                        implementation=implementation).validate()


def _expand(path: Path, variant: str | None, overrides: dict[str, Any]) -> Any:
    """``path`` expanded once (an ``api.Expanded``), for every analysis of one command."""
    from cnncost import api

    try:
        return api.expand(api.load(path), variant=variant, overrides=overrides)
    except SpecError as err:
        raise _SpecErrorIn(str(path), err) from None


def _memory(path: Path, expanded: Any, config: Any) -> Any:
    from cnncost import api

    try:
        return api.memory(expanded, config)
    except SpecError as err:
        raise _SpecErrorIn(str(path), err) from None


def _choice(what: str, value: str, choices: Sequence[str]) -> str:
    """Raises: UsageError: ``value`` is not one of ``choices`` (listing them)."""
    if value not in choices:
        raise UsageError(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
    return value


def _check_common(dtype: str, convention: str, fmt: str, depth: int | None,
                  totals_only: bool = True) -> None:
    """Raises: UsageError: an unknown dtype, convention or format; a negative ``depth``, or 0
    where there are no totals to show alone (``totals_only`` False: drawings, the HTML page)."""
    from cnncost import api

    _choice("dtype", dtype, tuple(api.DTYPES))
    _choice("convention", convention, api.CONVENTIONS)
    _choice("format", fmt, FORMATS)
    lowest = 0 if totals_only and fmt != "html" else 1
    if depth is not None and depth < lowest:
        raise UsageError(f"--depth must be at least {lowest}, got {depth}"
                         + (" (0, the totals only, applies to tables)" if depth == 0 else ""))


def _analyze(path: Path, variant: str | None, overrides: dict[str, Any], batch: int, dtype: str,
             convention: str, expanded: Any = None) -> "CostReport":
    """The cost report of ``path`` (or of ``expanded``, its expansion, when given)."""
    from cnncost import api

    try:
        if expanded is not None:
            return api.analyze(expanded, batch=batch, dtype=dtype, convention=convention)
        return api.analyze(path, variant=variant, overrides=overrides, batch=batch, dtype=dtype,
                           convention=convention)
    except SpecError as err:
        raise _SpecErrorIn(str(path), err) from None


def _analyze_ref(spec: str, variant: str | None, set_: list[str] | None, batch: int, dtype: str,
                 convention: str) -> "CostReport":
    """Analyze ``spec`` (``spec.yaml`` or ``spec.yaml@variant``) with ``--set`` overrides.

    Raises:
        UsageError: the variant is given twice, differently.
    """
    from cnncost import api

    path, ref_variant = api.parse_spec_ref(spec)
    if ref_variant and variant and ref_variant != variant:
        raise UsageError(f"variant given twice: {spec!r} and --variant {variant}")
    overrides = api.parse_overrides(list(set_ or []))
    return _analyze(path, variant or ref_variant, overrides, batch, dtype, convention)


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
@_collector_paused
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
    mode: ModeOption = "inference",
    optimizer: OptimizerOption = "sgd",
    precision: PrecisionOption = "float32",
    memory_model: MemoryModelOption = "eager",
    memory_device: MemoryDeviceOption = "cuda",
    optimizer_impl: ImplementationOption = None,
    timeline: Annotated[Path | None, typer.Option(
        "--timeline", metavar="FILE", dir_okay=False,
        help="Write the memory timeline: FILE.csv (every allocation and free) or FILE.json "
             "(the memory report with every event).")] = None,
) -> None:
    """Per-layer and per-block costs of one spec, with totals, the counting convention and the
    memory of an inference forward or a training step (--mode).

    `--format html` writes one self-contained page (graph, charts, sortable table) that opens
    offline; there `--depth` is how deep the blocks start open.
    """
    _check_common(dtype, convention, fmt, depth)
    from cnncost import api

    path, ref_variant = api.parse_spec_ref(spec)
    if ref_variant and variant and ref_variant != variant:
        raise UsageError(f"variant given twice: {spec!r} and --variant {variant}")
    overrides = api.parse_overrides(list(set_ or []))
    expanded = _expand(path, variant or ref_variant, overrides)  # one graph for every section
    result = _analyze(path, None, overrides, batch, dtype, convention, expanded)
    memory = None
    if dtype != "int8":  # int8 is a storage format for the figures, not a module dtype
        config = _memory_config(mode, batch, dtype, precision, optimizer, memory_model,
                                memory_device, optimizer_impl)
        memory = _memory(path, expanded, config)
    elif mode != "inference" or timeline:
        raise UsageError("--dtype int8 has no memory model; use float32, float16 or bfloat16")
    training = None
    if mode == "training" and convention in ("cnncost", "torchvision"):
        training = api.training(expanded, batch=batch, convention=convention)
    if timeline is not None and memory is not None:
        from cnncost.report.memory import write_timeline

        write_timeline(memory, timeline)
        typer.echo(f"wrote {timeline}", err=True)
    if fmt == "html":
        from cnncost.render.html import report_page

        _emit(report_page(result, depth=depth, memory=memory, training=training), output)
        return
    if fmt == "table":
        from rich.console import Group

        from cnncost.report.table import render_report

        parts = [render_report(result, depth=depth, exact=exact)]
        if memory is not None:
            from cnncost.report.memory import render_memory

            parts.append(render_memory(memory, exact=exact))
        if training is not None:
            from cnncost.report.memory import render_training

            parts.append(render_training(training, exact=exact))
        _emit_rich(Group(*parts), output, width)
        return
    from cnncost.report import formats

    if fmt == "json" and training is not None:
        from cnncost.report.memory import training_dict

        data = json.loads(formats.to_json(result, memory=memory))
        data["training"] = training_dict(training)
        _emit(json.dumps(data, indent=2) + "\n", output)
        return
    text = {"json": lambda: formats.to_json(result, memory=memory),
            "csv": lambda: formats.to_csv(result),
            "markdown": lambda: formats.to_markdown(result, depth=depth, memory=memory)}[fmt]()
    _emit(text, output)


@app.command()
@_collector_paused
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
    mode: ModeOption = "inference",
    optimizer: OptimizerOption = "sgd",
    precision: PrecisionOption = "float32",
    memory_model: MemoryModelOption = "eager",
    memory_device: MemoryDeviceOption = "cuda",
    optimizer_impl: ImplementationOption = None,
) -> None:
    """Compare two specs or variants block by block (B relative to A), and their memory
    (--mode inference or training)."""
    from cnncost import api
    from cnncost.report import diff as diffs

    _check_common(dtype, convention, fmt, depth)
    config = None
    if dtype != "int8":
        config = _memory_config(mode, batch, dtype, precision, optimizer, memory_model,
                                memory_device, optimizer_impl)
    sides = []
    memories = []
    for ref, items in ((a, set_a or []), (b, set_b or [])):
        path, variant = api.parse_spec_ref(ref)
        overrides = api.parse_overrides(list(items))
        label = f"{path.name}@{variant}" if variant else path.name
        if items:
            label += " [" + ", ".join(items) + "]"
        expanded = _expand(path, variant, overrides)
        sides.append((label, _analyze(path, None, overrides, batch, dtype, convention, expanded)))
        if config is not None:
            memories.append(_memory(path, expanded, config))
    (label_a, report_a), (label_b, report_b) = sides
    result = diffs.diff_reports(report_a, report_b, label_a=label_a, label_b=label_b)
    if fmt == "html":
        from cnncost.render.html import diff_page

        _emit(diff_page(result, depth=depth), output)
        return
    if fmt == "table":
        from rich.console import Group

        parts = [diffs.render_diff(result, depth=depth, exact=exact)]
        if memories:
            from cnncost.report.memory import render_memory_diff

            mem_a, mem_b = memories
            parts.append(render_memory_diff(mem_a, mem_b, (label_a, label_b), exact=exact))
        _emit_rich(Group(*parts), output, width)
        return
    if fmt == "json" and memories:
        from cnncost.report.memory import diff_rows

        data = json.loads(diffs.diff_to_json(result))
        data["memory"] = diff_rows(*memories)
        _emit(json.dumps(data, indent=2) + "\n", output)
        return
    text = {"json": lambda: diffs.diff_to_json(result), "csv": lambda: diffs.diff_to_csv(result),
            "markdown": lambda: diffs.diff_to_markdown(result, depth=depth)}[fmt]()
    _emit(text, output)


@app.command()
@_collector_paused
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
    if fmt == "html":
        from cnncost.render.html import zoo_page

        _emit(zoo_page(rows, convention=convention, dtype=dtype, batch=batch), output)
        return
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
@_collector_paused
def draw(
    spec: Annotated[str, typer.Argument(help="spec.yaml or spec.yaml@variant")],
    output: OutputOption = None,
    variant: Annotated[str | None, typer.Option(
        "--variant", help="Variant name (or write SPEC@VARIANT).")] = None,
    set_: SetOption = None,
    depth: Annotated[int | None, typer.Option(
        "--depth", metavar="N",
        help="Draw each block N dotted levels deep as one node (default: every layer).")] = None,
    direction: Annotated[str, typer.Option(
        "--direction", help="TB (top to bottom) or LR (left to right).")] = "TB",
    costs: Annotated[bool, typer.Option(
        "--costs", help="Write MACs, parameters and activation memory on every node.")] = False,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="svg, png, pdf or dot (default: the output file's suffix).")
    ] = None,
    convention: ConventionOption = "cnncost",
    batch: BatchOption = 1,
    dtype: DtypeOption = "float32",
) -> None:
    """Draw the architecture: blocks as boxes, every node its operator and output shape.

    `--depth 1` draws ResNet-50 as its stem, four stages and head. SVG, PNG and PDF need
    Graphviz's dot program (apt-get install graphviz, brew install graphviz); `--format dot`
    (on standard output without `-o`) does not, and `report --format html` draws the graph in
    the browser without it. Needs the pictures extra (pip install -e ".[pictures]").
    """
    from cnncost.render import dot, structure
    from cnncost.render.commands import output_format

    _check_common(dtype, convention, "table", depth, totals_only=False)
    _choice("direction", direction, dot.DIRECTIONS)
    fmt = "dot" if fmt is None and output is None else output_format(output, fmt,
                                                                      dot.DRAW_FORMATS)
    if output is None and fmt != "dot":
        raise UsageError(f"{fmt} is binary: name the file with -o")
    drawing = structure.drawing_of(_analyze_ref(spec, variant, set_, batch, dtype, convention),
                                   depth)
    if output is None:
        _emit(dot.to_graphviz(drawing, direction=direction, costs=costs).source, None)
        return
    dot.write_drawing(drawing, output, fmt=fmt, direction=direction, costs=costs)
    typer.echo(f"wrote {output}", err=True)


@app.command()
@_collector_paused
def plot(
    specs: Annotated[list[str], typer.Argument(
        help="Spec files, directories (their *.yaml), spec.yaml@variant, or the JSON that "
             "'cnncost table --format json' wrote.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="FILE", help="The picture to write (.png, .svg or .pdf).",
        dir_okay=False)],
    kind: Annotated[str, typer.Option(
        "--kind", help="zoo (top-1 against MACs, bubble area = parameters), layers (one "
                       "model's per-layer bars) or variants (one spec's variants as curves).")
    ] = "zoo",
    x: Annotated[str, typer.Option(
        "--x", help="variants: the x axis (macs, params, flops, top1, or a spec parameter "
                    "such as resolution).")] = "macs",
    y: Annotated[str, typer.Option("--y", help="variants: the y axis (as --x).")] = "top1",
    group: Annotated[str | None, typer.Option(
        "--group", help="variants: one curve per value of this spec parameter (alpha); "
                        "default: a text parameter that differs (flavor).")] = None,
    set_: SetOption = None,
    convention: ConventionOption = "cnncost",
    batch: BatchOption = 1,
    dtype: DtypeOption = "float32",
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="png, svg or pdf (default: the output file's suffix).")] = None,
) -> None:
    """Charts as PNG, SVG or PDF: the zoo's accuracy against MACs, per-layer bars, variant curves.

    `cnncost plot specs/ -o zoo.png` draws the chart of Canziani et al. (2016) from the zoo
    table's rows; `--kind layers SPEC@VARIANT` one model's MACs, parameters and activation
    memory per layer; `--kind variants specs/mobilenet_v1.yaml --x resolution --y macs
    --group alpha` a family of variants. Needs the pictures extra (pip install -e ".[pictures]").
    """
    from cnncost import api
    from cnncost.render.charts import save
    from cnncost.render.commands import PLOT_FORMATS, output_format, plot_figure

    _check_common(dtype, convention, "table", None)
    fmt = output_format(output, fmt, PLOT_FORMATS)
    overrides = api.parse_overrides(list(set_ or []))
    try:
        figure = plot_figure(kind, specs, convention=convention, dtype=dtype, batch=batch,
                             overrides=overrides, x=x, y=y, group=group)
    except SpecError as err:
        raise _SpecErrorIn(", ".join(specs), err) from None
    try:
        save(figure, output, fmt)
    except OSError as err:
        raise FileAccessError(f"cannot write {output}: {err.strerror or err}") from None
    typer.echo(f"wrote {output}", err=True)


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
    memory: Annotated[bool, typer.Option(
        "--memory/--no-memory",
        help="Compare the eager memory model with PyTorch's MemTracker (inference, a training "
             "forward on fake CUDA tensors, two training steps on fake CPU tensors).")] = True,
    optimizer: OptimizerOption = "sgd",
    precision: PrecisionOption = "float32",
    against: Annotated[str | None, typer.Option(
        "--against", metavar="MODEL",
        help="Also compare with the model the spec was imported from (torchvision:NAME, "
             "timm:NAME, file.py:FUNCTION): parameters, shapes, fvcore and FlopCounterMode, "
             "module by module.")] = None,
    against_arg: Annotated[list[str] | None, typer.Option(
        "--arg", metavar="NAME=VALUE",
        help="With --against: a keyword argument of the model's builder (repeatable).")] = None,
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
        from cnncost.memory.models import PRECISION_ALIASES

        run = run_check(spec, variant=variant, overrides=overrides, device=device, batch=batch,
                        dtype=dtype, fmt=fmt, progress=console, memory=memory,
                        optimizer=optimizer, precision=PRECISION_ALIASES.get(precision, precision))
    except SpecError as err:
        raise _SpecErrorIn(spec, err) from None
    roundtrip = None
    if against is not None:
        from cnncost.importer.command import run_against

        roundtrip = run_against(spec.partition("@")[0], against, args=against_arg)
    if fmt == "json":
        console.out(check_to_json(run.report), end="", highlight=False)
    else:
        console.print(check_renderable(run.report, all_layers=all_layers))
        if run.profile_line:
            console.print(run.profile_line)
    if roundtrip is not None and against is not None:
        from cnncost.importer.roundtrip import render

        for line in render(roundtrip, against):
            typer.echo(line, err=fmt == "json")
        if not roundtrip.ok:
            raise typer.Exit(EXIT_CHECK_FAILED)
    raise typer.Exit(run.exit_code)


@app.command("import")
def import_(
    model: Annotated[str, typer.Argument(
        help="torchvision:NAME, timm:NAME, path/to/model.py:FUNCTION or package.module:FUNCTION")],
    output: OutputOption = None,
    arg: Annotated[list[str] | None, typer.Option(
        "--arg", metavar="NAME=VALUE",
        help="A keyword argument of the model's builder (repeatable); VALUE is YAML.")] = None,
    input_shape: Annotated[str | None, typer.Option(
        "--input", metavar="CxHxW",
        help="The input to trace with, batch excluded (default: the model's own, else "
             "3x224x224).")] = None,
    allow_unknown: Annotated[bool, typer.Option(
        "--allow-unknown",
        help="Write the spec even with operations cnncost has no operator for (marked "
             "UNSUPPORTED: the spec is invalid until they are replaced).")] = False,
    name: Annotated[str | None, typer.Option("--name", help="The spec's name.")] = None,
) -> None:
    """Import a PyTorch model as a readable spec: blocks, repeats, parameters.

    Traces with torch.fx (or, where symbolic tracing fails, by running the model with hooks),
    names every layer by its module name, and records the original's parameters and FLOPs
    under documented. Prove the spec with cnncost check SPEC --against MODEL. Exit 5 names
    every operation cnncost cannot express, with the line of the model's source. Needs the
    torch extras (pip install -e ".[torch]").
    """
    from cnncost.importer.command import run_import

    result = run_import(model, args=arg, input_shape=input_shape, allow_unknown=allow_unknown,
                        name=name)
    _emit(result.text, output)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    for unknown in result.unknown:
        typer.echo(f"UNSUPPORTED (not counted; replace it in the spec): {unknown}", err=True)
    typer.echo(f"{result.ref}: {result.layers} layers, {result.blocks} blocks, {result.lines} "
               f"lines, traced with {result.tracer} at {'x'.join(map(str, result.input_shape))}"
               f" in {result.seconds:.1f} s", err=True)


@app.command()
@_collector_paused
def fit(
    spec: Annotated[str, typer.Argument(help="spec.yaml or spec.yaml@variant")],
    variant: Annotated[str | None, typer.Option(
        "--variant", help="Variant name (or write SPEC@VARIANT).")] = None,
    set_: SetOption = None,
    device_name: Annotated[str | None, typer.Option(
        "--device-name", metavar="NAME",
        help="An accelerator of the device table (cnncost fit --list-devices).")] = None,
    memory_size: Annotated[str | None, typer.Option(
        "--memory", metavar="SIZE", help="The memory to fit in: 80GiB, 24GB, 16000MiB ...")
    ] = None,
    reserve: Annotated[str, typer.Option(
        "--reserve", metavar="SIZE",
        help="Kept for the CUDA context and library workspaces (cuBLAS, cuDNN).")] = "1GiB",
    headroom: Annotated[str, typer.Option(
        "--headroom", metavar="FRACTION",
        help="Kept for what the driver reserves and the allocator's fragmentation.")] = "5%",
    resolution: Annotated[bool, typer.Option(
        "--resolution", help="Fit the largest resolution at --batch instead of the batch.")
    ] = False,
    param: Annotated[str, typer.Option(
        "--param", metavar="NAME", help="With --resolution: the spec parameter to scale.")
    ] = "resolution",
    step: Annotated[int, typer.Option(
        "--step", min=1, metavar="N", help="With --resolution: multiples of N.")] = 32,
    batch: BatchOption = 1,
    dtype: DtypeOption = "float32",
    mode: ModeOption = "training",
    optimizer: OptimizerOption = "sgd",
    precision: PrecisionOption = "float32",
    memory_device: MemoryDeviceOption = "cuda",
    optimizer_impl: ImplementationOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    list_devices: Annotated[bool, typer.Option(
        "--list-devices", help="List the device table and exit.")] = False,
) -> None:
    """The largest batch (or resolution) whose eager-memory peak fits a device.

    Training by default (--mode inference for serving). The budget is the device's memory less a
    headroom and a reserve, both printed and settable. Exit 1 when not even batch 1 fits.
    """
    from cnncost.memory.devices import DEVICES
    from cnncost.report.fit import fit_text, fit_to_json, list_devices_text

    if list_devices:
        _emit(list_devices_text(), None)
        return
    if spec == "":
        raise UsageError("give a spec")
    fmt = _choice("format", fmt, ("table", "json"))
    result = _fit(spec, variant, set_, device_name, memory_size, reserve, headroom, resolution,
                  param, step, batch, dtype, mode, optimizer, precision, memory_device,
                  optimizer_impl, DEVICES)
    _emit(fit_to_json(result) if fmt == "json" else fit_text(result), None)


def _fit(spec: str, variant: str | None, set_: list[str] | None, device_name: str | None,
         memory_size: str | None, reserve: str, headroom: str, resolution: bool, param: str,
         step: int, batch: int, dtype: str, mode: str, optimizer: str, precision: str,
         memory_device: str, optimizer_impl: str | None, devices: dict[str, Any]) -> Any:
    from cnncost import api
    from cnncost.memory import fit as F

    if (device_name is None) == (memory_size is None):
        raise UsageError("give exactly one of --device-name NAME and --memory SIZE "
                         "(cnncost fit --list-devices lists the names)")
    if device_name is not None:
        if device_name not in devices:
            raise UsageError(f"unknown device {device_name!r}; choose from "
                             f"{', '.join(devices)} (or give --memory SIZE)")
        capacity = devices[device_name].memory_bytes
    else:
        assert memory_size is not None
        capacity = F.parse_size(memory_size)
    budget = F.Budget(capacity, F.parse_size(reserve) if reserve.strip() not in ("0", "")
                      else 0, F.parse_fraction(headroom), device_name)
    path, ref_variant = api.parse_spec_ref(spec)
    if ref_variant and variant and ref_variant != variant:
        raise UsageError(f"variant given twice: {spec!r} and --variant {variant}")
    variant = variant or ref_variant
    overrides = api.parse_overrides(list(set_ or []))
    config = _memory_config(mode, batch, dtype, precision, optimizer, "eager", memory_device,
                            optimizer_impl)
    try:
        loaded = api.load(path)
        graph, bindings = api.build_graph(loaded, variant=variant, overrides=overrides)
        if not resolution:
            return F.fit_batch(graph, config, budget)
        if param not in bindings.params:
            raise UsageError(f"{path.name} has no parameter {param!r} to scale; its parameters: "
                             f"{', '.join(sorted(bindings.params))} (choose one with --param)")
        start = bindings.params[param]
        if not isinstance(start, int) or isinstance(start, bool):
            raise UsageError(f"parameter {param!r} is {start!r}, not an integer size")

        def build(value: int) -> Any:
            return api.build_graph(loaded, variant=variant,
                                   overrides={**overrides, param: value})[0]

        return F.fit_parameter(build, param, start, step, config, budget)
    except SpecError as err:
        raise _SpecErrorIn(str(path), err) from None


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
@_collector_paused
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
@_collector_paused
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


def run() -> NoReturn:
    """The process entry point (the ``cnncost`` script, ``python -m cnncost``): ``main``, then,
    whatever its exit, the objects alive are frozen (``gc.freeze``) so that the collection the
    interpreter makes as it shuts down does not walk every module and graph the command built:
    that walk was ~35 ms of a ~265 ms ``report`` (a reference-counted teardown still frees
    them; output is flushed as always). Only here, not in ``main``, which tests and embedding
    programs call in a process that goes on."""
    import gc

    try:
        main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()
