"""The memory options of ``report``, ``diff`` and the timeline files, end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from runcli import cli

from cnncost import api
from cnncost.memory.models import MemoryConfig

ROOT = Path(__file__).resolve().parents[2]
R18 = "specs/resnet.yaml@resnet18"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_report_json_carries_memory_and_training(capsys) -> None:
    code, out, _ = cli(capsys, "report", R18, "--batch", "32", "--mode", "training",
                       "--optimizer", "adam", "--precision", "bf16", "--format", "json")
    data = json.loads(out)
    expected = api.memory(R18, MemoryConfig(mode="training", batch=32, optimizer="adam",
                                            precision="bfloat16-autocast"))
    assert code == 0
    assert data["memory"]["peak_bytes"] == expected.peak_bytes
    assert data["memory"]["precision"] == "bfloat16-autocast"
    assert data["memory"]["optimizer_bytes"] == 2 * expected.weights_bytes  # exp_avg, exp_avg_sq
    assert len(data["memory"]["layers"]) == data["totals"]["layers"]
    training = api.training(R18, batch=32)
    assert data["training"]["flops"] == training.flops
    assert data["training"]["forward_flops"] + data["training"]["backward_flops"] == \
        training.flops


def test_report_table_names_the_memory_model(capsys) -> None:
    code, out, _ = cli(capsys, "report", R18, "--depth", "1", "--width", "160")
    assert code == 0
    assert "eager memory model · inference · cuda · batch 1 · float32" in out
    assert "peak activation memory (liveness model)" in out


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_timeline_files(capsys, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    code, _, err = cli(capsys, "report", R18, "--mode", "training", "--batch", "4",
                       "--optimizer", "adam", "--timeline", path, "--format", "json")
    assert code == 0 and f"wrote {path}" in err
    expected = api.memory(R18, MemoryConfig(mode="training", batch=4, optimizer="adam"))
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert max(int(r["live_bytes"]) for r in rows) == expected.peak_bytes
        assert {r["phase"] for r in rows} >= {"forward", "backward", "optimizer"}
        # each row's live total is the previous one's plus its delta
        lives = [int(r["live_bytes"]) for r in rows]
        deltas = [int(r["delta_bytes"]) for r in rows]
        assert all(b == a + d for a, b, d in zip(lives, lives[1:], deltas[1:]))
    else:
        data = json.loads(path.read_text())
        assert len(data["timeline"]) == len(expected.timeline)
        assert max(e["live"] for e in data["timeline"]) == expected.peak_bytes


def test_timeline_suffix_and_int8_are_usage_errors(capsys, tmp_path: Path) -> None:
    code, _, err = cli(capsys, "report", R18, "--timeline", tmp_path / "t.txt")
    assert code == 2 and ".csv or a .json" in err
    code, _, err = cli(capsys, "report", R18, "--dtype", "int8", "--mode", "training")
    assert code == 2 and "int8 has no memory model" in err
    code, out, _ = cli(capsys, "report", R18, "--dtype", "int8", "--depth", "1")
    assert code == 0 and "memory model" not in out


@pytest.mark.parametrize("args, message", [
    (["--mode", "learning"], "unknown mode 'learning'"),
    (["--memory-model", "planned"], "unknown memory model 'planned'"),
    (["--mode", "training", "--memory-model", "liveness"], "defined for inference only"),
    (["--precision", "bf16"], "autocast precisions apply to training"),
    (["--mode", "training", "--optimizer-impl", "fused", "--memory-device", "cpu"],
     "fused optimizers are modelled on CUDA only"),
])
def test_bad_memory_options(capsys, args: list[str], message: str) -> None:
    code, _, err = cli(capsys, "report", R18, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_diff_compares_memory(capsys) -> None:
    code, out, _ = cli(capsys, "diff", R18, "specs/resnet.yaml@resnet50", "--depth", "1",
                       "--mode", "training", "--batch", "8", "--width", "160")
    assert code == 0 and "memory" in out and "peak (steady state)" in out
    code, out, _ = cli(capsys, "diff", R18, "specs/resnet.yaml@resnet50", "--format", "json")
    rows = {r["figure"]: r for r in json.loads(out)["memory"]}
    a = api.memory(R18, MemoryConfig())
    assert rows["peak"]["a"] == a.peak_bytes
    assert rows["peak"]["delta"] == rows["peak"]["b"] - rows["peak"]["a"]
