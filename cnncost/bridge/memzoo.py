"""The memory check over the whole zoo, as committed reports. Imports torch.

``python -m cnncost.bridge.memzoo`` runs ``cnncost check``'s memory section (``memcheck``) for every
spec in ``specs/`` and every variant, and the configurations asked of the zoo's flagships
(ResNet-50, VGG-16, EfficientNet-B0 at batch 64: inference, training with SGD and Adam, float32
and bfloat16 autocast), and writes:

- ``reports/memory.json``: every compared figure, cnncost's and the tracker's, per run;
- ``reports/memory.md``: one row per spec and variant, and the flagship table.

The whole zoo takes tens of minutes of fake-tensor execution, too long for every CI run;
``tests/bridge/test_memory_zoo.py`` keeps the committed report current instead: it recomputes
every analytic figure (milliseconds, no torch) and fails when one differs from the report's, or
when a spec or variant is missing from it. Run this after changing a memory rule or a spec.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cnncost import api
from cnncost.bridge.memcheck import memory_runs
from cnncost.bridge.memtrack import track_memory, tracker_config
from cnncost.memory.models import MemoryConfig, analyze_memory
from cnncost.report.formats import md_table
from cnncost.report.table import format_bytes

ROOT = Path(__file__).resolve().parents[2]

#: The flagship configurations (spec, variant) x (mode, batch, precision, optimizer).
FLAGSHIPS = [("specs/resnet.yaml", "resnet50"), ("specs/vgg.yaml", "vgg16_torchvision"),
             ("specs/efficientnet.yaml", "torchvision_b0")]
FLAGSHIP_CONFIGS = [MemoryConfig(mode="inference", batch=64)] + [
    MemoryConfig(mode="training", batch=64, optimizer=optimizer, precision=precision)
    for optimizer in ("sgd", "adam") for precision in ("float32", "bfloat16-autocast")]


def zoo_cases(specs: Path) -> list[tuple[str, str | None]]:
    out = []
    for path in sorted(p for p in specs.rglob("*.yaml") if "blocks" not in p.parts):
        for variant in api.variants(path) or (None,):
            out.append((str(path.relative_to(ROOT)), variant))
    return out


def _run_dict(run: Any) -> dict[str, Any]:
    data = asdict(run)
    data["ok"] = run.ok
    return data


def measure_zoo(specs: Path, log: Any = print,
                kept: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every spec and variant's rows, in ``zoo_cases`` order; those in ``kept`` (rows of an
    earlier report) are taken from it, not measured again."""
    previous = {(r["spec"], r["variant"]): r for r in kept or []}
    rows = []
    for spec, variant in zoo_cases(specs):
        if (spec, variant) in previous:
            rows.append(previous[(spec, variant)])
            continue
        start = time.perf_counter()
        graph, _ = api.build_graph(ROOT / spec, variant=variant)
        runs = memory_runs(graph, batch=1, dtype="float32")
        rows.append({"spec": spec, "variant": variant, "runs": [_run_dict(r) for r in runs]})
        log(f"{'ok ' if all(r.ok for r in runs) else 'BAD'} {spec}@{variant} "
            f"{time.perf_counter() - start:.1f}s")
    return rows


def measure_flagships(log: Any = print) -> list[dict[str, Any]]:
    """The flagship configurations: the eager model (as reported: in-place gradient
    accumulation) next to the tracker's measurement and the model under the tracker's
    semantics (which must equal the measurement)."""
    rows = []
    for spec, variant in FLAGSHIPS:
        graph, _ = api.build_graph(ROOT / spec, variant=variant)
        for config in FLAGSHIP_CONFIGS:
            device = "cuda" if config.mode == "inference" else "cpu"
            tracked = track_memory(graph, config, device)
            peaks = [step.peak for step in tracked.steps]
            model = analyze_memory(graph, tracker_config(config, device))
            eager = analyze_memory(graph, config)
            rows.append({
                "spec": spec, "variant": variant, "mode": config.mode, "batch": config.batch,
                "precision": config.precision,
                "optimizer": config.optimizer if config.mode == "training" else None,
                "tracker_device": device,
                "measured_peak": peaks[-1],
                "model_peak_tracker_semantics": model.peak_bytes,
                "model_peak_cuda_eager": eager.peak_bytes,
                "weights": eager.weights_bytes, "saved": eager.saved_bytes,
                "optimizer_state": eager.optimizer_bytes,
                "peak_where": f"{eager.peak_phase}: {eager.peak_layer}",
            })
            log(f"{spec}@{variant} {config.mode} {config.precision} {config.optimizer}: "
                f"{peaks[-1]:,} measured, {model.peak_bytes:,} modelled")
    return rows


