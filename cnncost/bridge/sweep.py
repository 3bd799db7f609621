"""``cnncost sweep``: the cross-check and the profile over many specs, batches and dtypes.

The zoo run on a GPU is one command::

    cnncost sweep specs/ --device cuda --batch 1 --batch 64 --dtype float32 --dtype bfloat16

For every spec and variant, every batch and every dtype it runs ``cnncost check`` on the device,
then the profile (``cnncost.bridge.profile``), and writes ``<stem>.json`` and ``<stem>.md`` as
``cnncost check --device cuda`` does, with the check's verdict in them; then ``index.md``, one row
per JSON file in the directory (``write_index``, which needs no torch).

- Order: each spec's default variant first (every batch and dtype), then the other variants, so a
  sweep cut short still covers every architecture.
- Resumable: a run whose JSON file exists is skipped (``redo`` runs it again).
- Bounded: no run starts once ``budget_s`` seconds have passed; the runs left are listed.
- Robust: a run that runs out of device memory, or fails, is written as a JSON file with its
  ``status`` and message (so the index shows it and a resumed sweep does not retry it), and the
  sweep goes on. A failed check is not an error of the sweep: its verdict is in the files and in
  the index, and ``run_sweep`` reports it.

Imports torch only when a run starts; ``write_index`` and ``index_markdown`` read JSON only.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost import api
from cnncost.errors import FileAccessError, UsageError
from cnncost.report.formats import md_table
from cnncost.report.table import format_bytes, format_count

if TYPE_CHECKING:
    from rich.console import Console

#: A run's outcome, as written in its JSON ``status`` and shown in the index.
STATUS_OK = "ok"  # checked (whatever the verdict) and profiled
STATUS_OOM = "out of memory"
STATUS_ERROR = "error"

INDEX_NAME = "index.md"


@dataclass(frozen=True)
class Job:
    """One run: a spec's variant at one batch and dtype."""

    spec: Path
    model: str
    variant: str | None
    batch: int
    dtype: str

    @property
    def label(self) -> str:
        head = self.model + (f"@{self.variant}" if self.variant else "")
        return f"{head} b{self.batch} {self.dtype}"

    @property
    def stem(self) -> str:
        from cnncost.bridge.profile import stem_of

        return stem_of(self.model, self.variant, self.batch, self.dtype)


def plan(paths: Iterable[Path], batches: Sequence[int], dtypes: Sequence[str]) -> list[Job]:
    """Every spec x variant x batch x dtype, each spec's default variant first (see module).

    Raises:
        UsageError: no batch or no dtype, a batch < 1.
        FileAccessError, SpecError: a spec cannot be read or is invalid.
    """
    if not batches or not dtypes:
        raise UsageError("a sweep needs at least one batch and one dtype")
    if min(batches) < 1:
        raise UsageError(f"batch must be at least 1, got {min(batches)}")
    firsts: list[Job] = []
    others: list[Job] = []
    for path in paths:
        spec = api.load(path).spec
        names: list[str | None] = list(spec.variants) or [None]
        default = spec.default_variant if spec.default_variant is not None else names[0]
        for variant in [default] + [n for n in names if n != default]:
            jobs = firsts if variant == default else others
            jobs.extend(Job(path, spec.name, variant, b, d) for b in batches for d in dtypes)
    return firsts + others


@dataclass
class SweepResult:
    """What a sweep did, run by run."""

    done: list[tuple[Job, dict[str, Any]]] = field(default_factory=list)  # (job, its summary)
    skipped: list[Job] = field(default_factory=list)  # JSON already there
    not_run: list[Job] = field(default_factory=list)  # the budget ran out, or interrupted
    interrupted: bool = False  # Ctrl-C / SIGINT: the run in progress was abandoned
    index: Path | None = None

    @property
    def check_failures(self) -> list[Job]:
        return [job for job, s in self.done if s["status"] == STATUS_OK and not s["check_ok"]]

    @property
    def errors(self) -> list[Job]:
        """Runs that failed (out of memory is recorded, not an error: it is a fact of the
        device)."""
        return [job for job, s in self.done if s["status"] == STATUS_ERROR]

    @property
    def out_of_memory(self) -> list[Job]:
        return [job for job, s in self.done if s["status"] == STATUS_OOM]


Runner = Callable[[Job], dict[str, Any]]


