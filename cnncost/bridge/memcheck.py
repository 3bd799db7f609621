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


def memory_runs(graph: LayerGraph, *, batch: int, dtype: str, optimizer: str = "sgd",
                precision: str = "float32") -> tuple[MemoryRun, ...]:
    """Compare the model with the tracker in the three runs (see the module docstring)."""
    from cnncost.bridge.memtrack import track_memory, tracker_config

    inference = MemoryConfig(mode="inference", batch=batch, dtype=dtype)
    training = MemoryConfig(mode="training", batch=max(batch, MIN_TRAINING_BATCH),
                            optimizer=optimizer, precision=precision)
    plan = [("inference on fake cuda", inference, "cuda", False),
            ("training forward on fake cuda", training, "cuda", True),
            ("training steps on fake cpu", training, "cpu", False)]
    runs = []
    for label, config, device, forward_only in plan:
        start = time.perf_counter()
        try:
            report = analyze_memory(graph, tracker_config(config, device))
        except NoGradient:  # no trainable parameter: no training step to compare
            continue
        tracked = track_memory(graph, config, device, forward_only=forward_only)
        runs.append(_compare(label, report, tracked.steps, device, config,
                             time.perf_counter() - start))
    if any(run.mode == "training" for run in runs):
        runs.append(_training_flops(graph, training.batch))
    return tuple(runs)


def _training_flops(graph: LayerGraph, batch: int) -> MemoryRun:
    """The torchvision convention's training FLOPs against FlopCounterMode's count of a forward
    and backward, with the one difference named: FlopCounterMode counts the weight gradient of
    a grouped convolution ``groups`` times (``cost.training.flop_counter_overcount``)."""
    from cnncost.bridge.memtrack import count_training_flops

    start = time.perf_counter()
    cost = training_cost(graph, "torchvision", batch)
    overcount = flop_counter_overcount(graph, batch)
    measured = count_training_flops(graph, batch)
    extra = sum(overcount.values())
    totals = (Comparison("training FLOPs + FlopCounterMode's grouped-conv weight-gradient "
                         f"overcount ({extra:,} in {len(overcount)} layers)",
                         cost.flops + extra, measured),)
    return MemoryRun(label="training FLOPs (torchvision convention) vs FlopCounterMode",
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
