"""Renderings of ``cnncost fit``'s answer and of the device table. Must not import torch."""

from __future__ import annotations

import json

from cnncost.memory.devices import DEVICES
from cnncost.memory.fit import FitResult
from cnncost.report.memory import config_line
from cnncost.report.table import format_bytes


def fit_text(r: FitResult) -> str:
    b = r.budget
    where = f"{b.device} ({format_bytes(b.capacity_bytes)})" if b.device else format_bytes(
        b.capacity_bytes, exact=True)
    lines = [
        f"largest {r.axis} that fits: {r.value}",
        (f"  peak at {r.axis} {r.value}: {format_bytes(r.peak_bytes)} "
        f"({r.peak_bytes:,} B; {r.report.peak_phase}, {r.report.peak_layer or '-'})"),
    ]
    if r.next_value is not None and r.next_peak_bytes is not None:
        lines.append(f"  peak at {r.axis} {r.next_value}: {format_bytes(r.next_peak_bytes)} "
                     f"({r.next_peak_bytes:,} B): over the budget")
    lines += [
        (f"budget: {format_bytes(b.usable_bytes)} ({b.usable_bytes:,} B) usable of {where}: "
        f"less {b.headroom:.0%} headroom (driver-reserved memory, allocator fragmentation) and "
        f"a {format_bytes(b.reserve_bytes)} reserve (CUDA context, cuBLAS / cuDNN workspaces); "
        f"--headroom and --reserve change them"),
        f"memory: {config_line(r.report)}",
        f"  weights {format_bytes(r.report.weights_bytes)}, gradients "
        f"{format_bytes(r.report.gradients_bytes)}, optimizer state "
        f"{format_bytes(r.report.optimizer_bytes)}, saved for backward "
        f"{format_bytes(r.report.saved_bytes)}" if r.config.mode == "training" else
        f"  weights {format_bytes(r.report.weights_bytes)}, activations at the peak "
        f"{format_bytes(r.report.activation_peak_bytes)}",
        f"({r.evaluations} memory analyses)",
    ]
    note = DEVICES[b.device].note if b.device else ""
    if note:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def fit_to_json(r: FitResult) -> str:
    b = r.budget
    data = {
        "axis": r.axis, "value": r.value, "peak_bytes": r.peak_bytes,
        "next_value": r.next_value, "next_peak_bytes": r.next_peak_bytes,
        "budget": {"device": b.device, "capacity_bytes": b.capacity_bytes,
                   "reserve_bytes": b.reserve_bytes, "headroom": b.headroom,
                   "usable_bytes": b.usable_bytes},
        "memory_config": config_line(r.report),
        "evaluations": r.evaluations,
        "memory": r.report.to_dict(),
    }
    return json.dumps(data, indent=2) + "\n"


def list_devices_text() -> str:
    width = max(len(n) for n in DEVICES)
    lines = [f"{d.name:<{width}}  {format_bytes(d.memory_bytes):>9}  {d.description}"
             + (f" ({d.note})" if d.note else "") for d in DEVICES.values()]
    return "\n".join(lines) + "\n"
