"""Measured latency and memory of a spec's module on CUDA, next to the analytic figures.

Imports torch when called. Written for CUDA; on CPU it runs as a dry run (wall-clock timer, no
memory figures) so that everything but the CUDA calls is testable without a GPU.

- Per-layer forward latency: the graph is run node by node (``GraphModule.run``) with a CUDA event
  recorded before and after each node's module; after ``warmup`` untimed forwards, ``repeats``
  timed ones; the median (and min / max) per node. Events are read after one synchronise per
  forward, so timing does not serialise the launches more than the events themselves do.
- Total forward latency: events around the whole ``model(*inputs)``, median of ``repeats`` (not
  the sum of the per-layer medians, which is reported separately).
- Memory: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` for an inference
  forward (``no_grad``) and for the second of two training steps (train mode, cross-entropy, SGD),
  with the allocation before each as its baseline; next to the eager memory model's figures for
  the same protocol on CUDA (``cnncost.memory``) and the liveness and sum figures.

Results go to ``reports/gpu/<spec>-<variant>-b<batch>-<dtype>.{json,md}`` (``write_profile``).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

from cnncost import api
from cnncost.bridge import require_torch
from cnncost.cost.engine import ReportMeta, analyze_graph
from cnncost.errors import FileAccessError, UsageError
from cnncost.report.formats import md_table
from cnncost.report.table import format_bytes, format_count, format_shape
from cnncost.spec.loader import LoadedSpec

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from cnncost.bridge.module import GraphModule
    from cnncost.bridge.result import CheckReport

#: Where ``write_profile`` puts its files by default (relative to the working directory).
REPORT_DIR = Path("reports/gpu")


# --------------------------------------------------------------------------- timing


class Timer(Protocol):
    """Marks points in time on the device's timeline."""

    def mark(self) -> Any: ...

    def elapsed_ms(self, start: Any, end: Any) -> float: ...

    def synchronize(self) -> None: ...


class CudaEventTimer:
    """CUDA events on the current stream (``elapsed_time`` in milliseconds)."""

    def mark(self) -> Any:
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize()


class WallClockTimer:
    """``time.perf_counter`` (CPU dry runs)."""

    def mark(self) -> float:
        return time.perf_counter()

    def elapsed_ms(self, start: float, end: float) -> float:
        return (end - start) * 1e3

    def synchronize(self) -> None:
        return None


@dataclass(frozen=True)
class Latency:
    """Summary of repeated timings in milliseconds."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int

    @classmethod
    def of(cls, samples: list[float]) -> Latency:
        """Raises: ValueError: no samples."""
        if not samples:
            raise ValueError("no timing samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))


Tick = Callable[[], None]


def time_layers(model: GraphModule, inputs: tuple[torch.Tensor, ...], timer: Timer, *,
                warmup: int, repeats: int, tick: Tick | None = None) -> dict[str, list[float]]:
    """Per-node latency samples (ms): ``warmup`` untimed forwards, then ``repeats`` forwards with
    ``timer`` marks around every node's call."""
    import torch

    samples: dict[str, list[float]] = {name: [] for name, _ in model.steps}
    with torch.no_grad():
        for _ in range(warmup):
            model(*inputs)
        for _ in range(repeats):
            marks: list[tuple[str, Any, Any]] = []

            def around(name: str, call: Callable[[], torch.Tensor],
                       marks: list[tuple[str, Any, Any]] = marks) -> torch.Tensor:
                start = timer.mark()
                out = call()
                marks.append((name, start, timer.mark()))
                return out

            model.run(inputs, around=around)
            timer.synchronize()
            for name, start, end in marks:
                samples[name].append(timer.elapsed_ms(start, end))
            if tick:
                tick()
    return samples


