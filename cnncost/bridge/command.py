"""The ``cnncost check`` command's body, for ``cnncost.cli`` to call. Imports torch when called.

The CLI keeps the option parsing and the exit; this function runs the check, prints it on the
CLI's console (or writes JSON), and on CUDA also profiles the model and writes
``reports/gpu/<spec>-<variant>-b<batch>-<dtype>.{json,md}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from cnncost.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError

#: Output formats of ``cnncost check``.
CHECK_FORMATS = ("table", "json")


def run_check(spec: str | Path, *, variant: str | None = None,
              overrides: Mapping[str, Any] | None = None, device: str = "cpu", batch: int = 1,
              dtype: str = "float32", fmt: str = "table", console: Console | None = None,
              all_layers: bool = False, profile_dir: Path | None = None, warmup: int = 10,
              repeats: int = 50, memory: bool = True, optimizer: str = "sgd",
              precision: str = "float32") -> int:
    """Run ``cnncost check`` and return its exit code (0 all equal, 1 a mismatch).

    Args:
        spec: ``spec.yaml`` or ``spec.yaml@variant`` (``variant`` must then agree or be None).
        overrides: parsed ``--set`` values.
        fmt: ``table`` (rich, on ``console``) or ``json`` (printed on ``console`` as text).
        all_layers: the table shows every layer, not only the differing ones.
        memory, optimizer, precision: the memory section (``cnncost.bridge.memcheck``).
        profile_dir: where the CUDA profile goes (default ``reports/gpu``); CUDA only.
        warmup, repeats: of the CUDA profile.

    Raises:
        UsageError: bad format / variant / dtype / device, torch or fvcore missing.
        FileAccessError, SpecError: the spec cannot be read or is invalid.
    """
    from cnncost import api
    from cnncost.bridge.check import check
    from cnncost.bridge.render import check_to_json, render_check

    if fmt not in CHECK_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(CHECK_FORMATS)}")
    path, ref_variant = api.parse_spec_ref(str(spec))
    if ref_variant and variant and ref_variant != variant:
        raise UsageError(f"variant given twice: {spec!r} and --variant {variant}")
    console = console or Console(highlight=False, emoji=False)
    status = console.status(f"building and measuring {path.name} on {device} ...")
    with status if fmt == "table" else nullcontext():
        report = check(path, variant=variant or ref_variant, overrides=overrides, device=device,
                       batch=batch, dtype=dtype, memory=memory, optimizer=optimizer,
                       precision=precision)
    if fmt == "json":
        console.out(check_to_json(report), end="", highlight=False)
    else:
        render_check(report, console, all_layers=all_layers)
    if report.device.startswith("cuda"):
        from cnncost.bridge.profile import REPORT_DIR, profile, write_profile

        result = profile(path, variant=report.variant, overrides=overrides, batch=batch,
                         dtype=dtype, device=device, warmup=warmup, repeats=repeats,
                         console=console if fmt == "table" else None).with_check(report)
        written = write_profile(result, profile_dir or REPORT_DIR)
        if fmt == "table":
            console.print(f"forward {result.forward.median_ms:.3f} ms (median of "
                          f"{result.forward.repeats}); wrote " + ", ".join(map(str, written)))
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED
