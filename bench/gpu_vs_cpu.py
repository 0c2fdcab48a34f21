"""GPU losses against CPU losses at ORL size: PASS/FAIL per model and dtype (needs a GPU).

    python bench/gpu_vs_cpu.py [--epochs 3] [--out bench/out/gpu_vs_cpu.json]

Fits each model twice on ORL (400 x 10304) with the same seed, on NumPy and on CuPy, and
compares the loss curves (``loss_curve_``): PASS when the largest relative difference is
within ``TOLERANCE[dtype]`` (float32: 1e-3, float64: 1e-6; summation order differs between
cuBLAS and OpenBLAS). Writes the curves and verdicts as JSON; exits 1 if any model fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wnmf_np  # noqa: E402
from wnmf_np.datasets import load_orl  # noqa: E402

TOLERANCE = {"float32": 1e-3, "float64": 1e-6}


def models(epochs: int, image_shape):
    common = dict(max_epochs=epochs, batch_size=32, random_state=0, n_iter_no_change=None)
    return {
        "WNMF lazy": lambda **kw: wnmf_np.WNMF(40, **common, **kw),
        "WNMF dense": lambda **kw: wnmf_np.WNMF(40, h_update="dense", **common, **kw),
        "DeepWNMF": lambda **kw: wnmf_np.DeepWNMF((20, 40), **common, **kw),
        "DeconvWNMF": lambda **kw: wnmf_np.DeconvWNMF(40, stride=2, image_shape=image_shape, **common, **kw),
        "MultiplicativeNMF": lambda **kw: wnmf_np.MultiplicativeNMF(
            40, max_iter=10 * epochs, tol=1e-12, random_state=0, **kw
        ),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "gpu_vs_cpu.json")
    args = parser.parse_args(argv)
    import cupy
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)  # MU runs a fixed number of iterations here
    bunch = load_orl()
    X = bunch.data.astype(np.float64)
    X_gpu = cupy.asarray(X)
    rows, failed = [], False
    for name, make in models(args.epochs, tuple(bunch.image_shape)).items():
        for dtype in ("float32", "float64"):
            t0 = time.perf_counter()
            cpu = make(dtype=dtype, backend="numpy").fit(X).loss_curve_
            t1 = time.perf_counter()
            gpu = make(dtype=dtype, backend="cupy").fit(X_gpu).loss_curve_
            t2 = time.perf_counter()
            n = min(len(cpu), len(gpu))
            diff = float(np.max(np.abs(np.subtract(gpu[:n], cpu[:n])) / np.maximum(np.abs(cpu[:n]), 1e-30)))
            ok = len(cpu) == len(gpu) and diff <= TOLERANCE[dtype]
            failed |= not ok
            rows.append(
                dict(
                    model=name,
                    dtype=dtype,
                    verdict="PASS" if ok else "FAIL",
                    max_rel_diff=diff,
                    cpu_s=t1 - t0,
                    gpu_s=t2 - t1,
                    cpu_losses=cpu,
                    gpu_losses=gpu,
                )
            )
            print(
                f"{'PASS' if ok else 'FAIL'} {name} {dtype}: max relative loss difference {diff:.2e} "
                f"(tolerance {TOLERANCE[dtype]:.0e}; {len(cpu)} vs {len(gpu)} values; CPU {t1 - t0:.1f} s, "
                f"GPU {t2 - t1:.1f} s)",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"tolerance": TOLERANCE, "rows": rows}, indent=2))
    print("GPU vs CPU losses: " + ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