def time_forward(model: GraphModule, inputs: tuple[torch.Tensor, ...], timer: Timer, *,
                 warmup: int, repeats: int, tick: Tick | None = None) -> list[float]:
    """Whole-forward latency samples (ms), after ``warmup`` untimed forwards."""
    import torch

    out: list[float] = []
    with torch.no_grad():
        for _ in range(warmup):
            model(*inputs)
        for _ in range(repeats):
            start = timer.mark()
            model(*inputs)
            end = timer.mark()
            timer.synchronize()
            out.append(timer.elapsed_ms(start, end))
            if tick:
                tick()
    return out


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class Memory:
    """Measured CUDA memory (bytes) next to the analytic figures at the same batch and dtype.

    The eager memory model (``cnncost.memory``) predicts everything PyTorch allocates through
    operators; the caching allocator also serves what kernels allocate for themselves (cuDNN's
    workspaces, cuBLAS') and what libraries keep (cuBLAS' workspace after the first matmul).
    Those are what ``*_unmodelled_bytes`` measures, above the baseline, where the model has
    nothing.
    """

    baseline_bytes: int  # allocated before the forward: weights, buffers, input (+ workspaces)
    inference_peak_bytes: int  # max allocated during a no_grad forward
    training_peak_bytes: int | None  # max allocated in the second of two training steps (SGD,
    # cross-entropy; None: out of device memory, which the inference figures do not prevent)
    analytic_weight_bytes: int
    analytic_activation_bytes: int  # every tensor of the forward, input included (sum model)
    analytic_peak_activation_bytes: int  # liveness model
    eager_baseline_bytes: int = 0  # the eager model's weights, buffers and input (CUDA blocks)
    eager_inference_peak_bytes: int = 0
    training_start_bytes: int | None = None  # allocated after zero_grad of the second step
    eager_training_start_bytes: int | None = None
    eager_training_peak_bytes: int | None = None

    @property
    def inference_activation_bytes(self) -> int:
        return self.inference_peak_bytes - self.baseline_bytes

    @property
    def inference_unmodelled_bytes(self) -> int:
        """Measured minus modelled, each above its baseline."""
        return (self.inference_activation_bytes
                - (self.eager_inference_peak_bytes - self.eager_baseline_bytes))

    @property
    def training_unmodelled_bytes(self) -> int | None:
        if (self.training_peak_bytes is None or self.training_start_bytes is None
                or self.eager_training_peak_bytes is None
                or self.eager_training_start_bytes is None):
            return None
        return ((self.training_peak_bytes - self.training_start_bytes)
                - (self.eager_training_peak_bytes - self.eager_training_start_bytes))


def measure_memory(model: GraphModule, inputs: tuple[torch.Tensor, ...]
                   ) -> tuple[int, int, int | None, int | None]:
    """(baseline, inference peak, training peak, training start) in bytes, on CUDA.

    Training: two steps of ``zero_grad(set_to_none=True)``, train-mode forward, cross-entropy
    (2-D outputs; the mean otherwise), backward and an SGD step (PyTorch's default foreach
    update), the second measured from its ``zero_grad`` on; its peak is None when it runs out of
    device memory (every activation it keeps can exceed the device where one forward does not:
    EfficientNet-B7 at batch 64)."""
    import torch

    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    baseline = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        out = model(*inputs)
    torch.cuda.synchronize()
    inference = torch.cuda.max_memory_allocated()
    del out
    torch.cuda.empty_cache()
    training: int | None = None
    start: int | None = None
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    labels = torch.randint(0, 10, (inputs[0].shape[0],), device=inputs[0].device)
    model.train()
    try:
        for step in range(2):
            optimizer.zero_grad(set_to_none=True)
            if step == 1:
                torch.cuda.synchronize()
                start = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            _training_step(model, inputs, labels)
            optimizer.step()
        torch.cuda.synchronize()
        training = torch.cuda.max_memory_allocated()
    except torch.cuda.OutOfMemoryError:
        start = None  # the activations go with the exception's frames at the end of this block
    model.eval()
    model.zero_grad(set_to_none=True)
    del optimizer
    torch.cuda.empty_cache()
    return baseline, inference, training, start


