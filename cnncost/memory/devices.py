"""Accelerators and their memory, for ``cnncost fit --device-name``. Must not import torch.

Capacities are the vendors' nominal figures, in GiB (the "80 GB" of an H100 is 80 GiB of HBM).
What a program can allocate is less: the driver and ECC keep some (an H100 80 GB reports about
79.2 GiB to CUDA, an H200 140.4 GiB of its 141), the CUDA context and library workspaces take
some more. ``fit`` subtracts a reserve and a headroom that it prints and that the user sets; for
an exact budget pass ``--memory`` with what ``torch.cuda.mem_get_info()`` reports as free.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30


@dataclass(frozen=True)
class Device:
    name: str
    memory_bytes: int
    description: str
    note: str = ""


_UNIFIED = ("unified memory shared with the CPU; macOS lets the GPU use about three quarters "
            "by default, and cnncost models CUDA's allocator, not Metal's")

DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("h200", 141 * GIB, "NVIDIA H200 (141 GB HBM3e)"),
    Device("h100", 80 * GIB, "NVIDIA H100 SXM / PCIe (80 GB HBM3 / HBM2e)"),
    Device("h100-nvl", 94 * GIB, "NVIDIA H100 NVL (94 GB HBM3)"),
    Device("a100-80gb", 80 * GIB, "NVIDIA A100 80 GB"),
    Device("a100-40gb", 40 * GIB, "NVIDIA A100 40 GB"),
    Device("l40s", 48 * GIB, "NVIDIA L40S (48 GB GDDR6)"),
    Device("a6000", 48 * GIB, "NVIDIA RTX A6000 (48 GB)"),
    Device("a10g", 24 * GIB, "NVIDIA A10G (24 GB)"),
    Device("l4", 24 * GIB, "NVIDIA L4 (24 GB)"),
    Device("v100-32gb", 32 * GIB, "NVIDIA V100 32 GB"),
    Device("v100-16gb", 16 * GIB, "NVIDIA V100 16 GB"),
    Device("t4", 16 * GIB, "NVIDIA T4 (16 GB)"),
    Device("rtx-4090", 24 * GIB, "NVIDIA GeForce RTX 4090 (24 GB)"),
    Device("rtx-3090", 24 * GIB, "NVIDIA GeForce RTX 3090 (24 GB)"),
    Device("rtx-4080", 16 * GIB, "NVIDIA GeForce RTX 4080 (16 GB)"),
    Device("mi300x", 192 * GIB, "AMD Instinct MI300X (192 GB HBM3)"),
    Device("apple-m3-max-128gb", 128 * GIB, "Apple M3 Max, 128 GB", _UNIFIED),
    Device("apple-m2-ultra-192gb", 192 * GIB, "Apple M2 Ultra, 192 GB", _UNIFIED),
    Device("apple-m2-max-96gb", 96 * GIB, "Apple M2 Max, 96 GB", _UNIFIED),
    Device("apple-m1-16gb", 16 * GIB, "Apple M1, 16 GB", _UNIFIED),
)}
