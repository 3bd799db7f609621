#!/usr/bin/env bash
# Run ON THE DEVICE MACHINE, in the repository root, with .whl carried (fetch_wheels.sh):
#
#   run(command="bash benchmarks/gpu/device_sweep.sh", carry=[".whl"], timeout_s=600)
#
# 1. installs the carried wheels into /tmp/site;
# 2. runs the GPU tests (pytest -m gpu tests/bridge);
# 3. runs the zoo sweep: every spec and variant, batch 1 and 64, float32 and bfloat16, starting
#    no run after $BUDGET seconds (default 400) and killed at $HARD_LIMIT (default 540);
#    the runs already in reports/gpu are skipped, so a second call resumes;
# 4. packs reports/gpu into $OUT/gpu.tar.gz, with the logs beside it.
# Back here: tar xzf <files_at>/gpu.tar.gz && cnncost sweep --index-only, then commit reports/gpu.
set -uo pipefail
BUDGET=${BUDGET:-400}
HARD_LIMIT=${HARD_LIMIT:-540}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version())" | tee -a "$OUT/device.txt"
timeout 120 python3 -m pytest -p no:cacheprovider -m gpu tests/bridge -q 2>&1 \
    | tee "$OUT/pytest_gpu.log"
timeout -s INT "$HARD_LIMIT" python3 -m cnncost sweep specs specs/examples --device cuda \
    --batch 1 --batch 64 --dtype float32 --dtype bfloat16 --warmup 5 --repeats 20 \
    --budget "$BUDGET" 2>&1 | tee "$OUT/sweep.log"
rm -f reports/gpu/*.part
tar czf "$OUT/gpu.tar.gz" reports/gpu
ls -l "$OUT"
