"""``cnncost sweep``: its plan, budget, resumption and failure records with a scripted runner; a
real CPU dry run of a small spec with its index; the CLI; and (marked ``gpu``) the CUDA run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from cnncost.bridge import sweep as S
from cnncost.errors import FileAccessError

from .conftest import SPECS, WriteSpec

SMALL = SPECS / "examples" / "inception_5x5_bottleneck.yaml"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (torch.cuda.is_available() is False)")


def labels(jobs: list[S.Job]) -> list[str]:
    return [job.label for job in jobs]


def test_plan_puts_every_default_variant_first() -> None:
    jobs = S.plan([SPECS / "lenet5.yaml", SMALL], [1, 64], ["float32"])
    assert labels(jobs) == [
        "lenet5@lecun1998 b1 float32", "lenet5@lecun1998 b64 float32",
        "inception_5x5_bottleneck@naive b1 float32", "inception_5x5_bottleneck@naive b64 float32",
        "lenet5@modern b1 float32", "lenet5@modern b64 float32",
        "inception_5x5_bottleneck@bottleneck b1 float32",
        "inception_5x5_bottleneck@bottleneck b64 float32"]
    assert jobs[0].stem == "lenet5-lecun1998-b1-float32"


def test_plan_of_a_spec_without_variants(write_spec: WriteSpec) -> None:
    path = write_spec("tiny", [3, 8, 8], [{"conv2d": {"out": 4, "kernel": 3}}])
    jobs = S.plan([path], [2], ["float32", "bfloat16"])
    assert labels(jobs) == ["tiny b2 float32", "tiny b2 bfloat16"]
    assert jobs[0].stem == "tiny-default-b2-float32"


def test_plan_rejects_an_empty_axis() -> None:
    from cnncost.errors import UsageError

    with pytest.raises(UsageError, match="at least one batch"):
        S.plan([SMALL], [], ["float32"])


class ScriptedRunner:
    """Writes a minimal profile JSON per job; each run takes ``seconds`` on a fake clock."""

    def __init__(self, out_dir: Path, seconds: float = 10.0,
                 outcome: dict[str, dict[str, Any]] | None = None) -> None:
        self.out_dir, self.seconds, self.outcome = out_dir, seconds, outcome or {}
        self.now = 0.0
        self.ran: list[str] = []

    def clock(self) -> float:
        return self.now

    def __call__(self, job: S.Job) -> dict[str, Any]:
        self.ran.append(job.label)
        self.now += self.seconds
        summary = self.outcome.get(job.label, {"status": S.STATUS_OK, "check_ok": True,
                                               "forward_ms": 2.0})
        data = {"model": job.model, "variant": job.variant, "batch": job.batch,
                "dtype": job.dtype, "overrides": {}, "device_name": "fake", **summary}
        if summary["status"] == S.STATUS_OK:
            data.update(forward={"median_ms": 2.0}, macs=10**9, memory=None,
                        check_ok=summary["check_ok"], check_mismatches=["conv"] * (
                            not summary["check_ok"]))
        self.out_dir.mkdir(exist_ok=True)
        (self.out_dir / f"{job.stem}.json").write_text(json.dumps(data))
        return summary


def test_budget_stops_starting_runs_and_lists_the_rest(tmp_path: Path) -> None:
    jobs = S.plan([SMALL], [1, 2], ["float32"])  # 4 jobs
    runner = ScriptedRunner(tmp_path, seconds=10)
    lines: list[str] = []
    result = S.run_sweep(jobs, tmp_path, budget_s=15, runner=runner, clock=runner.clock,
                         on_run=lines.append)
    assert runner.ran == labels(jobs[:2])  # started at t=0 and t=10; none at t=20
    # a line per finished run, handed to the caller (the CLI prints them)
    assert lines == [f"[1/4] {jobs[0].label}: check ok, forward 2.000 ms (10.0 s)",
                     f"[2/4] {jobs[1].label}: check ok, forward 2.000 ms (10.0 s)"]
    assert labels(result.not_run) == labels(jobs[2:])
    assert result.index == tmp_path / "index.md"
    assert result.index.read_text().count("| fake |") == 2


def test_a_resumed_sweep_skips_what_is_there_and_redo_runs_it_again(tmp_path: Path) -> None:
    jobs = S.plan([SMALL], [1, 2], ["float32"])
    first = ScriptedRunner(tmp_path)
    S.run_sweep(jobs[:3], tmp_path, runner=first, clock=first.clock)
    second = ScriptedRunner(tmp_path)
    result = S.run_sweep(jobs, tmp_path, runner=second, clock=second.clock)
    assert second.ran == [jobs[3].label] and labels(result.skipped) == labels(jobs[:3])
    third = ScriptedRunner(tmp_path)
    S.run_sweep(jobs, tmp_path, runner=third, clock=third.clock, redo=True)
    assert third.ran == labels(jobs)


def test_failures_are_recorded_and_reported(tmp_path: Path) -> None:
    jobs = S.plan([SMALL], [1], ["float32", "bfloat16"]) + S.plan([SPECS / "lenet5.yaml"], [1],
                                                                  ["float32"])
    runner = ScriptedRunner(tmp_path, outcome={
        jobs[0].label: {"status": S.STATUS_OOM, "message": "CUDA out of memory"},
        jobs[1].label: {"status": S.STATUS_OK, "check_ok": False, "forward_ms": 2.0},
        jobs[2].label: {"status": S.STATUS_ERROR, "message": "RuntimeError: boom"}})
    result = S.run_sweep(jobs, tmp_path, runner=runner, clock=runner.clock)
    assert labels(result.out_of_memory) == [jobs[0].label]
    assert labels(result.check_failures) == [jobs[1].label]
    assert labels(result.errors) == [jobs[2].label]
    index = result.index.read_text()
    assert "out of memory: CUDA out of memory" in index
    assert "**1 layers differ**" in index and "error: RuntimeError: boom" in index


def test_index_refuses_a_foreign_json_file(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    with pytest.raises(FileAccessError, match="notes.json: not a cnncost profile"):
        S.write_index(tmp_path)


def test_index_of_an_empty_directory(tmp_path: Path) -> None:
    assert "No runs yet." in S.write_index(tmp_path / "gpu").read_text()


def test_cpu_dry_run_writes_profiles_with_the_check_verdict(tmp_path: Path) -> None:
    jobs = S.plan([SMALL], [2], ["float32"])
    result = S.run_sweep(jobs, tmp_path, device="cpu", warmup=0, repeats=2)
    assert [s["status"] for _, s in result.done] == ["ok", "ok"] and not result.check_failures
    data = json.loads((tmp_path / "inception_5x5_bottleneck-naive-b2-float32.json").read_text())
    assert data["check_ok"] is True and data["check_mismatches"] == []
    assert data["macs"] == 2 * 120_422_400 and data["settings"]["repeats"] == 2
    markdown = (tmp_path / "inception_5x5_bottleneck-naive-b2-float32.md").read_text()
    assert "on this device, batch and dtype: all 2 layers equal" in markdown
    index = result.index.read_text()
    assert "[inception_5x5_bottleneck@bottleneck](inception_5x5_bottleneck-bottleneck-b2-" \
           "float32.md) | 2 | float32 | cpu | equal |" in index
    assert not list(tmp_path.glob("*.part"))


def test_a_failing_run_is_written_and_the_sweep_goes_on(tmp_path: Path, monkeypatch) -> None:
    from cnncost.bridge import profile as P

    real = P.profile

    def profile(spec: Any, **kw: Any) -> Any:
        if kw["variant"] == "naive":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(spec, **kw)

    monkeypatch.setattr(P, "profile", profile)
    result = S.run_sweep(S.plan([SMALL], [1], ["float32"]), tmp_path, device="cpu", warmup=0,
                         repeats=1)
    assert [s["status"] for _, s in result.done] == [S.STATUS_OOM, S.STATUS_OK]
    data = json.loads((tmp_path / "inception_5x5_bottleneck-naive-b1-float32.json").read_text())
    assert data["message"] == "CUDA out of memory. Tried to allocate 2.00 GiB"
    assert data["device_name"] == "cpu" and data["spec_file"] == str(SMALL)


def cnncost(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


def test_cli_sweep_on_cpu(tmp_path: Path) -> None:
    refused = cnncost("sweep", str(SMALL), "--device", "cpu", cwd=tmp_path)
    assert refused.returncode == 2 and "name a directory with --out" in refused.stderr
    assert not (tmp_path / "reports").exists()
    done = cnncost("sweep", str(SMALL), "--device", "cpu", "--out", "runs", "--batch", "1",
                   "--dtype", "bfloat16", "--warmup", "0", "--repeats", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 run, 0 already there, 0 not run" in done.stdout
    again = cnncost("sweep", str(SMALL), "--device", "cpu", "--out", "runs", "--batch", "1",
                    "--dtype", "bfloat16", "--budget", "0", cwd=tmp_path)
    assert again.returncode == 0 and "0 run, 2 already there" in again.stdout
    (tmp_path / "runs" / "index.md").unlink()
    index = cnncost("sweep", "--index-only", "--out", "runs", cwd=tmp_path)
    assert index.returncode == 0 and (tmp_path / "runs" / "index.md").exists()


def test_cli_sweep_without_cuda_is_a_usage_error(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cnncost("sweep", str(SMALL), cwd=tmp_path)
    assert result.returncode == 2 and "sees no CUDA device" in result.stderr


@pytest.mark.gpu
@needs_cuda
def test_cuda_sweep(tmp_path: Path) -> None:
    result = S.run_sweep(S.plan([SMALL], [1, 8], ["float32", "bfloat16"]), tmp_path,
                         device="cuda", warmup=2, repeats=3)
    assert len(result.done) == 8 and not result.errors and not result.check_failures
    for path in tmp_path.glob("*.json"):
        data = json.loads(path.read_text())
        assert data["device"].startswith("cuda") and data["memory"]["training_peak_bytes"] > 0
        assert data["check_ok"] is True


def test_an_interrupted_sweep_keeps_what_finished(tmp_path: Path) -> None:
    jobs = S.plan([SMALL], [1, 2], ["float32"])
    runner = ScriptedRunner(tmp_path)

    def run(job: S.Job) -> dict[str, Any]:
        if len(runner.ran) == 2:
            raise KeyboardInterrupt
        return runner(job)

    result = S.run_sweep(jobs, tmp_path, runner=run, clock=runner.clock)
    assert result.interrupted and labels(result.not_run) == labels(jobs[2:])
    assert result.index.read_text().count("| fake |") == 2


def test_index_shows_measured_memory_next_to_the_analytic(tmp_path: Path) -> None:
    memory = {"baseline_bytes": 1000, "inference_peak_bytes": 1000 + 3 * 2**20,
              "training_peak_bytes": None, "analytic_weight_bytes": 900,
              "analytic_activation_bytes": 40 * 2**20, "analytic_peak_activation_bytes": 2**21}
    data = {"model": "big", "variant": None, "overrides": {}, "batch": 64, "dtype": "float32",
            "device_name": "NVIDIA H200", "check_ok": True, "check_mismatches": [],
            "forward": {"median_ms": 4.0}, "macs": 64 * 10**9, "memory": memory}
    (tmp_path / "big-default-b64-float32.json").write_text(json.dumps(data))
    row = S.index_rows(tmp_path)[0]
    assert row[:6] == ["[big](big-default-b64-float32.md)", 64, "float32", "NVIDIA H200",
                       "equal", "4.000"]
    # images/s = 64 / 4 ms; TFLOP/s = 2 x 64e9 MACs / 4 ms = 32e12; inference above the
    # baseline = 3 MiB, next to the liveness 2 MiB peak of a profile without eager figures; the
    # training step ran out of memory
    assert row[6:] == ["16,000", "64.0 G", "32", "3.00 MiB", "2.00 MiB (liveness)",
                       "out of memory", "40.0 MiB (sum)"]
    memory.update(eager_baseline_bytes=1000, eager_inference_peak_bytes=1000 + 2 * 2**20 + 512,
                  training_peak_bytes=1000 + 7 * 2**20, training_start_bytes=1000 + 2**20,
                  eager_training_start_bytes=1000 + 2**20, eager_training_peak_bytes=1000
                  + 7 * 2**20)
    (tmp_path / "big-default-b64-float32.json").write_text(json.dumps(data))
    # eager: 2 MiB + 512 B above its baseline; training: 6 MiB above the step's start, both
    assert S.index_rows(tmp_path)[0][9:] == ["3.00 MiB", "2.00 MiB", "6.00 MiB", "6.00 MiB"]
