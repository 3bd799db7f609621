"""The committed zoo memory report (``reports/memory.json``, ``python -m cnncost.bridge.memzoo``)
is current: every spec and variant is in it, every figure the tracker measured equals what
cnncost computes now, and the flagship table too. The tracker runs take tens of minutes for the
whole zoo, so CI recomputes cnncost's side only (milliseconds per run, no torch) against the
committed measurements; ``test_memory_operators`` and ``test_memory_tracker`` run the tracker
itself on every operator and on representative networks."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from cnncost import api
from cnncost.bridge.memcheck import model_figures
from cnncost.bridge.memtrack import tracker_config
from cnncost.bridge.memzoo import FLAGSHIP_CONFIGS, FLAGSHIPS, zoo_cases
from cnncost.memory.models import MemoryConfig, analyze_memory

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "memory.json"
REGENERATE = "regenerate it: python -m cnncost.bridge.memzoo"


@lru_cache(maxsize=1)
def committed() -> dict:
    return json.loads(REPORT.read_text(encoding="utf-8"))


def rows() -> dict[tuple[str, str | None], dict]:
    return {(r["spec"], r["variant"]): r for r in committed()["zoo"]}


def test_every_spec_and_variant_is_in_the_report() -> None:
    missing = set(zoo_cases(ROOT / "specs")) - set(rows())
    assert not missing, f"not in {REPORT.name}: {sorted(missing)}; {REGENERATE}"


@pytest.mark.parametrize("spec, variant", zoo_cases(ROOT / "specs"),
                         ids=lambda v: str(v).split("/")[-1])
def test_committed_measurements_equal_the_model(spec: str, variant: str | None) -> None:
    row = rows().get((spec, variant))
    assert row is not None, REGENERATE
    graph, _ = api.build_graph(ROOT / spec, variant=variant)
    for run in row["runs"]:
        assert run["ok"], (run["label"], "the tracker disagreed when the report was made")
        steps = 1 if run["optimizer"] == "sgd" or run["label"].startswith("training forward") \
            else 2
        figures = model_figures(graph, run["label"], run["batch"], run["dtype"],
                                run["optimizer"] or "sgd", run["precision"], steps)
        for c in run["totals"]:
            assert figures.get(c["quantity"]) == c["measured"], (
                f"{run['label']}: {c['quantity']}: cnncost now {figures.get(c['quantity'])}, "
                f"measured {c['measured']}; {REGENERATE}")


def test_flagships_are_current() -> None:
    table = {(r["spec"], r["variant"], r["mode"], r["precision"], r["optimizer"]): r
             for r in committed()["flagships"]}
    assert len(table) == len(FLAGSHIPS) * len(FLAGSHIP_CONFIGS)
    for spec, variant in FLAGSHIPS:
        graph, _ = api.build_graph(ROOT / spec, variant=variant)
        for config in FLAGSHIP_CONFIGS:
            key = (spec, variant, config.mode, config.precision,
                   config.optimizer if config.mode == "training" else None)
            row = table[key]
            device = "cuda" if config.mode == "inference" else "cpu"
            model = analyze_memory(graph, tracker_config(config, device))
            assert model.peak_bytes == row["measured_peak"], (key, REGENERATE)
            assert analyze_memory(graph, config).peak_bytes == row["model_peak_cuda_eager"], (
                key, REGENERATE)
            assert isinstance(config, MemoryConfig)