def run_sweep(jobs: Sequence[Job], out_dir: Path, *, device: str = "cuda", warmup: int = 10,
              repeats: int = 50, budget_s: float | None = None, redo: bool = False,
              progress: Console | None = None, on_run: Callable[[str], None] | None = None,
              runner: Runner | None = None,
              clock: Callable[[], float] = time.monotonic) -> SweepResult:
    """Run ``jobs`` in order and write their files and the index under ``out_dir``.

    Prints nothing: ``on_run`` receives a line per finished run (the CLI prints it) and
    ``progress`` carries the profiles' transient progress bars.

    Args:
        budget_s: no run starts after this many seconds (None: no limit).
        redo: run jobs whose JSON file already exists again.
        progress: where progress bars go (None: nowhere).
        on_run: called with ``[i/n] label: verdict (seconds)`` after each run.
        runner: runs one job and writes its files, returning its summary (default: check and
            profile on ``device``; tests pass their own).

    Raises:
        UsageError: torch / fvcore missing, an unsupported device.
        FileAccessError: ``out_dir`` cannot be written.
    """
    run = runner or _default_runner(out_dir, device=device, warmup=warmup, repeats=repeats,
                                    console=progress)
    result = SweepResult()
    start = clock()

    def left(i: int) -> list[Job]:
        return [j for j in jobs[i:] if redo or not (out_dir / f"{j.stem}.json").exists()]

    for i, job in enumerate(jobs):
        if not redo and (out_dir / f"{job.stem}.json").exists():
            result.skipped.append(job)
            continue
        if budget_s is not None and clock() - start >= budget_s:
            result.not_run.extend(left(i))
            break
        began = clock()
        try:
            summary = run(job)
        except KeyboardInterrupt:  # the files of finished runs stay; the index lists them
            result.interrupted = True
            result.not_run.extend(left(i))
            break
        result.done.append((job, summary))
        if on_run is not None:
            on_run(f"[{i + 1}/{len(jobs)}] {job.label}: {_summary_words(summary)} "
                   f"({clock() - began:.1f} s)")
    result.index = write_index(out_dir)
    return result


def _summary_words(summary: dict[str, Any]) -> str:
    if summary["status"] != STATUS_OK:
        return f"{summary['status']}: {summary.get('message', '')}"
    verdict = "check ok" if summary["check_ok"] else "CHECK MISMATCH"
    return f"{verdict}, forward {summary['forward_ms']:.3f} ms"


def _default_runner(out_dir: Path, *, device: str, warmup: int, repeats: int,
                    console: Console | None) -> Runner:
    """Check, then profile, on ``device``; write the profile with the check's verdict."""
    from cnncost.bridge import require_torch

    require_torch()
    import torch

    from cnncost.bridge.check import check, resolve_device
    from cnncost.bridge.profile import profile, write_profile

    resolve_device(device)  # fail once, before the first run, on a device that is not there

    def run(job: Job) -> dict[str, Any]:
        try:
            report = check(job.spec, variant=job.variant, device=device, batch=job.batch,
                           dtype=job.dtype)
            measured = profile(job.spec, variant=job.variant, batch=job.batch, dtype=job.dtype,
                               device=device, warmup=warmup, repeats=repeats,
                               console=console if console and console.is_terminal else None)
        except torch.cuda.OutOfMemoryError as err:
            return _write_failure(out_dir, job, device, STATUS_OOM, str(err).splitlines()[0])
        except Exception as err:  # noqa: BLE001 — recorded in the file, the sweep goes on
            message = "".join(traceback.format_exception_only(err)).strip()
            return _write_failure(out_dir, job, device, STATUS_ERROR, message)
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        measured = measured.with_check(report)
        write_profile(measured, out_dir)
        return {"status": STATUS_OK, "check_ok": report.ok,
                "forward_ms": measured.forward.median_ms}

    return run


def _write_failure(out_dir: Path, job: Job, device: str, status: str,
                   message: str) -> dict[str, Any]:
    import torch

    from cnncost.bridge.profile import device_name, write_text_atomic

    data: dict[str, Any] = {"status": status, "message": message, "model": job.model, "variant": job.variant,
            "overrides": {}, "spec_file": str(job.spec), "batch": job.batch, "dtype": job.dtype,
            "device": device, "device_name": device_name(torch.device(device))}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / f"{job.stem}.json", json.dumps(data, indent=2) + "\n")
    except OSError as err:
        raise FileAccessError(f"cannot write {out_dir}: {err.strerror or err}") from None
    return data


# --------------------------------------------------------------------------- the index


