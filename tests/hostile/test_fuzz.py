"""Seeded mutations of the zoo's specs: no undocumented exception, no run past its budget.

Each case takes a zoo spec's text, applies one to three mutations drawn from a seeded generator
(delete, duplicate or swap lines, re-indent, truncate, splice in hostile YAML or an expression
that builds a huge value, replace a number or a name, insert raw bytes) and analyzes the result
from a temporary folder that holds the zoo's block files. The only exceptions allowed are
cnncost's documented ones (``CnncostError``: exit codes 2, 3 and 4); a valid mutant must render
strict JSON. Every case runs under a watchdog, and a fraction of them go through the command line
in process (anything but ``SystemExit`` escaping ``main`` would be a traceback).
``CNNCOST_FUZZ_CASES`` changes the number of cases (default 3000); the seed is fixed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import time
from pathlib import Path

import pytest

from cnncost import api
from cnncost.cli import main
from cnncost.errors import CnncostError
from cnncost.report.formats import to_json

ROOT = Path(__file__).resolve().parents[2]
SPECS = [ROOT / "specs" / name for name in (
    "lenet5.yaml", "alexnet.yaml", "vgg.yaml", "mobilenet_v1.yaml", "mobilenet_v2.yaml",
    "inception_v1.yaml", "resnet.yaml", "densenet.yaml", "xception.yaml")] + [
    ROOT / "specs/examples/inception_5x5_bottleneck.yaml"]
CASES = int(os.environ.get("CNNCOST_FUZZ_CASES", "3000"))
SEED = 20240611
#: Per case, in CPU seconds of this process (a shared machine's load does not count): far above
#: what any mutant of these small specs needs (most take milliseconds, the slowest ~0.3 s).
CASE_SECONDS = 5
#: The whole run may grow the process by this much (resident set, high-water mark).
GROWTH_BYTES = 600 * 2**20
CLI_EVERY = 25  # one case in 25 also runs through the command line

HOSTILE_LINES = [
    "x: &a [*a]",
    "bomb: &b [&c [x, x, x, x, x, x, x, x], *c, *c, *c, *c, *c, *c, *c]",
    "  - repeat: {times: \"10**9\", layers: [relu]}",
    "  - repeat: {times: 1000, layers: [{repeat: {times: 1000, layers: [relu]}}]}",
    "  - conv2d: {out: \"len('x' * 10**9)\", kernel: 1}",
    "  - conv2d: {out: \"len(range(10**10))\", kernel: 1}",
    "  - conv2d: {out: \"2**64 * 2**64 * 2**64\", kernel: 1}",
    "  - relu: !!python/object/apply:os.system [true]",
    "  - conv2d: {out: !!int abc, kernel: 1}",
    "imports: [/etc/passwd]",
    "imports: [../../../../etc/hosts]",
    "input: {shape: []}",
    "  " + "[" * 200 + "]" * 200,
    "---",
    "  - {add: {inputs: [\"@-1\", \"@-99\"]}}",
    "  - conv2d: {out: \"f(30)\", kernel: 1}",
    "functions: {f: {args: [n], expr: \"1 if n == 0 else f(n - 1) + f(n - 1)\"}}",
]
HOSTILE_VALUES = ["0", "-1", "10**9", "\"10**300\"", "1e-5", ".nan", ".inf", "null", "~", "[]",
                  "{}", "\"\"", "\"in_channels * 0\"", "\"shape_of('nowhere')\"", "9" * 4500,
                  "*nowhere", "!!float", "\"1/0\"", "\"x\" ", "true", "\"@-1\"", "2.5"]
RAW_BYTES = [b"\x00", b"\xff\xfe", b"\x07", b"\t", b"\r", b"\xef\xbb\xbf", b"\xc3"]


def mutate(text: bytes, rng: random.Random) -> bytes:
    """One to three random mutations of ``text``."""
    for _ in range(rng.randint(1, 3)):
        lines = text.split(b"\n")
        i = rng.randrange(len(lines))
        kind = rng.randrange(9)
        if kind == 0:  # delete a line
            del lines[i]
        elif kind == 1:  # duplicate a line
            lines.insert(i, lines[i])
        elif kind == 2 and len(lines) > 1:  # swap two neighbours
            j = min(i + 1, len(lines) - 1)
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 3:  # re-indent
            lines[i] = (b"  " + lines[i]) if rng.random() < 0.5 else lines[i][2:]
        elif kind == 4:  # truncate
            text = text[:rng.randrange(len(text) + 1)]
            continue
        elif kind == 5:  # splice in a hostile line
            lines.insert(i, rng.choice(HOSTILE_LINES).encode())
        elif kind == 6:  # replace a value after "key: "
            line = lines[i]
            at = line.find(b": ")
            if at >= 0:
                end = min((k for k in (line.find(b",", at), line.find(b"}", at)) if k > 0),
                          default=len(line))
                lines[i] = line[:at + 2] + rng.choice(HOSTILE_VALUES).encode() + line[end:]
        elif kind == 7:  # misspell a word
            words = lines[i].split(b" ")
            w = rng.randrange(len(words))
            if len(words[w]) > 2:
                k = rng.randrange(len(words[w]) - 1)
                word = bytearray(words[w])
                word[k], word[k + 1] = word[k + 1], word[k]
                words[w] = bytes(word)
            lines[i] = b" ".join(words)
        else:  # raw bytes
            at = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:at] + rng.choice(RAW_BYTES) + lines[i][at:]
        text = b"\n".join(lines)
    return text


class Overtime(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Overtime


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A spec folder holding a copy of the zoo's block files (imports resolve as in specs/)."""
    shutil.copytree(ROOT / "specs" / "blocks", tmp_path / "specs" / "blocks")
    return tmp_path / "specs"


