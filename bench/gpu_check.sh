#!/usr/bin/env bash
# GPU check: versions, the CuPy tests, GPU-vs-CPU losses and the GPU benchmarks (time limits: 550 s in all).
#
#   RESULTS_DIR=/some/folder bash bench/gpu_check.sh
#
# Needs an NVIDIA GPU with CuPy (cupy-cuda12x or cupy-cuda13x, matching the driver) and numba;
# PyTorch with CUDA is optional (without it only our columns of the benchmarks are filled).
# Runs from the source tree (no install), from any directory. Every step runs even when an
# earlier one failed; each prints PASS or FAIL, and the script exits 1 if any failed (0 only
# when all passed). Writes into $RESULTS_DIR (default bench/out/gpu), after deleting what an
# earlier run of this script left there, so nothing in it is stale:
#   env.txt, nvidia-smi.txt   versions and the device
#   gpu_tests.log             pytest -m gpu: every GPU test, not stopping at the first failure
#   gpu_vs_cpu.json/.log      loss curves on the GPU and on the CPU, PASS/FAIL per model and dtype
#   torch_cuda.json/.log      seconds per epoch, wnmf_np on CuPy vs PyTorch CUDA (bench_torch.py)
#   torch_deconv_cuda.*       the same for the deconvolutional model
#   summary.txt               the PASS/FAIL line of every step
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
OUT_DIR="${RESULTS_DIR:-${OUT:-bench/out/gpu}}"
mkdir -p "$OUT_DIR" || exit 1
for f in env.txt nvidia-smi.txt gpu_tests.log gpu_vs_cpu.json gpu_vs_cpu.log torch_cuda.json torch_cuda.log \
         torch_deconv_cuda.json torch_deconv_cuda.log summary.txt; do
    rm -f "$OUT_DIR/$f"
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
failed=0

# step NAME SECONDS LOG COMMAND...: run with a time limit, keep the log, record PASS/FAIL
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    echo "== $name"
    timeout "$limit" "$@" 2>&1 | tee "$OUT_DIR/$log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name" | tee -a "$OUT_DIR/summary.txt"
    else
        echo "FAIL $name (exit $rc$([ "$rc" -eq 124 ] && echo ", timed out after ${limit} s"))" | tee -a "$OUT_DIR/summary.txt"
        failed=1
    fi
}

nvidia-smi > "$OUT_DIR/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (see nvidia-smi.txt)"
# 0. without these imports and a device nothing below can mean anything: stop here
step "imports and versions" 60 env.txt python3 -c "
import numba, numpy, cupy
rt = cupy.cuda.runtime
print('numpy', numpy.__version__, '| numba', numba.__version__, '| cupy', cupy.__version__)
print('CUDA runtime', rt.runtimeGetVersion(), '| driver', rt.driverGetVersion())
print('devices', rt.getDeviceCount())
print('device 0:', rt.getDeviceProperties(0)['name'].decode())
"
if [ "$failed" -ne 0 ]; then
    echo "FAIL: numba, numpy and cupy must import and CuPy must see a GPU; nothing else was run"
    exit 1
fi
python3 -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available())" >> "$OUT_DIR/env.txt" 2>&1 \
    || echo "torch: not installed (benchmarks time wnmf_np only)" | tee -a "$OUT_DIR/env.txt"
# 1. every GPU test (CuPy vs CPU fits, no host read in a step, each CUDA kernel vs its host version)
step "pytest -m gpu" 200 gpu_tests.log python3 -m pytest -q -m gpu tests
# 2. the losses of whole fits at ORL size, GPU against CPU
step "GPU losses = CPU losses" 120 gpu_vs_cpu.log python3 bench/gpu_vs_cpu.py --out "$OUT_DIR/gpu_vs_cpu.json"
# 3. seconds per epoch against PyTorch CUDA at the three sizes of the performance issue
step "bench_torch shallow" 110 torch_cuda.log \
    python3 bench/bench_torch.py --device cuda --epochs 3 --sizes orl mfeat imagenet --out-dir "$OUT_DIR"
# 4. the deconvolutional model on the GPU
step "bench_torch deconv" 60 torch_deconv_cuda.log \
    python3 bench/bench_torch.py --device cuda --model deconv --epochs 2 --compare-layouts --out-dir "$OUT_DIR"

echo "== summary (results in $OUT_DIR)"
cat "$OUT_DIR/summary.txt"
if [ "$failed" -ne 0 ]; then
    echo "GPU check: FAIL"
    exit 1
fi
echo "GPU check: PASS"