INDEX_COLUMNS = ("model", "batch", "dtype", "device", "check", "forward ms", "images/s",
                 "conv+linear MACs", "TFLOP/s", "inference peak", "eager model",
                 "training step peak", "eager model")


def index_rows(out_dir: Path) -> list[list[object]]:
    """One row per profile JSON file under ``out_dir``, sorted by model, variant, batch, dtype.

    Memory columns: measured peak above the baseline (weights, buffers, input) next to the
    analytic figure at the same batch and dtype. TFLOP/s: 2 x conv + linear MACs (torchvision
    convention) per median forward.

    Raises:
        FileAccessError: a JSON file cannot be read or is not a profile.
    """
    entries = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            key = (data["model"], data["variant"] or "", data["batch"], data["dtype"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise FileAccessError(f"{path}: not a cnncost profile ({err})") from None
        entries.append((key, path, data))
    return [_index_row(path, data) for _, path, data in sorted(entries, key=lambda e: e[0])]


def _index_row(path: Path, data: dict[str, Any]) -> list[object]:
    label = data["model"] + (f"@{data['variant']}" if data["variant"] else "")
    if data.get("overrides"):
        label += " " + ",".join(f"{k}={v}" for k, v in sorted(data["overrides"].items()))
    head: list[object] = [f"[{label}]({path.with_suffix('.md').name})", data["batch"],
                          data["dtype"], data["device_name"]]
    status = data.get("status", STATUS_OK)
    if status != STATUS_OK:
        head[0] = label
        return head + [f"{status}: {data.get('message', '')}"] + [""] * 8
    check = data.get("check_ok")
    verdict = ("–" if check is None else "equal" if check
               else f"**{len(data.get('check_mismatches', []))} layers differ**")
    forward_ms = data["forward"]["median_ms"]
    per_s = data["batch"] / forward_ms * 1e3 if forward_ms else 0.0
    tflops = 2 * data["macs"] / forward_ms / 1e9 if forward_ms else 0.0
    memory = data.get("memory")
    mem: list[object] = ["", "", "", ""]
    if memory:
        mem = [format_bytes(memory["inference_peak_bytes"] - memory["baseline_bytes"]),
               _eager(memory, "eager_inference_peak_bytes", "eager_baseline_bytes",
                      "analytic_peak_activation_bytes"),
               "out of memory" if memory["training_peak_bytes"] is None
               else format_bytes(memory["training_peak_bytes"]
                                 - (memory.get("training_start_bytes") or
                                    memory["baseline_bytes"])),
               _eager(memory, "eager_training_peak_bytes", "eager_training_start_bytes",
                      "analytic_activation_bytes")]
    return head + [verdict, f"{forward_ms:.3f}", f"{per_s:,.0f}", format_count(data["macs"]),
                   f"{tflops:.3g}", *mem]


def _eager(memory: dict[str, Any], peak: str, start: str, legacy: str) -> str:
    """The eager model's figure above its start; profiles written before the eager model
    carry the liveness / sum figure instead (marked so)."""
    if memory.get(peak) is not None and memory.get(start) is not None:
        return format_bytes(memory[peak] - memory[start])
    return format_bytes(memory[legacy]) + " (liveness)" if "peak" in legacy else \
        format_bytes(memory[legacy]) + " (sum)"


def index_markdown(out_dir: Path) -> str:
    rows = index_rows(out_dir)
    lines = [
        "# Measured runs", "",
        ("Generated by `cnncost sweep` (or `cnncost sweep --index-only`) from the JSON files in "
        "this directory; one row per run. Forward: median of the timed forwards. Memory: peak "
        "allocated above the baseline (weights, buffers, input) at inference and above the "
        "start of the second of two training steps (SGD), each next to cnncost's eager memory "
        "model for the same protocol on CUDA. TFLOP/s: 2 x conv + linear MACs per forward."),
        ""]
    if not rows:
        return "\n".join(lines + ["No runs yet.", ""])
    lines += [md_table(list(INDEX_COLUMNS), "lrlll" + "r" * 8, rows), ""]
    return "\n".join(lines)


def write_index(out_dir: Path) -> Path:
    """Write ``out_dir/index.md`` from the JSON files there.

    Raises:
        FileAccessError: the directory cannot be read or written.
    """
    from cnncost.bridge.profile import write_text_atomic

    text = index_markdown(out_dir)
    path = out_dir / INDEX_NAME
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except OSError as err:
        raise FileAccessError(f"cannot write {path}: {err.strerror or err}") from None
    return path
