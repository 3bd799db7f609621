"""The torch bridge: LayerGraph -> nn.Module, and the cross-check against torch and fvcore.

The only package of cnncost that imports torch (and torchvision / fvcore), and only inside its
submodules: importing ``cnncost.bridge`` itself imports nothing heavy, so the analytic path
(spec, graph, ops, cost, report, cli) can never pull torch in by accident.

- ``cnncost.bridge.builders``: one builder per registered operator, LayerNode -> nn.Module
  (``cnncost.bridge.layers`` and ``cnncost.bridge.pointwise`` hold the modules torch has no
  exact counterpart for).
- ``cnncost.bridge.module``: ``to_module(graph)``, a module tree that mirrors the dotted names.
- ``cnncost.bridge.check``: ``check(spec, ...)``, analytic vs measured, per layer; its result
  (``cnncost.bridge.result``) and rendering (``cnncost.bridge.render``) import no torch.
- ``cnncost.bridge.profile``: per-layer latency and peak memory on CUDA.
- ``cnncost.bridge.command``: the ``cnncost check`` command's glue (called by the CLI).

Parameter mapping (what the check compares): trainable parameters are the module's
``parameters()``; non-trainable parameters are its buffers that are parameters in the analytic
sense (batch-norm running mean / variance, RBF centres, Keras Normalization's mean / variance /
count). The bridge registers no other buffer; torch's ``num_batches_tracked`` step counter is never
created here and is excluded wherever a foreign module (a torchvision reference) has one.
"""

from __future__ import annotations

from cnncost.errors import UsageError


def require_torch() -> None:
    """Import-check the bridge's dependencies.

    Raises:
        UsageError: torch or fvcore is not installed (``pip install 'cnncost[torch]'``).
    """
    missing = []
    for name in ("torch", "fvcore"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(
            f"the torch bridge needs {' and '.join(missing)}: pip install 'cnncost[torch]'")