def _training_step(model: GraphModule, inputs: tuple[torch.Tensor, ...],
                   labels: torch.Tensor) -> None:
    import torch.nn.functional as F

    out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    del out
    loss = None
    for o in outs:
        term = F.cross_entropy(o, labels % o.shape[1]) if o.dim() == 2 else o.mean()
        loss = term if loss is None else loss + term
    del outs
    if loss is not None and loss.requires_grad:  # else no parameter: no backward
        loss.backward()


def eager_memory(graph: Any, batch: int, dtype: str) -> tuple[int, int, int | None, int | None]:
    """The eager model's (baseline, inference peak, training start, training peak) on CUDA at
    the profile's batch and dtype (training: the same protocol, steady state)."""
    from cnncost.memory.engine import NoGradient
    from cnncost.memory.models import MemoryConfig, analyze_memory

    inference = analyze_memory(graph, MemoryConfig(batch=batch, dtype=dtype))
    baseline = inference.weights_bytes + inference.buffers_bytes + inference.input_bytes
    try:
        training = analyze_memory(graph, MemoryConfig(mode="training", batch=batch, dtype=dtype))
    except NoGradient:
        return baseline, inference.peak_bytes, None, None
    steady = training.steps[-1]
    return baseline, inference.peak_bytes, steady.start_bytes, steady.peak.peak_bytes


# --------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class LayerProfile:
    name: str
    op: str
    out_shape: tuple[int, ...]
    latency: Latency
    macs: int  # torchvision convention (conv / linear), batch included
    flops: int  # cnncost complete convention, batch included
    activation_bytes: int


