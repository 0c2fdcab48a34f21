"""numba's parallel loops beside OpenBLAS's threads: the whole fit with numba on one thread
against numba on all cores, the BLAS pool as it is (2 threads on the 2-core machine).

    python bench/bench_numba_beside_blas.py [--repeats 3] [--large]

The fits run with ``n_threads=None`` on an idle machine (BLAS pools untouched);
``wnmf_np.core.threads.NUMBA_THREADS_IN_FITS`` is set to 1 (the shipped value) or to the
machine's cores for each run, the two alternating; medians of ``--repeats``. ``--large``
adds an ImageNet-CNN-sized case (6000 × 2048, rank 1000, batch 256). Prints one line per
case: seconds with numba on 1 and on all threads and their ratio.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numba
import numpy as np

import wnmf_np.core.threads as threads
from wnmf_np import WNMF, DeconvWNMF, DeepWNMF
from wnmf_np.datasets import load_mfeat, load_orl


def cases(large: bool):
    X = load_orl(return_X_y=True)[0].astype(np.float32)
    M = load_mfeat(return_X_y=True)[0].astype(np.float32)
    out = {
        "WNMF ORL r=40, 8 epochs": (lambda: WNMF(40, max_epochs=8, random_state=0, tol=0), X),
        "WNMF multi-feature r=40, 15 epochs": (lambda: WNMF(40, max_epochs=15, random_state=0, tol=0), M),
        "DeepWNMF ORL (80, 40), 6 epochs": (lambda: DeepWNMF((80, 40), max_epochs=6, random_state=0, tol=0), X),
        "DeconvWNMF ORL r=40, 2 epochs": (
            lambda: DeconvWNMF(40, image_shape=(112, 92), max_epochs=2, random_state=0, tol=0), X),
    }
    if large:
        S = np.maximum(np.random.default_rng(0).standard_normal((6000, 2048)), 0).astype(np.float32)
        out["WNMF 6000x2048 r=1000, b=256, 2 epochs"] = (
            lambda: WNMF(1000, max_epochs=2, batch_size=256, random_state=0, tol=0), S)
    return out


def timed_fit(make, data, numba_threads: int) -> float:
    threads.NUMBA_THREADS_IN_FITS = numba_threads
    t = time.perf_counter()
    make().fit(data)
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--large", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    everything = numba.config.NUMBA_NUM_THREADS
    print(f"# load {os.getloadavg()[0]:.2f}, {everything} numba threads at most, median of {args.repeats} "
          "alternated runs")
    for name, (make, data) in cases(args.large).items():
        timed_fit(make, data, everything)  # compile, warm caches
        times = {1: [], everything: []}
        for _ in range(args.repeats):
            for k in (everything, 1):
                times[k].append(timed_fit(make, data, k))
        one, many = (float(np.median(times[k])) for k in (1, everything))
        print(f"{name}: numba 1 thread {one:.3f} s, {everything} threads {many:.3f} s, ratio {one / many:.2f}")
    threads.NUMBA_THREADS_IN_FITS = 1
    print(f"# numba threading layer: {numba.threading_layer()}")


if __name__ == "__main__":
    main()
