"""``cnncost check`` from the command line: exit codes, formats, no noise on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "specs/examples/inception_5x5_bottleneck.yaml")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncost", "check", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, check=False)


def test_check_passes_with_exit_0_and_a_clean_stderr() -> None:
    done = run(f"{EXAMPLE}@bottleneck")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every quantity equal" in done.stdout
    assert "Warning" not in done.stderr and "Traceback" not in done.stderr


def test_check_json() -> None:
    done = run(EXAMPLE, "--variant", "naive", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True


def test_check_invalid_spec_is_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers: [conv2]\n")
    done = run(str(bad))
    assert done.returncode == 3 and ":3:10: unknown-op" in done.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_check_on_cuda_without_a_gpu_is_a_usage_error() -> None:
    done = run(EXAMPLE, "--device", "cuda")
    assert done.returncode == 2 and "cuda" in done.stderr.lower()
    assert "Traceback" not in done.stderr