@dataclass(frozen=True)
class ProfileReport:
    model: str
    variant: str | None
    overrides: dict[str, Any]
    spec_file: str
    batch: int
    dtype: str
    device: str
    device_name: str
    versions: dict[str, str]  # torch, cuda, cudnn
    settings: dict[str, Any]  # warmup, repeats, cudnn.benchmark, timer
    forward: Latency
    layers: tuple[LayerProfile, ...]
    memory: Memory | None  # None on CPU
    macs: int
    flops: int
    #: the cross-check of the same spec on the same device, batch and dtype (None: not run)
    check_ok: bool | None = None
    check_mismatches: tuple[str, ...] = ()  # the layers that differed

    def with_check(self, report: CheckReport) -> ProfileReport:
        """This profile with the verdict of ``cnncost check`` on the same device, batch, dtype."""
        return replace(self, check_ok=report.ok,
                       check_mismatches=tuple(layer.name for layer in report.mismatches))

    @property
    def layer_sum_ms(self) -> float:
        return sum(layer.latency.median_ms for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layer_sum_median_ms"] = self.layer_sum_ms
        if self.memory is not None:
            data["memory"]["inference_activation_bytes"] = self.memory.inference_activation_bytes
        return data


def profile(spec: str | Path | LoadedSpec, *, variant: str | None = None,
            overrides: Mapping[str, Any] | None = None, batch: int = 1, dtype: str = "float32",
            device: str = "cuda", warmup: int = 10, repeats: int = 50,
            console: Console | None = None, timer: Timer | None = None,
            cudnn_benchmark: bool = True, seed: int = 0) -> ProfileReport:
    """Time every layer and the whole forward, and measure peak memory (see module docstring).

    Args:
        console: where rich progress bars go (None: no progress display).
        timer: CUDA events on CUDA, the wall clock on CPU, unless given.

    Raises:
        UsageError: torch missing, an unsupported dtype or device, batch / repeats < 1.
        FileAccessError, SpecError: as ``api.build_graph``.
    """
    require_torch()
    import torch

    from cnncost.bridge.check import resolve_device, torch_dtype
    from cnncost.bridge.module import to_module

    if batch < 1 or repeats < 1 or warmup < 0:
        raise UsageError("batch and repeats must be at least 1, warmup at least 0")
    tdtype, dev = torch_dtype(dtype), resolve_device(device)
    cuda = dev.type == "cuda"
    loaded = api.load(spec)
    graph, bindings = api.build_graph(loaded, variant=variant, overrides=overrides)
    meta = ReportMeta(model=loaded.spec.name, variant=bindings.variant)
    full = analyze_graph(graph, meta, convention="cnncost", batch=batch, dtype=dtype)
    tv = analyze_graph(graph, meta, convention="torchvision", batch=batch, dtype=dtype)
    with torch.random.fork_rng(devices=[dev] if cuda else []):
        torch.manual_seed(seed)
        model = to_module(graph).to(device=dev, dtype=tdtype).eval()
        inputs = tuple(torch.randn(batch, *graph.node(n).out_shape, device=dev, dtype=tdtype)
                       for n in graph.input_names)
    timer = timer or (CudaEventTimer() if cuda else WallClockTimer())
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        with _progress(console) as progress:
            layer_samples = time_layers(model, inputs, timer, warmup=warmup, repeats=repeats,
                                        tick=progress("per-layer timing", repeats))
            forward = time_forward(model, inputs, timer, warmup=warmup, repeats=repeats,
                                   tick=progress("forward timing", repeats))
            memory = None
            if cuda:
                baseline, inference, training, start = measure_memory(model, inputs)
                eager = eager_memory(graph, batch, dtype)
                memory = Memory(baseline, inference, training, full.totals.weight_bytes,
                                full.totals.activation_bytes,
                                full.totals.peak_activation_bytes, eager[0], eager[1], start,
                                eager[2], eager[3])
    finally:
        torch.backends.cudnn.benchmark = previous
    layers = tuple(
        LayerProfile(row.name, row.op, row.out_shape, Latency.of(layer_samples[row.name]),
                     tv_row.macs, row.flops, row.activation_bytes)
        for row, tv_row in zip(full.layers, tv.layers))
    return ProfileReport(
        model=loaded.spec.name, variant=bindings.variant, overrides=dict(overrides or {}),
        spec_file=str(loaded.file), batch=batch, dtype=dtype, device=str(dev),
        device_name=device_name(dev),
        versions=_versions(), forward=Latency.of(forward), layers=layers, memory=memory,
        settings={"warmup": warmup, "repeats": repeats, "cudnn_benchmark": cudnn_benchmark,
                  "timer": type(timer).__name__, "seed": seed},
        macs=tv.totals.macs, flops=full.totals.flops)


class _progress:
    """Rich progress bars on ``console`` (nothing without one); ``self(label, total)`` adds a
    task and returns the function that advances it."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self.bar: Any = None

    def __enter__(self) -> Self:
        if self.console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), console=self.console, transient=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, label: str, total: int) -> Tick | None:
        if self.bar is None:
            return None
        task = self.bar.add_task(label, total=total)
        return lambda: self.bar.advance(task)


def device_name(dev: torch.device) -> str:
    """The GPU's name (``NVIDIA H200``), or ``cpu``."""
    import torch

    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def _versions() -> dict[str, str]:
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"torch": torch.__version__, "cuda": str(torch.version.cuda),
            "cudnn": str(cudnn)}


# --------------------------------------------------------------------------- output


def report_stem(report: ProfileReport) -> str:
    """``<spec>-<variant>-b<batch>-<dtype>``, plus the overrides when there are any."""
    return stem_of(report.model, report.variant, report.batch, report.dtype, report.overrides)


def stem_of(model: str, variant: str | None, batch: int, dtype: str,
            overrides: Mapping[str, Any] | None = None) -> str:
    """The file stem of a profile (see ``report_stem``), from its identifying fields."""
    stem = f"{model}-{variant or 'default'}-b{batch}-{dtype}"
    if overrides:
        stem += "-" + "-".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", stem)