def run_case(path: Path, cli: bool) -> str:
    """The outcome: 'ok', 'error' (a documented one); raises anything else."""
    try:
        report = api.analyze(path)
    except CnncostError:
        outcome = "error"
    else:
        json.loads(to_json(report), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
        outcome = "ok"
    if cli:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                pytest.raises(SystemExit) as info:
            main(["report", str(path), "--format", "table", "--width", "100"])
        assert info.value.code in (0, 2, 3, 4), err.getvalue()
    return outcome


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs a POSIX timer")
def test_seeded_mutations_of_the_zoo(folder: Path) -> None:
    rng = random.Random(SEED)
    texts = [p.read_bytes() for p in SPECS]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    previous = signal.signal(signal.SIGPROF, _alarm)
    outcomes: dict[str, int] = {}
    slowest = (0.0, b"")
    t_start = time.perf_counter()
    try:
        for case in range(CASES):
            mutant = mutate(rng.choice(texts), rng)
            path = folder / f"case{case % 8}.yaml"
            path.write_bytes(mutant)
            signal.setitimer(signal.ITIMER_PROF, CASE_SECONDS)
            t0 = time.process_time()
            try:
                outcome = run_case(path, cli=case % CLI_EVERY == 0)
            except Overtime:
                pytest.fail(f"case {case} ran past {CASE_SECONDS} CPU seconds:\n{mutant[:2000]!r}")
            except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
                pytest.fail(f"case {case}: {type(err).__name__}: {err}\n{mutant[:2000]!r}")
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            seconds = time.process_time() - t0
            slowest = max(slowest, (seconds, mutant))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        signal.signal(signal.SIGPROF, previous)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    total = time.perf_counter() - t_start
    print(f"\n{CASES} mutants in {total:.1f} s: {outcomes}; slowest {slowest[0]:.2f} s; "
          f"peak resident set grew {growth / 2**20:.0f} MiB")
    assert sum(outcomes.values()) == CASES
    assert outcomes.get("ok", 0) > CASES // 20 and outcomes.get("error", 0) > CASES // 4
    assert growth < GROWTH_BYTES
