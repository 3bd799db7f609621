"""The memory section of ``cnncost check``: the eager memory model against PyTorch's memory
tracker on the bridge's module. Imports torch when called (``cnncost.bridge.memtrack``).

Three runs (see ``memtrack`` for why each runs where it does), every figure compared to the
byte: inference on fake CUDA tensors; a training forward (and loss) on fake CUDA tensors, with
CUDA's autocast lists; two whole training steps on fake CPU tensors. Compared: the peak of every
phase of every step, and per node its forward peak and the bytes its autograd nodes saved.
"""

from __future__ import annotations

import time

from cnncost.bridge.result import Comparison, LayerCheck, MemoryRun
from cnncost.cost.training import flop_counter_overcount, training_cost
from cnncost.graph.layergraph import LayerGraph
from cnncost.memory.engine import NoGradient
from cnncost.memory.models import MemoryConfig, analyze_memory
from cnncost.memory.report import MemoryReport

#: The training batch of the check when the check's batch is 1 (batch-norm needs two samples
#: per channel in training where a map is 1x1).
MIN_TRAINING_BATCH = 2


FLOPS_LABEL = "training FLOPs (torchvision convention) vs FlopCounterMode"


def plan(batch: int, dtype: str, optimizer: str = "sgd",
         precision: str = "float32") -> list[tuple[str, MemoryConfig, str, bool]]:
    """(label, config, device, forward only) of the three tracked runs."""
    inference = MemoryConfig(mode="inference", batch=batch, dtype=dtype)
    training = MemoryConfig(mode="training", batch=max(batch, MIN_TRAINING_BATCH),
                            optimizer=optimizer, precision=precision)
    return [("inference on fake cuda", inference, "cuda", False),
            ("training forward on fake cuda", training, "cuda", True),
            ("training steps on fake cpu", training, "cpu", False)]


def memory_runs(graph: LayerGraph, *, batch: int, dtype: str, optimizer: str = "sgd",
                precision: str = "float32") -> tuple[MemoryRun, ...]:
    """Compare the model with the tracker in the three runs (see the module docstring)."""
    from cnncost.bridge.memtrack import track_memory, tracker_config

    runs = []
    training_batch = None
    for label, config, device, forward_only in plan(batch, dtype, optimizer, precision):
        start = time.perf_counter()
        try:
            report = analyze_memory(graph, tracker_config(config, device))
        except NoGradient:  # no trainable parameter: no training step to compare
            continue
        tracked = track_memory(graph, config, device, forward_only=forward_only)
        runs.append(_compare(label, report, tracked.steps, device, config,
                             time.perf_counter() - start))
        if config.mode == "training":
            training_batch = config.batch
    if training_batch is not None:
        runs.append(_training_flops(graph, training_batch))
    return tuple(runs)


def model_figures(graph: LayerGraph, label: str, batch: int, dtype: str = "float32",
                  optimizer: str = "sgd", precision: str = "float32",
                  steps: int = 2) -> dict[str, int | None]:
    """cnncost's side of one run's totals, by quantity (torch-free: what a committed report of
    the tracker's measurements is checked against)."""
    if label == FLOPS_LABEL:
        cost = training_cost(graph, "torchvision", batch)
        overcount = flop_counter_overcount(graph, batch)
        return {_flops_quantity(overcount): cost.flops + sum(overcount.values())}
    from cnncost.bridge.memtrack import tracker_config

    chosen = {name: (config, device) for name, config, device, _ in
              plan(batch, dtype, optimizer, precision)}
    config, device = chosen[label]
    if config.mode == "training":
        config = MemoryConfig(mode="training", batch=batch, optimizer=optimizer,
                              precision=precision)
    report = analyze_memory(graph, tracker_config(config, device))
    figures: dict[str, int | None] = {}
    for number, step in enumerate(report.steps[:steps], start=1):
        prefix = f"step {number} " if config.mode == "training" else ""
        for phase in step.phases:
            figures[f"{prefix}{phase.phase} peak"] = phase.peak_bytes
    if config.mode == "training":
        figures["loss saved"] = report.steps[steps - 1].saved.get("loss", 0)
    return figures


def _flops_quantity(overcount: dict[str, int]) -> str:
    return (f"training FLOPs + FlopCounterMode's grouped-conv weight-gradient overcount "
            f"({sum(overcount.values()):,} in {len(overcount)} layers)")


def _training_flops(graph: LayerGraph, batch: int) -> MemoryRun:
    """The torchvision convention's training FLOPs against FlopCounterMode's count of a forward
    and backward, with the one difference named: FlopCounterMode counts the weight gradient of
    a grouped convolution ``groups`` times (``cost.training.flop_counter_overcount``)."""
    from cnncost.bridge.memtrack import count_training_flops

    start = time.perf_counter()
    cost = training_cost(graph, "torchvision", batch)
    overcount = flop_counter_overcount(graph, batch)
    measured = count_training_flops(graph, batch)
    totals = (Comparison(_flops_quantity(overcount), cost.flops + sum(overcount.values()),
                         measured),)
    return MemoryRun(label=FLOPS_LABEL,
                     device="cpu", mode="training", batch=batch, dtype="float32",
                     precision="float32", optimizer=None, totals=totals, layers=(),
                     layers_compared=0, seconds=time.perf_counter() - start)


def _compare(label: str, report: MemoryReport, tracked: tuple, device: str,
             config: MemoryConfig, seconds: float) -> MemoryRun:
    totals: list[Comparison] = []
    for number, step in enumerate(tracked, start=1):
        model_step = report.steps[number - 1]
        phases = {p.phase: p.peak_bytes for p in model_step.phases}
        prefix = f"step {number} " if config.mode == "training" else ""
        for phase, measured in step.phases.items():
            totals.append(Comparison(f"{prefix}{phase} peak", phases.get(phase), measured))
    last, model_last = tracked[-1], report.steps[len(tracked) - 1]
    layers = []
    for node_name, measured in last.layers.items():
        analytic = model_last.forward.get(node_name, (0, None))[1]
        comparisons = [Comparison("forward peak", analytic, measured)]
        if config.mode == "training":
            comparisons.append(Comparison("saved", model_last.saved.get(node_name, 0),
                                          last.saved.get(node_name, 0)))
        check = LayerCheck(node_name, "", tuple(comparisons), fvcore_counts=False)
        if not check.ok:
            layers.append(check)
    for node_name in set(model_last.saved) - set(last.saved) - set(last.layers):
        if model_last.saved[node_name] and node_name != "loss":
            layers.append(LayerCheck(node_name, "", (Comparison(
                "saved", model_last.saved[node_name], 0),), fvcore_counts=False))
    if config.mode == "training":
        totals.append(Comparison("loss saved", model_last.saved.get("loss", 0),
                                 last.saved.get("loss", 0)))
    return MemoryRun(label=label, device=device, mode=config.mode, batch=config.batch,
                     dtype=config.dtype, precision=config.precision,
                     optimizer=config.optimizer if config.mode == "training" else None,
                     totals=tuple(totals), layers=tuple(layers),
                     layers_compared=len(last.layers), seconds=seconds)
