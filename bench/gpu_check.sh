#!/usr/bin/env bash
# GPU check: the CuPy tests and the GPU benchmarks against PyTorch CUDA, in under 5 minutes.
#
#   RESULTS_DIR=/some/folder bash bench/gpu_check.sh
#
# Needs an NVIDIA GPU with CuPy (and PyTorch with CUDA for the comparison; skipped
# without it). Runs from the source tree (no install). Writes into $RESULTS_DIR:
#   gpu_tests.log          pytest -m gpu output (the CuPy tests, skipped on CPU machines)
#   torch_cuda.json/.log   seconds per epoch, wnmf_np on CuPy vs PyTorch CUDA (bench_torch.py;
#                          without PyTorch only our columns are filled)
#   torch_deconv_cuda.*    the same for the deconvolutional model
#   nvidia-smi.txt         the device
set -u
OUT_DIR="${RESULTS_DIR:-${OUT:-bench/out/gpu}}"
mkdir -p "$OUT_DIR"
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
nvidia-smi > "$OUT_DIR/nvidia-smi.txt" 2>&1 || true
python3 -c "import cupy; print('cupy', cupy.__version__, cupy.cuda.runtime.getDeviceCount(), 'device(s)')" 2>&1 | tee "$OUT_DIR/env.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT_DIR/env.txt"
# 1. every test, CuPy included (the gpu-marked ones run only where CuPy works)
timeout 130 python3 -m pytest -q -x -m gpu tests 2>&1 | tee "$OUT_DIR/gpu_tests.log"
# 2. seconds per epoch against PyTorch CUDA at the three sizes of the performance issue
timeout 110 python3 bench/bench_torch.py --device cuda --epochs 3 --sizes orl mfeat imagenet 2>&1 | tee "$OUT_DIR/torch_cuda.log"
cp bench/out/torch_cuda.json "$OUT_DIR/" 2>/dev/null || true
# 3. the deconvolutional model on the GPU (PyTorch columns are dashes where torch is absent)
timeout 50 python3 bench/bench_torch.py --device cuda --model deconv --epochs 2 --compare-layouts 2>&1 | tee "$OUT_DIR/torch_deconv_cuda.log"
cp bench/out/torch_deconv_cuda.json "$OUT_DIR/" 2>/dev/null || true
echo "results in $OUT_DIR"
