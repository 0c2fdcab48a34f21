"""Fits beside other CPU-bound work: alone, beside one and two busy processes, and in parallel.

    python bench/bench_contention.py [--repeats 3] [--threads none 1 2] [--quick] [--out docs/results/contention.json]

For each fit (WNMF on ORL and multi-feature, DeepWNMF, DeconvWNMF, MultiplicativeNMF,
UnfoldedNMF and scikit-learn's NMF(solver="mu") on ORL) and each ``n_threads`` setting
(``none`` = the default, load-aware; an int = a fixed pool: 2 is the pre-load-aware
default on a 2-core machine) it times ``fit``
alone, beside one and beside two busy processes (pure-Python spin loops, one core each),
interleaved round by round, and reports the median and the slowdown against alone. Then
``GridSearchCV`` over 4 WNMF settings with ``n_jobs=2`` against ``n_jobs=1``. Run it on an
otherwise idle machine: the busy processes are the only load it should see.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wnmf_np import WNMF, DeconvWNMF, DeepWNMF, MultiplicativeNMF, UnfoldedNMF  # noqa: E402
from wnmf_np.datasets import load_mfeat, load_orl  # noqa: E402


def _spin(stop):
    x = 0
    while not stop.is_set():
        for _ in range(10000):
            x += 1


class Busy:
    """``n`` processes that keep one core each busy until the block ends."""

    def __init__(self, n):
        self.n, self.procs, self.stop = n, [], None

    def __enter__(self):
        self.stop = mp.Event()
        self.procs = [mp.Process(target=_spin, args=(self.stop,), daemon=True) for _ in range(self.n)]
        for p in self.procs:
            p.start()
        time.sleep(0.3)  # let them reach the loop
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for p in self.procs:
            p.join()


def fits(quick, n_threads):
    orl = load_orl(return_X_y=True)[0].astype(np.float32)
    mfeat = load_mfeat(return_X_y=True)[0].astype(np.float32)
    e = 5 if quick else 1
    out = {
        "WNMF ORL r=40": (lambda: WNMF(40, max_epochs=30 // e, random_state=0, n_threads=n_threads), orl),
        "WNMF mfeat r=40": (lambda: WNMF(40, max_epochs=50 // e, random_state=0, n_threads=n_threads), mfeat),
        "DeepWNMF ORL (20, 40)": (lambda: DeepWNMF((20, 40), max_epochs=20 // e, random_state=0, n_threads=n_threads), orl),
        "DeconvWNMF ORL s=2 r=40": (lambda: DeconvWNMF(40, stride=2, image_shape=(112, 92), max_epochs=5 // e or 1,
                                                        random_state=0, n_threads=n_threads), orl),  # fmt: skip
        "MultiplicativeNMF ORL r=40": (lambda: MultiplicativeNMF(40, max_iter=100 // e, tol=0, random_state=0, n_threads=n_threads), orl),
        "UnfoldedNMF ORL r=40": (lambda: UnfoldedNMF(40, max_iter=30 // e, random_state=0, n_threads=n_threads), orl),
    }
    if n_threads is None:  # scikit-learn's, as a user calls it
        from sklearn.decomposition import NMF

        out["sklearn NMF(mu) ORL r=40"] = (lambda: NMF(40, solver="mu", max_iter=100 // e, tol=0, init="random", random_state=0), orl)
    return out


def time_fit(make, X):
    import warnings

    model = make()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return time.perf_counter() - start


def grid_search(n_jobs, quick):
    """4 settings × 2 folds of a WNMF fit of a few seconds each (process start-up is paid
    once: joblib keeps its workers between calls, and the warm-up call starts them)."""
    from sklearn.model_selection import GridSearchCV

    X = load_mfeat(return_X_y=True)[0].astype(np.float32)

    def score(model, X, y=None):
        return -model.reconstruction_err_

    grid = {"l2": [0.01, 0.03], "eta": [0.1, 0.2]}
    search = GridSearchCV(WNMF(20, max_epochs=20 if quick else 200, random_state=0), grid, cv=2, n_jobs=n_jobs, scoring=score)
    start = time.perf_counter()
    search.fit(X)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", nargs="+", default=["none", "1", "2"], help="n_threads settings ('none' = default)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", default=None, help="time only the fits whose name contains this text")
    parser.add_argument("--no-grid", action="store_true", help="skip the GridSearchCV comparison")
    args = parser.parse_args(argv)
    print(f"# {' '.join(sys.argv)}  ({platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})", flush=True)
    results = {}
    for setting in args.threads:
        n_threads = None if setting == "none" else int(setting)
        for name, (make, X) in fits(args.quick, n_threads).items():
            if args.only and args.only not in name:
                continue
            time_fit(make, X)  # warm-up: compile, caches
            times = {0: [], 1: [], 2: []}
            for _ in range(args.repeats):  # interleaved: alone, one busy, two busy, per round
                for busy in (0, 1, 2):
                    with Busy(busy):
                        times[busy].append(time_fit(make, X))
            med = {b: float(np.median(t)) for b, t in times.items()}
            key = f"{name} [n_threads={setting}]"
            results[key] = {"median_s": med, "slowdown": {b: med[b] / med[0] for b in med}, "all_s": times}
            print(f"{key:55s} alone {med[0]:6.2f} s   1 busy {med[1]:6.2f} s ({med[1] / med[0]:.2f}x)   "
                  f"2 busy {med[2]:6.2f} s ({med[2] / med[0]:.2f}x)", flush=True)  # fmt: skip
    if args.no_grid:
        return _write(args, results)
    grid = {1: [], 2: []}
    grid_search(2, True)  # warm-up: start joblib's workers, load the compiled kernels there
    for _ in range(args.repeats):
        for n_jobs in (1, 2):
            grid[n_jobs].append(grid_search(n_jobs, args.quick))
    g = {k: float(np.median(v)) for k, v in grid.items()}
    results["GridSearchCV(WNMF) 4 settings x 2 folds"] = {"median_s": g, "ratio_n_jobs_2_over_1": g[2] / g[1]}
    print(f"GridSearchCV: n_jobs=1 {g[1]:.2f} s, n_jobs=2 {g[2]:.2f} s ({g[2] / g[1]:.2f}x)", flush=True)
    _write(args, results)


def _write(args, results):
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel ran
        layer = None
    if args.out:
        Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "load_at_end": os.getloadavg()[0],
                                              "numba_threading_layer": layer,
                                              "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
