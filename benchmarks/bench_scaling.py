"""How cnncost's analytic path scales, against the speed goals, as ratios (a measurement, not a test).

    python benchmarks/bench_scaling.py                      # prints a Markdown table
    python benchmarks/bench_scaling.py --output reports/scaling.md
    python benchmarks/bench_scaling.py --largest 10000      # skip the 100,000-layer chain

Every figure is measured in one run on the machine at hand, and each is shown beside its goal as
``measured / goal`` (below 1 meets the goal), so that tables from different machines compare by
their ratios rather than their seconds:

- expansion and costing linear in the node count: a chain of convolutions in a ``repeat`` (and a
  flat list of unnamed ReLUs, which exercises automatic naming) at 1,000, 10,000 and 100,000
  layers, each size against its goal (10,000 layers in 1 s, 100,000 in 10 s), and the work:
  the Python function calls an analysis makes (cProfile's count, the same on every machine),
  per node, largest over smallest, is 1 when the algorithm does the same work per node at
  every size (100 would be quadratic over the 100x step). The time per node, largest over
  smallest, is shown for information: with the same calls per node it still grows, by steps
  that flatten (about 9.5, 11.7, 15.3, 18.4 and 20.2 us per ReLU at 1,000, 10,000, 30,000,
  100,000 and 200,000 layers on a 2-core x86_64), because each dictionary operation gets
  slower as the graph's dictionaries outgrow the processor's caches (``dict.get``: 1.6 to 2.0
  us per layer from 10,000 to 100,000 layers, for the same number of calls per layer);
- ResNet-152 analyzed in process (load, expand, cost) in under 20 ms;
- the whole zoo (``specs/``, ``specs/examples/``), every variant, in under 1 s in process;
- 1,000 variants of one spec through ``overrides`` in under 5 s;
- ``cnncost report specs/resnet.yaml@resnet152 --format json`` as a whole process within 1.3x of
  the time to import its own dependencies;
- a design-space sweep, ``cnncost table specs/mobilenet_v1.yaml`` over a 10,000-point grid of
  alpha x resolution with ``--jobs`` (one per core), as a whole process: seconds, not minutes
  (the goal written here is 10 s).

In-process times are medians of ``--repeat`` runs after one warm-up run, so they include what
cnncost remembers across analyses in one process (parsed files, shapes, layer counts). The
chain sizes above the node limit are run with ``CNNCOST_MAX_NODES`` raised for this process
only. The checkout the script lies in is the one measured (not an installed copy), and its
modules are compiled to bytecode before the processes are timed, as an installed package's are
(with ``PYTHONDONTWRITEBYTECODE`` set, each process would compile them again).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an installed copy
os.environ.setdefault("CNNCOST_MAX_NODES", "1000000")
GRID = ("alpha=0.25:1.24:0.01", "resolution=96:492:4")  # 100 x 100 points

CHAIN = """\
name: chain
input: {{channels: 8, height: 8, width: 8}}
layers:
  - repeat: {{name: stage, times: {n}, layers: [{{conv2d: {{out: 8, kernel: 3, padding: 1}}}}]}}
"""
RELUS_HEAD = "name: relus\ninput: {channels: 8, height: 8, width: 8}\nlayers:\n"


def _median(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: lazily built models, caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def scaling(kind: str, sizes: list[int], folder: Path, budget_s: float
            ) -> list[tuple[int, float, int]]:
    """(size, seconds, Python calls) for a chain of ``kind`` ("conv" or "relu"): the first
    analysis timed, a second one's calls counted; stops before a size that the previous one
    predicts (linearly) to exceed ``budget_s``."""
    from cnncost import api

    out: list[tuple[int, float, int]] = []
    for n in sizes:
        if out and out[-1][1] * n / out[-1][0] > budget_s:
            break
        path = folder / f"{kind}_{n}.yaml"
        text = CHAIN.format(n=n) if kind == "conv" else RELUS_HEAD + "  - relu\n" * n
        path.write_text(text)
        loaded = api.load(path)
        seconds = _once(lambda spec=loaded: api.analyze(spec))
        out.append((n, seconds, _calls(lambda spec=loaded: api.analyze(spec))))
    return out


def _calls(fn: Callable[[], object]) -> int:
    """The Python function calls (and calls of builtins) ``fn`` makes, as cProfile counts them."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(fn)
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def zoo_paths() -> list[Path]:
    return sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs/examples").glob("*.yaml"))


def whole_zoo() -> int:
    from cnncost import api

    count = 0
    for path in zoo_paths():
        loaded = api.load(path)
        for variant in tuple(loaded.spec.variants) or (None,):
            api.analyze(loaded, variant=variant)
            count += 1
    return count


