"""One WNMF training step, taken apart: GEMM layouts, fused vs reference kernels, BLAS
threads, and a roofline (achieved FLOP/s and bytes/s against this machine's peaks).

    python bench/bench_wnmf_step.py [--quick] [--size orl|mfeat|imagenet|tiny]

Prints markdown tables and writes ``bench/out/wnmf_step_<size>.json``. All timings are
minima over repeats, measured side by side in one process (ratios are what count on a
shared machine).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from wnmf_np.core.losses import LossSpec
from wnmf_np.core.optim import AdamWConfig
from wnmf_np.core.regularization import weights_of_optimizer
from wnmf_np.kernels import get_kernels
from wnmf_np.models.shallow import ShallowModel
from wnmf_np.training.driver import _step
from wnmf_np.training.state import TrainConfig, init_train_state

SIZES = {  # (n_features m, n_samples n, rank r, batch b), as in the performance issue
    "orl": (10304, 400, 40, 32),
    "mfeat": (585, 2000, 10, 64),
    "imagenet": (2048, 50000, 1000, 256),
    "tiny": (64, 128, 4, 16),  # a smoke run: checks the script, measures nothing
}
OUT = Path(__file__).resolve().parent / "out"


def best_time(fn, repeats: int, inner: int = 1) -> float:
    """Minimum over ``repeats`` of the mean time of ``inner`` calls (seconds)."""
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def gemm_layouts(m, r, b, repeats):
    """The three products of a step with W stored (r, m) versus (m, r)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((b, r), dtype=np.float32)
    G = rng.standard_normal((b, m), dtype=np.float32)
    W_rm = rng.standard_normal((r, m), dtype=np.float32)
    W_mr = np.ascontiguousarray(W_rm.T)
    rows = {
        "W (r, m): forward A @ W": lambda: A @ W_rm,
        "W (r, m): grad W  A.T @ G": lambda: A.T @ G,
        "W (r, m): grad H  G @ W.T": lambda: G @ W_rm.T,
        "W (m, r): forward A @ W.T": lambda: A @ W_mr.T,
        "W (m, r): grad W  G.T @ A": lambda: G.T @ A,
        "W (m, r): grad H  G @ W": lambda: G @ W_mr,
    }
    out = {}
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            for name, fn in rows.items():
                out[f"{name} [{threads} thr]"] = best_time(fn, repeats, inner=5) * 1e3
    return out


def step_timer(m, n, r, b, impl, repeats):
    """Seconds per training step of the shallow model (lazy H, L1 loss, float32)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(n, m)).astype(np.float32)
    model = ShallowModel(r)
    a = math.sqrt(6 / r)
    params = {
        "W": rng.uniform(-a, a, size=(m, r)).astype(np.float32),
        "H": rng.uniform(-a, a, size=(n, r)).astype(np.float32),
    }
    optimizer = AdamWConfig(lr=1e-3, weight_decay=0.1)
    config = TrainConfig(
        loss=LossSpec("l1"), optimizer=optimizer, batch_size=b, max_epochs=1,
        eta_schedule=lambda e: 0.1, lr_schedule=lambda s: 1.0,
        l2=weights_of_optimizer(optimizer),  # what train() derives from the optimizer; _step reads it
    )  # fmt: skip
    kernels = get_kernels("numpy", impl)
    state = init_train_state(params, ("W", "H"), "H", "lazy")
    order = rng.permutation(n)
    cursor = [0]

    def one_step():
        k = cursor[0] % (n // b)
        cursor[0] += 1
        rows = order[k * b : (k + 1) * b]
        _step(model, params, X[rows], None, rows, 0.1, 1e-3, config, kernels, state, ("W", "H"), np)

    return best_time(one_step, repeats, inner=5)


def machine_peaks(repeats):
    """Large float32 GEMM (FLOP/s) and large copy (bytes/s, read + write) on this machine."""
    rng = np.random.default_rng(0)
    n = 2048
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    t_gemm = best_time(lambda: A @ B, repeats)
    src = np.ones(64 * 2**20 // 4, dtype=np.float32)  # 64 MiB, far beyond the caches
    dst = np.empty_like(src)
    t_copy = best_time(lambda: np.copyto(dst, src), repeats)
    return {"gemm_gflops": 2 * n**3 / t_gemm / 1e9, "copy_gbs": 2 * src.nbytes / t_copy / 1e9}


def roofline(m, n, r, b, t_step, peaks):
    """FLOPs and compulsory bytes of one step and the time bounds they imply."""
    flops = 3 * 2 * b * r * m  # forward, grad W, grad H
    f32 = 4
    # W, its gradient and two Adam moments are read and written once (p, m, v r+w; g r),
    # the batch X_b read once, Y/G written and read once; the latents are negligible.
    bytes_moved = f32 * (7 * m * r + 3 * b * m)
    return {
        "flops": flops,
        "bytes": bytes_moved,
        "achieved_gflops": flops / t_step / 1e9,
        "achieved_gbs": bytes_moved / t_step / 1e9,
        "time_bound_compute_ms": flops / (peaks["gemm_gflops"] * 1e9) * 1e3,
        "time_bound_memory_ms": bytes_moved / (peaks["copy_gbs"] * 1e9) * 1e3,
        "step_ms": t_step * 1e3,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="orl")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 10
    m, n, r, b = SIZES[args.size]
    n = min(n, 4096)  # the step touches b rows; the full n only matters for memory
    result = {"size": args.size, "m": m, "r": r, "b": b, "machine": platform.processor() or platform.machine()}
    result["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads")} for d in threadpool_info()]
    print(f"## One WNMF step at the {args.size} size (m={m}, r={r}, b={b}, float32)\n")
    result["gemm_ms"] = gemm_layouts(m, r, b, repeats)
    print("| product | ms |\n|---|---|")
    for k, v in result["gemm_ms"].items():
        print(f"| {k} | {v:.3f} |")
    result["step_ms"] = {}
    for impl in ("fast", "reference"):
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="blas"):
                result["step_ms"][f"{impl} kernels, {threads} BLAS thr"] = step_timer(m, n, r, b, impl, repeats) * 1e3
    print("\n| whole step | ms |\n|---|---|")
    for k, v in result["step_ms"].items():
        print(f"| {k} | {v:.3f} |")
    result["peaks"] = machine_peaks(repeats)
    best = min(result["step_ms"][k] for k in result["step_ms"] if k.startswith("fast")) / 1e3
    result["roofline"] = roofline(m, n, r, b, best, result["peaks"])
    rf = result["roofline"]
    print(
        f"\nRoofline: {rf['flops'] / 1e6:.1f} MFLOP and {rf['bytes'] / 1e6:.2f} MB per step; "
        f"best step {rf['step_ms']:.3f} ms = {rf['achieved_gflops']:.1f} GFLOP/s, {rf['achieved_gbs']:.2f} GB/s. "
        f"Machine: {result['peaks']['gemm_gflops']:.1f} GFLOP/s (2048² sgemm), {result['peaks']['copy_gbs']:.2f} GB/s (64 MiB copy). "
        f"Bounds: compute {rf['time_bound_compute_ms']:.3f} ms, memory {rf['time_bound_memory_ms']:.3f} ms; "
        f"step / memory bound = {rf['step_ms'] / rf['time_bound_memory_ms']:.2f}x."
    )
    OUT.mkdir(exist_ok=True)
    (OUT / f"wnmf_step_{args.size}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
