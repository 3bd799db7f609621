#!/usr/bin/env bash
# Run on the CUDA machine, in the repository root, with .whl/ copied along (fetch_wheels.sh):
#
#   OUT=/tmp/out bash benchmarks/gpu/device_sweep.sh     # about 10 minutes with the defaults
#
# 1. installs the carried wheels into /tmp/site (skipped when .whl/ is absent);
# 2. runs the GPU tests (pytest -m gpu tests/bridge);
# 3. runs the memory probe (benchmarks/gpu/memory_probe.py: what the CUDA allocator holds at
#    inference and in training steps, per layer, into $SWEEP_OUT/memory), starting no subject
#    after $MEMORY_BUDGET seconds (default 200), interrupted at $MEMORY_LIMIT (default 260);
#    MEMORY=0 skips it, MEMORY_ONLY=REGEX keeps the subjects whose name matches;
# 4. runs the zoo sweep: every spec and variant, batch 1 and 64, float32 and bfloat16, starting
#    no run after $BUDGET seconds (default 400) and interrupted at $HARD_LIMIT (default 540);
#    the runs already in $SWEEP_OUT are skipped, so a second call resumes;
# 5. packs $SWEEP_OUT into $OUT/gpu.tar.gz, with the logs beside it.
# Back on the development machine: tar xzf gpu.tar.gz && cnncost sweep --index-only, then
# commit reports/gpu.
#
# A dry run of this script on a machine without a GPU (the CUDA tests skip, timings are CPU's;
# tests/bridge/test_device_script.py runs one with GPU_TESTS=0, BATCHES=1, DTYPES=float32):
#   DEVICE=cpu SWEEP_OUT=/tmp/dry SPECS=specs/examples OUT=/tmp/out bash benchmarks/gpu/device_sweep.sh
set -uo pipefail
BUDGET=${BUDGET:-400}
HARD_LIMIT=${HARD_LIMIT:-540}
DEVICE=${DEVICE:-cuda}
SWEEP_OUT=${SWEEP_OUT:-reports/gpu}
SPECS=${SPECS:-specs specs/examples}
BATCHES=${BATCHES:-1 64}
DTYPES=${DTYPES:-float32 bfloat16}
GPU_TESTS=${GPU_TESTS:-1}
GPU_TESTS_LIMIT=${GPU_TESTS_LIMIT:-150}
MEMORY=${MEMORY:-1}
MEMORY_BUDGET=${MEMORY_BUDGET:-200}
MEMORY_LIMIT=${MEMORY_LIMIT:-260}
MEMORY_ONLY=${MEMORY_ONLY:-}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version(), 'available', torch.cuda.is_available())"
} | tee "$OUT/device.txt"
if [ "$GPU_TESTS" = 1 ]; then
    # the device has no keras: the modules that import it fail to collect; the others still run
    timeout "$GPU_TESTS_LIMIT" python3 -m pytest -p no:cacheprovider -m gpu tests/bridge -q -rs \
        --continue-on-collection-errors 2>&1 \
        | tee "$OUT/pytest_gpu.log"
fi
if [ "$MEMORY" = 1 ]; then
    probe=(--out "$SWEEP_OUT/memory" --budget "$MEMORY_BUDGET")
    [ "$DEVICE" = cpu ] && probe+=(--dry-run --batch 2)
    [ -n "$MEMORY_ONLY" ] && probe+=(--only "$MEMORY_ONLY")
    timeout -s INT "$MEMORY_LIMIT" python3 benchmarks/gpu/memory_probe.py "${probe[@]}" 2>&1 \
        | tee "$OUT/memory.log"
    echo "memory probe exit status ${PIPESTATUS[0]}" | tee -a "$OUT/memory.log"
fi
axes=()
for b in $BATCHES; do axes+=(--batch "$b"); done
for d in $DTYPES; do axes+=(--dtype "$d"); done
# shellcheck disable=SC2086  # SPECS is a list of paths
timeout -s INT "$HARD_LIMIT" python3 -m cnncost sweep $SPECS --device "$DEVICE" \
    --out "$SWEEP_OUT" "${axes[@]}" --warmup 5 --repeats 20 --budget "$BUDGET" 2>&1 \
    | tee "$OUT/sweep.log"
echo "sweep exit status ${PIPESTATUS[0]}" | tee -a "$OUT/sweep.log"
rm -f "$SWEEP_OUT"/*.part
tar czf "$OUT/gpu.tar.gz" "$SWEEP_OUT"
ls -l "$OUT"
