"""Compare a spec's module with a reference model (torchvision, timm, hand-written): test support.

Only the tests compare with reference models, so this lives with them, not in the package.

Reference models come with their own module names, so the comparison is over what does not
depend on names: the parameter total, the multiset of parameter tensor shapes, the output shape
and the fvcore and FlopCounterMode totals on the same input; every one must be equal.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnncost.bridge.result import Comparison


@dataclass(frozen=True)
class ReferenceComparison:
    """``analytic`` holds the spec module's value, ``measured`` the reference's."""

    comparisons: tuple[Comparison, ...]
    #: parameter shapes (with multiplicity) only the spec's module / only the reference has
    only_in_module: tuple[tuple[tuple[int, ...], int], ...]
    only_in_reference: tuple[tuple[tuple[int, ...], int], ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(c.quantity for c in self.comparisons if not c.ok)


def _measure(model: nn.Module, x: torch.Tensor) -> dict[str, object]:
    from fvcore.nn import FlopCountAnalysis  # type: ignore[import-untyped]  # no stubs

    model.eval()
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(model, (x,))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            fvcore_total = int(analysis.total())
    return {
        "params_total": sum(p.numel() for p in model.parameters()),
        "param_shapes": Counter(tuple(p.shape) for p in model.parameters()),
        "output_shape": (tuple(tuple(o.shape) for o in out) if isinstance(out, tuple)
                         else tuple(out.shape)),
        "fvcore_macs": fvcore_total,
        "torch_flops": counter.get_total_flops(),
    }


def compare_with_reference(module: nn.Module, reference: nn.Module,
                           x: torch.Tensor) -> ReferenceComparison:
    """Compare ``module`` (a spec's) with ``reference`` on input ``x`` (both put in eval mode)."""
    a, b = _measure(module, x), _measure(reference, x)
    shapes_a, shapes_b = a["param_shapes"], b["param_shapes"]
    if not (isinstance(shapes_a, Counter) and isinstance(shapes_b, Counter)):  # for mypy
        raise TypeError("parameter shapes must be Counters")
    return ReferenceComparison(
        comparisons=tuple(Comparison(q, a[q], b[q]) for q in a),
        only_in_module=tuple(sorted((shapes_a - shapes_b).items())),
        only_in_reference=tuple(sorted((shapes_b - shapes_a).items())),
    )