def to_markdown(zoo: list[dict[str, Any]], flagships: list[dict[str, Any]]) -> str:
    lines = ["# Memory: cnncost's eager model against PyTorch on fake tensors", "",
             ("Generated by `python -m cnncost.bridge.memzoo`; never edited by hand. Every "
             "figure in bytes, parameters and input included. See "
             "`cnncost/bridge/memtrack.py` for how each run is measured."), "",
             "## Flagships at batch 64", "",
             ("`measured`: the tracker's peak of the (steady-state) step, on fake CUDA tensors "
             "for inference and fake CPU tensors for training (where PyTorch can run a "
             "backward without a GPU); `cnncost (same)`: the eager model under the same "
             "semantics (CPU dispatch, gradients added out of place as under any dispatch "
             "mode); `cnncost on CUDA`: the figure `cnncost report` prints for a GPU (CUDA "
             "dispatch and autocast lists, 512-byte allocator blocks, in-place gradient "
             "accumulation)."), ""]
    rows = [[f"{r['spec'].split('/')[-1]}@{r['variant']}", r["mode"],
             r["precision"] if r["mode"] == "training" else "float32", r["optimizer"] or "",
             f"{r['measured_peak']:,}", f"{r['model_peak_tracker_semantics']:,}",
             "equal" if r["measured_peak"] == r["model_peak_tracker_semantics"] else "DIFFERS",
             format_bytes(r["model_peak_cuda_eager"]), r["peak_where"]] for r in flagships]
    lines += [md_table(["model", "mode", "precision", "optimizer", "measured",
                        "cnncost (same)", "", "cnncost on CUDA", "peak at"], "llllrrlrl", rows),
              "", "## Every spec and variant", "",
              ("Batch 1 inference (fake CUDA), batch 2 training forward (fake CUDA) and two "
              "training steps with SGD (fake CPU), compared phase by phase and layer by layer "
              "(forward peak, saved bytes); and the training FLOPs against FlopCounterMode."), ""]
    zoo_rows = []
    for r in zoo:
        runs = {run["label"]: run for run in r["runs"]}
        inference = runs.get("inference on fake cuda")
        steps = runs.get("training steps on fake cpu")
        verdict = "equal" if all(run["ok"] for run in r["runs"]) else "DIFFERS"
        compared = sum(len(run["totals"]) for run in r["runs"])
        zoo_rows.append([f"{r['spec'].split('/')[-1]}@{r['variant'] or '-'}",
                         f"{inference['totals'][0]['analytic']:,}" if inference else "",
                         f"{max(c['analytic'] or 0 for c in steps['totals']):,}" if steps else
                         "no training (no trainable parameter)",
                         str(compared), verdict])
    lines += [md_table(["spec@variant", "inference peak, batch 1", "training peak, batch 2",
                        "figures compared", ""], "lrrrl", zoo_rows), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, default=ROOT / "specs")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--flagships-only", action="store_true")
    parser.add_argument("--missing", action="store_true",
                        help="measure only the specs and variants the committed report lacks, "
                             "keeping its other rows and its flagships (tests/bridge/"
                             "test_memory_zoo.py checks that the kept rows are still current)")
    args = parser.parse_args(argv)
    previous = args.out / "memory.json"
    before = json.loads(previous.read_text()) if previous.exists() else None
    if args.missing and before is not None:
        flagships = before["flagships"]
        zoo = measure_zoo(args.specs, kept=before["zoo"])
    else:
        flagships = measure_flagships()
        zoo = (before["zoo"] if args.flagships_only and before is not None
               else measure_zoo(args.specs))
    (args.out / "memory.json").write_text(
        json.dumps({"zoo": zoo, "flagships": flagships}, indent=1) + "\n", encoding="utf-8")
    (args.out / "memory.md").write_text(to_markdown(zoo, flagships), encoding="utf-8")
    bad = [r for r in zoo if not all(run["ok"] for run in r["runs"])]
    bad += [r for r in flagships if r["measured_peak"] != r["model_peak_tracker_semantics"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