def profile_to_json(report: ProfileReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def _ms(value: float) -> str:
    return f"{value:.3f}"


def profile_to_markdown(report: ProfileReport) -> str:
    """A Markdown page: settings, totals next to the analytic figures, one row per layer."""
    title = report.model + (f" @ {report.variant}" if report.variant else "")
    lines = [f"# {title}: measured on {report.device_name}", "",
             f"spec `{report.spec_file}` · batch {report.batch} · {report.dtype} · "
             + " · ".join(f"{k} {v}" for k, v in report.versions.items()) + " · "
             + ", ".join(f"{k} {v}" for k, v in report.settings.items()), ""]
    if report.overrides:
        lines += ["overrides: " + ", ".join(f"{k}={v}" for k, v in report.overrides.items()), ""]
    if report.check_ok is not None:
        lines += [f"`cnncost check` on this device, batch and dtype: {_check_words(report)}", ""]
    f = report.forward
    rows: list[list[object]] = [
        ["forward latency (median / min / max)",
         f"{_ms(f.median_ms)} / {_ms(f.min_ms)} / {_ms(f.max_ms)} ms", ""],
        ["sum of per-layer medians", f"{_ms(report.layer_sum_ms)} ms", ""],
        ["conv + linear MACs (torchvision convention)", "",
         format_count(report.macs, exact=True)],
        ["FLOPs (cnncost convention)", "", format_count(report.flops, exact=True)],
    ]
    m = report.memory
    if m is not None:
        rows += [
            ["weights + buffers + input allocated (baseline) / eager model",
             format_bytes(m.baseline_bytes, exact=True),
             format_bytes(m.eager_baseline_bytes, exact=True)],
            ["inference peak allocated / eager model",
             format_bytes(m.inference_peak_bytes, exact=True),
             format_bytes(m.eager_inference_peak_bytes, exact=True)],
            ["inference: above the baseline, not modelled (workspaces ...)",
             format_bytes(m.inference_unmodelled_bytes, exact=True, signed=True), ""],
            ["training step peak allocated (2nd step, SGD) / eager model",
             "out of device memory" if m.training_peak_bytes is None
             else format_bytes(m.training_peak_bytes, exact=True),
             "" if m.eager_training_peak_bytes is None
             else format_bytes(m.eager_training_peak_bytes, exact=True)],
        ]
        if m.training_unmodelled_bytes is not None:
            rows.append(["training: above the step's start, not modelled",
                         format_bytes(m.training_unmodelled_bytes, exact=True, signed=True), ""])
        rows.append(["liveness model peak activations / sum model", "",
                     (f"{format_bytes(m.analytic_peak_activation_bytes, exact=True)} / "
                     f"{format_bytes(m.analytic_activation_bytes, exact=True)}")])
    lines += [md_table(["", "measured", "analytic"], "lrr", rows), ""]
    layer_rows = [[f"`{layer.name}`", layer.op, format_shape(layer.out_shape),
                   _ms(layer.latency.median_ms), _ms(layer.latency.min_ms),
                   f"{100 * layer.latency.median_ms / report.layer_sum_ms:.1f} %"
                   if report.layer_sum_ms else "–",
                   format_count(layer.macs), format_count(layer.flops),
                   format_bytes(layer.activation_bytes)]
                  for layer in report.layers]
    lines += ["## Layers", "",
              md_table(["layer", "op", "output (per sample)", "median ms", "min ms", "share",
                        "MACs", "FLOPs", "output bytes"], "lllrrrrrr", layer_rows), ""]
    return "\n".join(lines)


def _check_words(report: ProfileReport) -> str:
    if report.check_ok:
        return f"all {len(report.layers)} layers equal (shapes, parameters, buffers, MACs, FLOPs)"
    names = ", ".join(f"`{n}`" for n in report.check_mismatches[:10])
    more = len(report.check_mismatches) - 10
    return (f"**MISMATCH** in {len(report.check_mismatches)} layers ({names}"
            + (f" and {more} more" if more > 0 else "") + ")")


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename it, so a killed run leaves no half file."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


def write_profile(report: ProfileReport, directory: Path = REPORT_DIR) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` under ``directory``.

    Raises:
        FileAccessError: the files cannot be written.
    """
    stem = report_stem(report)
    paths = (directory / f"{stem}.json", directory / f"{stem}.md")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(paths[0], profile_to_json(report))
        write_text_atomic(paths[1], profile_to_markdown(report))
    except OSError as err:
        raise FileAccessError(f"cannot write {directory}: {err.strerror or err}") from None
    return paths
