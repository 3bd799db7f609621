"""benchmarks/gpu/device_sweep.sh, the script a CUDA machine runs, as a CPU dry run: it must not
rot between the times a GPU is at hand. It runs on a copy of the package, the specs and the
scripts, without .whl/ (the Python 3.12 wheels for the device, which the script installs only
where that folder exists)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from .conftest import ROOT


def test_device_script_dry_run(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for part in ("cnncost", "specs", "benchmarks"):
        shutil.copytree(ROOT / part, repo / part)
    out = tmp_path / "out"
    env = {**os.environ,  # the script calls python3: this interpreter's, first on the PATH
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "DEVICE": "cpu", "SWEEP_OUT": "runs", "BATCHES": "1", "DTYPES": "float32",
           "SPECS": "specs/examples/inception_5x5_bottleneck.yaml", "GPU_TESTS": "0",
           "OUT": str(out), "BUDGET": "120", "HARD_LIMIT": "240",
           "MEMORY_ONLY": "^spec:inception_5x5_bottleneck|^spec:lenet5@modern$"}
    done = subprocess.run(["bash", "benchmarks/gpu/device_sweep.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (out / "sweep.log").read_text()
    assert "2 run, 0 already there, 0 not run" in log and "sweep exit status 0" in log
    with tarfile.open(out / "gpu.tar.gz") as archive:
        names = sorted(archive.getnames())
    assert "runs/index.md" in names
    # the memory probe's dry run (zero readings on the CPU), one file per subject
    assert "runs/memory/spec-lenet5-modern.json" in names
    assert "runs/inception_5x5_bottleneck-bottleneck-b1-float32.json" in names
    assert not any(name.endswith(".part") for name in names)
