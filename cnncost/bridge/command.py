"""The ``cnncost check`` command's body, for ``cnncost.cli`` to call. Imports torch when called.

The CLI keeps the option parsing, the output and the exit; this function runs the check and, on
CUDA, also profiles the model and writes ``reports/gpu/<spec>-<variant>-b<batch>-<dtype>.{json,md}``,
and returns what it found. It prints nothing: the console it may be given only carries the
transient progress display (a spinner, the profile's progress bars).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from cnncost.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from cnncost.bridge.profile import ProfileReport
    from cnncost.bridge.result import CheckReport

#: Output formats of ``cnncost check``.
CHECK_FORMATS = ("table", "json")


@dataclass(frozen=True)
class CheckRun:
    """What ``cnncost check`` found: the check, and on CUDA the profile and the files written."""

    report: CheckReport
    profile: ProfileReport | None = None
    written: tuple[Path, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when every figure agrees, 1 on a mismatch."""
        return EXIT_OK if self.report.ok else EXIT_CHECK_FAILED

    @property
    def profile_line(self) -> str | None:
        """``forward 1.234 ms (median of 50); wrote ...`` after a CUDA profile."""
        if self.profile is None:
            return None
        return (f"forward {self.profile.forward.median_ms:.3f} ms (median of "
                f"{self.profile.forward.repeats}); wrote " + ", ".join(map(str, self.written)))


def run_check(spec: str | Path, *, variant: str | None = None,
              overrides: Mapping[str, Any] | None = None, device: str = "cpu", batch: int = 1,
              dtype: str = "float32", fmt: str = "table", progress: Console | None = None,
              profile_dir: Path | None = None, warmup: int = 10, repeats: int = 50,
              memory: bool = True, optimizer: str = "sgd",
              precision: str = "float32") -> CheckRun:
    """Run ``cnncost check`` and return what it found (``CheckRun.exit_code``: 0 all equal, 1 a
    mismatch).

    Args:
        spec: ``spec.yaml`` or ``spec.yaml@variant`` (``variant`` must then agree or be None).
        overrides: parsed ``--set`` values.
        fmt: ``table`` or ``json``, the format the caller will print (checked here; with
            ``json`` no progress is displayed).
        progress: where a spinner and the profile's progress bars go (None: nowhere).
        memory, optimizer, precision: the memory section (``cnncost.bridge.memcheck``).
        profile_dir: where the CUDA profile goes (default ``reports/gpu``); CUDA only.
        warmup, repeats: of the CUDA profile.

    Raises:
        UsageError: bad format / variant / dtype / device, torch or fvcore missing.
        FileAccessError, SpecError: the spec cannot be read or is invalid.
    """
    from cnncost import api
    from cnncost.bridge.check import check

    if fmt not in CHECK_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(CHECK_FORMATS)}")
    path, ref_variant = api.parse_spec_ref(str(spec))
    if ref_variant and variant and ref_variant != variant:
        raise UsageError(f"variant given twice: {spec!r} and --variant {variant}")
    shown = progress if fmt == "table" else None
    status = shown.status(f"building and measuring {path.name} on {device} ...") if shown \
        else nullcontext()
    with status:
        report = check(path, variant=variant or ref_variant, overrides=overrides, device=device,
                       batch=batch, dtype=dtype, memory=memory, optimizer=optimizer,
                       precision=precision)
    if not report.device.startswith("cuda"):
        return CheckRun(report)
    from cnncost.bridge.profile import REPORT_DIR, profile, write_profile

    result = profile(path, variant=report.variant, overrides=overrides, batch=batch,
                     dtype=dtype, device=device, warmup=warmup, repeats=repeats,
                     console=shown).with_check(report)
    written = write_profile(result, profile_dir or REPORT_DIR)
    return CheckRun(report, result, written)
