"""The import catalogue: ``cnncost import`` over torchvision's whole classification catalogue,
its segmentation models and a set of timm CNNs, each spec proved. Imports torch when run.

``python -m cnncost.importer.catalogue`` imports every model (weights are never downloaded),
writes its spec under ``reports/import/<library>/<name>.yaml``, then proves it: ``validate``
(the documented figures, the original's own, equal the spec's), ``check`` (the spec's torch
module equals its analytic figures, layer by layer) and ``check --against`` (the spec against
the original model: parameters, parameter shapes, output shapes, fvcore and FlopCounterMode,
module by module). Each model runs in a process of its own (a bound on time and memory per
model); the results go to ``reports/import.json`` and ``reports/import.md``. Tens of minutes:
``--only REF`` reruns some models and keeps the others' results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPORT_MD = ROOT / "reports" / "import.md"
REPORT_JSON = ROOT / "reports" / "import.json"
SPEC_DIR = ROOT / "reports" / "import"

#: timm CNNs of many families (the catalogue's third part).
TIMM = ("resnet18", "resnet50", "resnet50d", "resnext50_32x4d", "wide_resnet50_2",
        "seresnext26d_32x4d", "legacy_seresnet18", "resnetv2_50", "efficientnet_b0",
        "efficientnet_lite0", "tf_efficientnet_b0", "efficientnetv2_rw_t", "mobilenetv2_100",
        "mobilenetv3_large_100", "mobilenetv3_small_100", "mobilenetv4_conv_small",
        "mnasnet_100", "spnasnet_100", "fbnetc_100", "lcnet_050", "tinynet_a",
        "hardcorenas_a", "semnasnet_050", "densenet121", "dla34", "dpn68", "ghostnet_100",
        "mixnet_s", "rexnet_100", "regnetx_002", "regnety_002", "inception_v3", "xception41",
        "cspresnet50", "cs3darknet_s", "darknet53", "gernet_s", "repvgg_a2", "selecsls42b",
        "ese_vovnet19b_dw", "vgg11", "convnext_tiny", "hrnet_w18_small", "res2net50_14w_8s",
        "resnest14d", "skresnet18")

#: Builder arguments of some models, and why.
ARGS: dict[str, tuple[dict[str, Any], str]] = {
    "torchvision:googlenet": ({"aux_logits": False, "init_weights": False},
                              "auxiliary heads off: they run only in training"),
    "torchvision:inception_v3": ({"aux_logits": False, "init_weights": False},
                                 "auxiliary head off: it runs only in training"),
}

#: Seconds one model may take (import and proof).
TIMEOUT = 1800


def catalogue() -> dict[str, str]:
    """Every model reference of the catalogue, in report order, with its family."""
    import torchvision  # type: ignore[import-untyped]  # no stubs

    models = torchvision.models
    return {**{f"torchvision:{n}": "torchvision classification"
               for n in models.list_models(module=models)},
            **{f"torchvision:{n}": "torchvision segmentation"
               for n in models.list_models(module=models.segmentation)},
            **{f"timm:{n}": "timm" for n in TIMM}}


def spec_path(ref: str) -> Path:
    library, _, name = ref.partition(":")
    return SPEC_DIR / library / f"{name}.yaml"


def run_one(ref: str) -> dict[str, Any]:
    """Import and prove one model (see the module docstring); a JSON-able result."""
    import warnings

    warnings.filterwarnings("ignore")
    from cnncost import api
    from cnncost.bridge.check import check
    from cnncost.errors import CnncostError, ModelImportError
    from cnncost.importer.pipeline import import_model
    from cnncost.importer.roundtrip import against

    args, why = ARGS.get(ref, ({}, ""))
    out: dict[str, Any] = {"ref": ref, "args": args, "args_why": why}
    try:
        result = import_model(ref, args=args)
    except ModelImportError as err:
        return {**out, "status": "unsupported", "reasons": list(err.reasons),
                "message": str(err).splitlines()[0], "unknown": list(err.unknown)[:10]}
    except CnncostError as err:
        return {**out, "status": "import error", "reasons": [str(err).splitlines()[0]]}
    path = spec_path(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.text, encoding="utf-8")
    out.update({"spec": str(path.relative_to(ROOT)), "lines": result.lines,
                "layers": result.layers, "blocks": result.blocks, "tracer": result.tracer,
                "input": "x".join(map(str, result.input_shape)),
                "params": result.params_trainable, "flops": result.flops,
                "import_s": round(result.seconds, 2), "notes": result.notes})
    start = time.perf_counter()
    verdicts = api.check_documented(path)
    wrong = [v.figure.metric for _, v in verdicts if v.status == "mismatch"]
    report = check(path, memory=False)
    trip = against(path, result.model.model, result.input_shape)
    out.update({
        "validate": not wrong, "check": report.ok, "against": trip.ok,
        "check_differs": [lc.name for lc in report.layers if not lc.ok][:10],
        "against_differs": [*trip.differing, *(f"{d.name} {d.quantity}" for d in trip.layers),
                            *(f"{m} unowned" for m, _ in trip.unowned)][:10],
        "proof_s": round(time.perf_counter() - start, 2)})
    reasons = ([f"documented figures differ: {', '.join(wrong)}"] if wrong else []) + (
        ["check: the spec's module differs from its figures"] if not report.ok else []) + (
        ["the spec differs from the original"] if not trip.ok else [])
    out["status"] = "clean" if not reasons and verdicts else "differs"
    out["reasons"] = reasons
    return out


def _run_child(ref: str, timeout: int) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "cnncost.importer.catalogue", "--one", ref],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    except subprocess.TimeoutExpired:
        return {"ref": ref, "status": "timeout", "reasons": [f"over {timeout} s"]}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ref": ref, "status": "crash", "reasons": [tail[:300]]}
    result = json.loads(lines[-1])
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "torchvision", "timm", "fvcore"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _fmt(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else ("" if n is None else str(n))


def markdown(results: list[dict[str, Any]], versions: dict[str, str]) -> str:
    """reports/import.md: totals, failures by reason, one row per model."""
    imported = [r for r in results if "spec" in r]
    clean = [r for r in results if r["status"] == "clean"]
    failed = [r for r in results if r["status"] != "clean"]
    by_reason: dict[str, list[str]] = {}
    for r in failed:
        for reason in r.get("reasons") or [r["status"]]:
            by_reason.setdefault(f"{r['status']}: {reason}", []).append(r["ref"])
    parts = Counter(r.get("family", "") for r in results)
    lines = [
        "# Import catalogue",
        "",
        ("`cnncost import` over torchvision's classification catalogue "
        "(`torchvision.models.list_models(module=torchvision.models)`), its segmentation models "
        "and a set of timm CNNs. Each model is imported (random weights, never downloaded), its "
        "spec written under [reports/import/](import/), then proved: `cnncost validate` (the "
        "documented figures, the original model's own parameters and FlopCounterMode FLOPs, "
        "equal the spec's), `cnncost check` (the spec's torch module equals its analytic "
        "figures, layer by layer) and `cnncost check --against` (the spec against the original: "
        "parameters, parameter shapes, output shapes, fvcore and FlopCounterMode totals, and "
        "module by module). Regenerate with `python -m cnncost.importer.catalogue` "
        f"({', '.join(f'{k} {v}' for k, v in versions.items())})."),
        "",
        "| | models |",
        "|---|---:|",
        f"| in the catalogue | {len(results)} |",
        f"| imported | {len(imported)} |",
        f"| checked clean | {len(clean)} |",
        f"| failed | {len(failed)} |",
        "",
        "Failed, by reason (a model may have several):",
        "",
        "| reason | models | which |",
        "|---|---:|---|",
    ]
    for reason, refs in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"| {reason} | {len(refs)} | {', '.join(refs)} |")
    lines += ["", f"Catalogue: {', '.join(f'{v} {k}' for k, v in parts.items())}.", "",
              ("| model | result | spec lines | blocks | layers | parameters | "
               "FLOPs (FlopCounterMode) | input | import (s) | notes |"),
              "|---|---|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in results:
        result = r["status"] if r["status"] != "unsupported" else "unsupported operators"
        why = "; ".join(r.get("reasons") or [])
        note = "; ".join(filter(None, [r.get("args_why", ""), why,
                                       *(r.get("notes") or [])]))
        spec = f"[{r['lines']}]({Path(r['spec']).relative_to('reports')})" if "spec" in r else ""
        lines.append(f"| {r['ref']} | {result} | {spec} | {_fmt(r.get('blocks'))} | "
                     f"{_fmt(r.get('layers'))} | {_fmt(r.get('params'))} | "
                     f"{_fmt(r.get('flops'))} | {r.get('input', '')} | "
                     f"{_fmt(r.get('import_s'))} | {note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnncost.importer.catalogue",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="REF",
                        help="rerun these models only (the others' results are kept)")
    parser.add_argument("--missing", action="store_true",
                        help="run only the models the committed report lacks (the others' "
                             "results are kept): a run cut short goes on where it stopped")
    parser.add_argument("--one", metavar="REF", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=int, default=TIMEOUT)
    options = parser.parse_args(argv)
    if options.one:
        print(json.dumps(run_one(options.one)), flush=True)
        return 0
    refs = catalogue()
    previous = {}
    if REPORT_JSON.exists() and (options.only or options.missing):
        previous = {r["ref"]: r for r in json.loads(REPORT_JSON.read_text())["models"]}
    results = []
    for ref, family in refs.items():
        if ref in previous and (options.missing or ref not in options.only):
            results.append(previous[ref])
            continue
        result = {**_run_child(ref, options.timeout), "family": family}
        print(f"{ref}: {result['status']} {'; '.join(result.get('reasons') or [])}", flush=True)
        results.append(result)
        versions = _versions()
        REPORT_JSON.write_text(json.dumps({"versions": versions, "models": results}, indent=1)
                               + "\n", encoding="utf-8")
    versions = _versions()
    REPORT_JSON.write_text(json.dumps({"versions": versions, "models": results}, indent=1) + "\n",
                           encoding="utf-8")  # the models kept after the last one run, too
    REPORT_MD.write_text(markdown(results, versions), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
