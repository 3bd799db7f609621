"""Speed and memory of cnncost against fvcore on the same networks (a measurement, not a test).

    python benchmarks/bench_report.py                 # prints a Markdown table
    python benchmarks/bench_report.py --fvcore        # also times fvcore (needs torch)
    python benchmarks/bench_report.py --output reports/benchmarks.md

Whole-process times run the installed ``cnncost report`` command (interpreter start included),
median of ``--repeat`` runs. In-process figures: ``api.analyze`` wall time (median) and the peak of
Python allocations during it (tracemalloc). fvcore: a torchvision model built with random weights
and ``FlopCountAnalysis(...).total()``, each in a fresh process, with its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

CASES = [
    ("specs/resnet.yaml", "resnet50", "resnet50"),
    ("specs/resnet.yaml", "resnet152", "resnet152"),
    ("specs/inception_v1.yaml", "torchvision", "googlenet"),
]

FVCORE_SNIPPET = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import torch, torchvision
from fvcore.nn import FlopCountAnalysis
name = sys.argv[1]
kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
model = getattr(torchvision.models, name)(**kwargs).eval()
flops = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
flops.unsupported_ops_warnings(False)
total = flops.total()
elapsed = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"total": total, "seconds": elapsed, "rss": rss}))
"""


def whole_process(spec: str, variant: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(["cnncost", "report", spec, "--variant", variant, "--format", "json"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_process(spec: str, variant: str, repeat: int) -> tuple[float, int, int]:
    from cnncost import api

    api.analyze(spec, variant=variant, convention="fvcore")  # warm the lazy models
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = api.analyze(spec, variant=variant, convention="fvcore")
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    api.analyze(spec, variant=variant, convention="fvcore")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak, report.totals.macs


def fvcore(model: str) -> dict:
    done = subprocess.run([sys.executable, "-c", FVCORE_SNIPPET, model], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fvcore", action="store_true", help="also run fvcore on torchvision")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    lines = [(f"Machine: {platform.machine()}, Python {platform.python_version()}, "
             f"{platform.system()}; medians of {args.repeat} runs."), "",
             ("| model | `cnncost report` process | `api.analyze` | analyze peak alloc | "
             "cnncost fvcore-convention total | fvcore process | fvcore peak RSS | fvcore total |"),
             "|---|---|---|---|---|---|---|---|"]
    for spec, variant, tv_name in CASES:
        proc = whole_process(spec, variant, args.repeat)
        seconds, peak, macs = in_process(spec, variant, args.repeat)
        row = [f"{Path(spec).stem}@{variant}", f"{proc:.2f} s", f"{seconds * 1000:.0f} ms",
               f"{peak / 2**20:.1f} MiB", f"{macs:,}"]
        if args.fvcore:
            fv = fvcore(tv_name)
            row += [f"{fv['seconds']:.2f} s", f"{fv['rss'] / 2**30:.2f} GiB", f"{fv['total']:,}"]
        else:
            row += ["—", "—", "—"]
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text("# Benchmarks\n\n`python benchmarks/bench_report.py --fvcore "
                               f"--output {args.output}`\n\n" + text)


if __name__ == "__main__":
    main()