def overrides_sweep(n: int) -> None:
    """``n`` MobileNet v1 configurations: alpha x resolution, through overrides."""
    from cnncost import api

    loaded = api.load(ROOT / "specs/mobilenet_v1.yaml")
    alphas = (0.25, 0.5, 0.75, 1.0)
    for i in range(n):
        api.analyze(loaded, overrides={"alpha": alphas[i % 4], "resolution": 96 + 4 * (i // 4)})


def process_seconds(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def grid_command() -> list[str]:
    command = [sys.executable, "-m", "cnncost", "table", "specs/mobilenet_v1.yaml", "--format",
               "csv", "--jobs", str(os.cpu_count() or 1)]
    for axis in GRID:
        command += ["--grid", axis]
    return command


def _row(what: str, measured: str, goal: str, ratio: float) -> str:
    verdict = "yes" if ratio <= 1 else "no"
    line = f"| {what} | {measured} | {goal} | {ratio:.2f} | {verdict} |"
    print(line, file=sys.stderr, flush=True)  # progress: the table comes at the end
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--largest", type=int, default=100_000, help="largest chain size")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="skip a chain size predicted to take longer than this (seconds)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    sizes = [n for n in (1_000, 10_000, 100_000) if n <= args.largest]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, label in (("conv", "conv chain in a repeat"), ("relu", "unnamed ReLUs")):
            runs = scaling(kind, sizes, Path(tmp), args.budget)
            for n, seconds, _ in runs:
                goal = n / 10_000  # 10,000 layers in 1 s, 100,000 in 10 s
                rows.append(_row(f"{label}, {n:,} layers", f"{seconds:.2f} s",
                                 f"{goal:g} s", seconds / goal))
            if len(runs) > 1:
                (n0, s0, c0), (n1, s1, c1) = runs[0], runs[-1]
                work = (c1 / n1) / (c0 / n0)
                rows.append(_row(f"{label}: Python calls per layer, {n1:,} over {n0:,} "
                                 f"({c1 / n1:.1f} / {c0 / n0:.1f})", f"{work:.3f}",
                                 "1 (linear)", work))
                linearity = (s1 / n1) / (s0 / n0)
                line = (f"| {label}: per-layer time, {n1:,} over {n0:,} (information: the same "
                        f"work per layer, dictionaries past the processor's caches) | "
                        f"{linearity:.2f} | – | – | – |")
                print(line, file=sys.stderr, flush=True)
                rows.append(line)
            for n in sizes[len(runs):]:
                rows.append(f"| {label}, {n:,} layers | skipped (predicted over "
                            f"{args.budget:g} s) | {n / 10_000:g} s | – | no |")
    from cnncost import api

    resnet = _median(lambda: api.analyze(ROOT / "specs/resnet.yaml", variant="resnet152"),
                     args.repeat)
    rows.append(_row("ResNet-152, load + expand + cost", f"{resnet * 1000:.1f} ms", "20 ms",
                     resnet / 0.020))
    count = whole_zoo()
    zoo = _median(whole_zoo, max(1, args.repeat // 2))
    rows.append(_row(f"whole zoo, {count} spec × variant", f"{zoo:.2f} s", "1 s", zoo))
    sweep = _median(lambda: overrides_sweep(1000), 1)
    rows.append(_row("1,000 MobileNet v1 overrides (alpha × resolution)", f"{sweep:.2f} s",
                     "5 s", sweep / 5))
    import compileall

    compileall.compile_dir(ROOT / "cnncost", quiet=1)
    deps = process_seconds([sys.executable, "-c", "import pydantic, networkx, rich, yaml, typer"],
                           args.repeat)
    report = process_seconds([sys.executable, "-m", "cnncost", "report",
                              "specs/resnet.yaml@resnet152", "--format", "json"], args.repeat)
    rows.append(_row("`report resnet152 --format json` process / dependency imports",
                     f"{report:.2f} s / {deps:.2f} s = {report / deps:.2f}", "1.3",
                     report / deps / 1.3))
    points = process_seconds(grid_command(), 1)
    rows.append(_row(f"`table mobilenet_v1 --grid` 10,000 points, --jobs {os.cpu_count()}, "
                     "process (the issue: seconds, not minutes)", f"{points:.1f} s",
                     "10 s", points / 10))
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(
        os, "getloadavg") else ""
    machine = (f"Machine: {platform.machine()}, {os.cpu_count()} cores{load}, Python "
               f"{platform.python_version()}, {platform.system()}; in-process medians of "
               f"{args.repeat} runs (chains: one run each). Wall-clock times: on a shared "
               "machine, compare ratios measured in one run, not runs.")
    header = [machine, "",
              "| measurement | measured | goal | measured / goal | met |",
              "|---|---|---|---|---|"]
    text = "\n".join(header + rows) + "\n"
    print(text)
    if args.output:
        args.output.write_text("# Scaling\n\n`python benchmarks/bench_scaling.py --output "
                               f"{args.output}`\n\n" + text)


if __name__ == "__main__":
    main()
