"""``cnncost fit``: the largest batch (or resolution) whose peak fits a memory budget.

Must not import torch. The peak comes from the eager memory model (``analyze_memory``), which is
monotone in the batch and, for a convolutional network, in the resolution; the search gallops up
from a value that fits (1, 2, 4, ... times the step) and bisects the last interval, so the answer
is exact: ``peak(answer) <= usable < peak(answer + step)``, both figures reported.

The budget states its assumptions: ``usable = capacity * (1 - headroom) - reserve``, the reserve
for the CUDA context and library workspaces (cuBLAS, cuDNN), the headroom for what the driver
keeps and for the caching allocator's fragmentation; the model itself already rounds every
allocation as CUDA's allocator does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cnncost.errors import CnncostError, UsageError
from cnncost.graph.layergraph import LayerGraph
from cnncost.memory.models import MemoryConfig, analyze_memory
from cnncost.memory.report import MemoryReport

#: Defaults of ``fit``'s assumptions (printed with every answer).
DEFAULT_RESERVE = 2**30  # CUDA context, cuBLAS / cuDNN workspaces
DEFAULT_HEADROOM = 0.05  # driver-reserved memory, allocator fragmentation
#: The largest batch ``fit`` tries.
MAX_BATCH = 2**24


class NothingFits(CnncostError):
    """Not even the smallest value fits the budget (the weights alone may not)."""

    exit_code = 1


@dataclass(frozen=True)
class Budget:
    capacity_bytes: int
    reserve_bytes: int = DEFAULT_RESERVE
    headroom: float = DEFAULT_HEADROOM
    device: str | None = None  # the device table's name, when one was named

    def __post_init__(self) -> None:
        if self.capacity_bytes <= 0:
            raise UsageError(f"the memory must be positive, got {self.capacity_bytes} bytes")
        if self.reserve_bytes < 0:
            raise UsageError(f"the reserve must not be negative, got {self.reserve_bytes}")
        if not 0 <= self.headroom < 1:
            raise UsageError(f"the headroom must be in [0, 1), got {self.headroom}")
        if self.usable_bytes <= 0:
            raise UsageError(
                f"nothing is left for the network: {self.capacity_bytes:,} bytes less "
                f"{self.headroom:.0%} headroom and a {self.reserve_bytes:,}-byte reserve")

    @property
    def usable_bytes(self) -> int:
        return int(self.capacity_bytes * (1 - self.headroom)) - self.reserve_bytes


@dataclass(frozen=True)
class FitResult:
    """The largest ``value`` of ``axis`` that fits, its peak and the next step's peak."""

    axis: str  # "batch" or the spec parameter searched (e.g. "resolution")
    value: int
    peak_bytes: int
    next_value: int | None  # value + step (None: the search limit was reached)
    next_peak_bytes: int | None
    budget: Budget
    config: MemoryConfig
    evaluations: int
    report: MemoryReport


def fit_batch(graph: LayerGraph, config: MemoryConfig, budget: Budget,
              limit: int = MAX_BATCH) -> FitResult:
    """The largest batch of ``graph`` under ``config`` (its batch is ignored) within ``budget``.

    Raises:
        NothingFits: batch 1 does not fit.
        UsageError, SpecError: as ``analyze_memory``.
    """
    def peak(batch: int) -> MemoryReport:
        return analyze_memory(graph, replace(config, batch=batch))

    return _largest("batch", peak, 1, 1, limit, budget, config)


def fit_parameter(build: Callable[[int], LayerGraph], name: str, start: int, step: int,
                  config: MemoryConfig, budget: Budget, limit: int = 2**16) -> FitResult:
    """The largest value of the spec parameter ``name`` (a multiple of ``step``, searched from
    ``start``) whose graph ``build(value)`` fits at ``config.batch``.

    Raises:
        NothingFits: ``step`` itself does not fit.
        UsageError: a bad step or start.
        SpecError: the network cannot be built at a value the search needs.
    """
    if step < 1 or start < step:
        raise UsageError(f"--step must be at least 1 and at most the start value, got step "
                         f"{step}, start {start}")
    start -= start % step

    def peak(value: int) -> MemoryReport:
        return analyze_memory(build(value), config)

    return _largest(name, peak, start, step, limit, budget, config)


def _largest(axis: str, peak: Callable[[int], MemoryReport], start: int, step: int, limit: int,
             budget: Budget, config: MemoryConfig) -> FitResult:
    usable = budget.usable_bytes
    cache: dict[int, MemoryReport] = {}

    def at(value: int) -> MemoryReport:
        if value not in cache:
            cache[value] = peak(value)
        return cache[value]

    def fits(value: int) -> bool:
        return at(value).peak_bytes <= usable

    low = start
    if not fits(low):  # search down to the step
        high = low
        low = step
        if not fits(low):
            first = at(low)
            raise NothingFits(
                f"{axis} {low} needs {first.peak_bytes:,} bytes at its peak (weights "
                f"{first.weights_bytes:,}, {first.peak_phase} of {first.peak_layer or '-'}), "
                f"more than the {usable:,} usable: nothing fits")
    else:
        high = None
        span = step
        while high is None:  # gallop: start + step, + 2 step, + 4 step, ...
            candidate = min(low + span, limit - limit % step)
            if candidate <= low:
                break
            if fits(candidate):
                low = candidate
                span *= 2
            else:
                high = candidate
    while high is not None and high - low > step:  # bisect on multiples of step
        middle = low + ((high - low) // step // 2) * step
        if fits(middle):
            low = middle
        else:
            high = middle
    best = at(low)
    after = at(low + step) if low + step <= limit else None
    return FitResult(axis, low, best.peak_bytes, low + step if after else None,
                     after.peak_bytes if after else None, budget, config, len(cache), best)


def parse_size(text: str) -> int:
    """``80GiB``, ``80GB``, ``24 GiB``, ``512MiB``, ``1e9`` -> bytes (GB is 10^9, GiB 2^30).

    Raises:
        UsageError: not a size, or not positive.
    """
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    s = text.strip().lower().replace("_", "")
    number = s.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = s[len(number):].strip()
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"not a memory size: {text!r} (write 80GiB, 24GB, 512MiB ...)") from None
    if unit not in units:
        raise UsageError(f"unknown unit {unit!r} in {text!r}; use B, KB, MB, GB, TB, KiB, MiB, "
                         f"GiB or TiB")
    size = int(value * units[unit])
    if size <= 0:
        raise UsageError(f"a memory size must be positive, got {text!r}")
    return size


def parse_fraction(text: str) -> float:
    """``5%`` or ``0.05`` -> 0.05.

    Raises:
        UsageError: not a fraction in [0, 1).
    """
    s = text.strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise UsageError(f"not a fraction: {text!r} (write 5% or 0.05)") from None
    if not 0 <= value < 1:
        raise UsageError(f"the headroom must be in [0, 1), got {text!r}")
    return value
