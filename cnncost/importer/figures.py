"""The original model's own figures, for the imported spec's ``documented`` section. Imports
torch.

Parameters (``parameters()``), non-trainable values (its buffers, ``num_batches_tracked``
excluded, as everywhere in cnncost) and the FLOPs ``torch.utils.flop_counter.FlopCounterMode``
counts on one sample (on fake tensors: the formulas read shapes only). Parameters of modules the
traced forward never calls (auxiliary heads that run only in training) are reported apart: the
spec describes the network the forward runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnncost.importer.trace import TraceNode


@dataclass(frozen=True)
class Figures:
    """What the original model says of itself (see the module docstring)."""

    params_trainable: int
    params_non_trainable: int
    flops: int
    unused: tuple[tuple[str, int], ...]

    @property
    def unused_params(self) -> int:
        return sum(n for _, n in self.unused)


def _used_modules(nodes: list[TraceNode]) -> set[str]:
    used = set()
    for node in nodes:
        if node.kind == "call_module":
            used.add(str(node.target))
        elif node.kind == "get_attr":
            used.add(str(node.target).rpartition(".")[0])
        for scope in node.scopes:
            used.add(scope.name)
    return used


def _owned_by(name: str, used: set[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:k]) in used for k in range(len(parts), 0, -1))


def measure(model: nn.Module, input_shape: tuple[int, ...], nodes: list[TraceNode]) -> Figures:
    """The figures of ``model`` on one sample of ``input_shape``."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    used = _used_modules(nodes)
    unused: dict[str, int] = {}
    trainable = non_trainable = 0
    for name, p in model.named_parameters():
        module = name.rpartition(".")[0]
        if _owned_by(module, used):
            trainable += p.numel()
        else:
            top = module.split(".")[0]
            unused[top] = unused.get(top, 0) + p.numel()
    for name, b in model.named_buffers():
        if not name.endswith("num_batches_tracked") and _owned_by(name.rpartition(".")[0], used):
            non_trainable += b.numel()
    counter = FlopCounterMode(display=False)
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad(), counter:
            model(torch.empty(1, *input_shape))
    except Exception:  # noqa: BLE001 - no fake kernel for an operation: count for real
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.randn(1, *input_shape))
    return Figures(trainable, non_trainable, int(counter.get_total_flops()),
                   tuple(sorted(unused.items())))
