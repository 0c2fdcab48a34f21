"""Benchmark MultiplicativeNMF against sklearn.decomposition.NMF(solver="mu").

Both run on the same data from the same initial factors (``init="custom"``) with
``tol=0`` so the work is equal. The per-iteration time is the difference quotient
``(t(k) - t(1)) / (k - 1)``: it removes what both do once (validation, the objective at
the start and at the end). Runs of the two libraries alternate and the minimum over
``--repeat`` runs is kept (the machine may be shared).

Usage::

    PYTHONPATH=. python3 bench/bench_mu.py            # ORL + 50000×2048 synthetic
    PYTHONPATH=. python3 bench/bench_mu.py --quick    # smaller, for a smoke run
    PYTHONPATH=. python3 bench/bench_mu.py --nmi      # also ORL NMI of MU NMF (rank 40)
    PYTHONPATH=. python3 bench/bench_mu.py --whole-fit --repeat 5   # fit as a user times it

``--whole-fit`` times the whole ``fit`` call instead (validation, the objective at the
start and end, every iteration): ORL rank 40 with 100 iterations and 50000 × 2048 rank 500
with 10, float32, same initial factors, runs of the two libraries interleaved, median of
``--repeat``; it prints the ratio and the relative difference of the final objectives.

Names follow scikit-learn's ``NMF`` here (W the latents, H the components), since both
libraries are called with them; inside the package they are H and Wt.

Prints a markdown table and writes ``bench/out/bench_mu.json``. The table also gives the
time of the two products with X alone (``X @ H.T`` and ``W.T @ X``, same arrays): no
Frobenius MU iteration can be faster than that with this BLAS, so ``floor/sklearn`` is
the best ratio any implementation can reach.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import NMF

from wnmf_np.mu.shallow import MultiplicativeNMF

OUT = Path(__file__).resolve().parent / "out"
PAPER_NMF_ORL = {20: 67.12, 30: 75.36, 40: 82.51, 50: 84.79}


def load_orl():
    """ORL faces (400, 10304) in [0, 1] and labels; the package loader when available."""
    try:
        from wnmf_np.datasets import load_orl as loader  # noqa: PLC0415

        return loader(return_X_y=True)
    except Exception:  # the loader is written in parallel; fall back to the shared copy
        d = np.load("/work/shared/data/orl/data.npz")
        return d["X"] / 255.0, d["y"]


def initial_factors(X, r, seed=0):
    """sklearn-scaled random factors ``sqrt(mean(X)/r) |N(0,1)|`` in X's dtype."""
    rng = np.random.default_rng(seed)
    a = np.sqrt(X.mean() / r)
    W = (a * np.abs(rng.standard_normal((X.shape[0], r)))).astype(X.dtype)
    H = (a * np.abs(rng.standard_normal((r, X.shape[1])))).astype(X.dtype)
    return W, H


def run_ours(X, W0, H0, iters):
    est = MultiplicativeNMF(W0.shape[1], init="custom", tol=0, max_iter=iters, dtype=X.dtype.name)
    t = time.perf_counter()
    est.fit_transform(X, W=W0, H=H0)
    return time.perf_counter() - t, est.reconstruction_err_


def run_sklearn(X, W0, H0, iters):
    est = NMF(W0.shape[1], solver="mu", init="custom", tol=0, max_iter=iters)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit_transform(X, W=W0.copy(), H=H0.copy())
    return time.perf_counter() - t, est.reconstruction_err_


def per_iteration(fn, X, W0, H0, iters, repeat):
    """Min over repeats of ``(t(iters) - t(1)) / (iters - 1)`` and the final error."""
    best_full, best_one, err = np.inf, np.inf, None
    for _ in range(repeat):
        t_full, err = fn(X, W0, H0, iters)
        t_one, _ = fn(X, W0, H0, 1)
        best_full, best_one = min(best_full, t_full), min(best_one, t_one)
    return max(best_full - best_one, 1e-9) / (iters - 1), err


def x_products_floor(X, W0, H0, repeat):
    """Seconds for the two products with X that every Frobenius MU iteration needs.

    ``X @ H.T`` (numerator of the W update) and ``W.T @ X`` (numerator of the H update,
    with the *new* W, so they cannot share one pass over X): a lower bound on the time
    per iteration of any implementation that uses this BLAS (minimum over repeats).
    """
    best = np.inf
    for _ in range(max(repeat, 3)):
        start = time.perf_counter()
        X @ H0.T
        W0.T @ X
        best = min(best, time.perf_counter() - start)
    return best


def bench_case(name, X, r, iters, repeat):
    W0, H0 = initial_factors(X, r)
    run_ours(X, W0, H0, 2)  # numba kernels: load / compile outside the timing
    rows = {}
    for lib, fn in (("ours", run_ours), ("sklearn", run_sklearn)):
        rows[lib] = per_iteration(fn, X, W0, H0, iters, repeat)
    ours, sk = rows["ours"], rows["sklearn"]
    floor = x_products_floor(X, W0, H0, repeat)
    return {
        "case": name, "shape": list(X.shape), "rank": r, "dtype": X.dtype.name, "iters": iters,
        "ours_s_per_iter": ours[0], "sklearn_s_per_iter": sk[0], "ratio": ours[0] / sk[0],
        "x_products_s": floor, "floor_ratio": floor / sk[0],
        "ours_err": float(ours[1]), "sklearn_err": float(sk[1]),
    }


def whole_fit(name, X, r, iters, repeat):
    """Median seconds of the whole ``fit_transform`` of each library, interleaved."""
    W0, H0 = initial_factors(X, r)
    run_ours(X, W0, H0, 2)  # numba kernels: load / compile outside the timing
    times = {"ours": [], "sklearn": []}
    errs = {}
    for _ in range(repeat):
        for lib, fn in (("ours", run_ours), ("sklearn", run_sklearn)):
            t, errs[lib] = fn(X, W0, H0, iters)
            times[lib].append(t)
    med = {lib: float(np.median(t)) for lib, t in times.items()}
    # reconstruction_err_ = sqrt(2 D): the objective D's relative difference is about twice the error's
    obj = {lib: 0.5 * float(e) ** 2 for lib, e in errs.items()}
    return {
        "case": name, "shape": list(X.shape), "rank": r, "dtype": X.dtype.name, "iters": iters,
        "ours_s": med["ours"], "sklearn_s": med["sklearn"], "ratio": med["ours"] / med["sklearn"],
        "all_s": times, "objective_rel_diff": abs(obj["ours"] - obj["sklearn"]) / obj["sklearn"],
        "load_at_end": os.getloadavg()[0],
    }


def whole_fit_main(args, X_orl):
    results = [whole_fit("ORL", np.ascontiguousarray(X_orl, dtype=np.float32), 40, 100, args.repeat or 5)]
    if not args.skip_synthetic:
        S = synthetic(10000 if args.quick else 50000, 2048, 500).astype(np.float32)
        results.append(whole_fit(f"synthetic {S.shape[0]}x2048", S, 500, 3 if args.quick else 10, args.repeat or 5))
    print(f"# whole fit, float32, median of {args.repeat or 5} interleaved runs, load {os.getloadavg()[0]:.2f}")
    print("| case | rank | iterations | ours fit (s) | sklearn fit (s) | ours/sklearn | objective rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['rank']} | {r['iters']} | {r['ours_s']:.2f} | {r['sklearn_s']:.2f} | "
              f"{r['ratio']:.2f} | {r['objective_rel_diff']:.1e} |")  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "bench_mu_whole_fit.json"
    path.write_text(json.dumps({"machine": machine(), "args": vars(args), "whole_fit": results}, indent=2))
    print(f"\nwrote {path}")


def synthetic(n, m, r, seed=0):
    """Non-negative low-rank + noise, like ReLU CNN features: (n, m) float64."""
    rng = np.random.default_rng(seed)
    return rng.random((n, r // 5)) @ rng.random((r // 5, m)) / r + 0.1 * rng.random((n, m))


def nmi_table(X, y, r=40, seeds=10, max_iter=500):
    """Mean ± std NMI (×100) of k-means on MU-NMF latents for k = 20, 30, 40, 50."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = MultiplicativeNMF(r, max_iter=max_iter, tol=1e-4, random_state=0, dtype="float64").fit_transform(X)
    out = {}
    for k in PAPER_NMF_ORL:
        try:
            from wnmf_np.metrics import clustering_nmi  # noqa: PLC0415

            res = clustering_nmi(Z, y, k, n_runs=seeds, random_state=0)
            out[k] = (100 * res.mean, 100 * res.std)
        except ImportError:
            from sklearn.cluster import KMeans  # noqa: PLC0415
            from sklearn.metrics import normalized_mutual_info_score  # noqa: PLC0415

            s = [normalized_mutual_info_score(y, KMeans(k, n_init=1, random_state=i).fit_predict(Z)) for i in range(seeds)]
            out[k] = (100 * np.mean(s), 100 * np.std(s))
    return out


def machine():
    info = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    return {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "blas": f"{info.get('name', '?')} {info.get('version', '')}".strip(),
        "python": platform.python_version(), "numpy": np.__version__,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few iterations")
    ap.add_argument("--nmi", action="store_true", help="also report the ORL NMI of MU NMF at rank 40")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--whole-fit", action="store_true", help="time whole fit calls (median of interleaved runs)")
    args = ap.parse_args(argv)
    X_orl, y_orl = load_orl()
    if args.whole_fit:
        return whole_fit_main(args, X_orl)
    n_syn = 10000 if args.quick else 50000
    repeat = args.repeat or (1 if args.quick else 3)
    results = []
    for dtype in (np.float32, np.float64):
        X = np.ascontiguousarray(X_orl, dtype=dtype)
        results.append(bench_case("ORL", X, 40, 11 if args.quick else 31, repeat))
    if not args.skip_synthetic:
        S = synthetic(n_syn, 2048, 500)
        for dtype in (np.float32, np.float64):
            results.append(bench_case(f"synthetic {n_syn}x2048", S.astype(dtype), 500, 3 if args.quick else 4, 1))
    print("| case | dtype | rank | ours ms/iter | sklearn ms/iter | ours/sklearn | X Hᵀ + Wᵀ X ms | floor/sklearn "
          "| ours err | sklearn err |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['case']} | {r['dtype']} | {r['rank']} | {1e3 * r['ours_s_per_iter']:.1f} | "
            f"{1e3 * r['sklearn_s_per_iter']:.1f} | {r['ratio']:.2f} | {1e3 * r['x_products_s']:.1f} | "
            f"{r['floor_ratio']:.2f} | {r['ours_err']:.6g} | {r['sklearn_err']:.6g} |"
        )
    report = {"machine": machine(), "args": vars(args), "speed": results}
    if args.nmi:
        nmi = nmi_table(np.asarray(X_orl, dtype=np.float64), y_orl)
        report["nmi"] = {str(k): v for k, v in nmi.items()}
        print("\n| k | MU NMF NMI (ours, mean ± std, 10 seeds) | paper NMF |")
        print("|---|---|---|")
        for k, (mu, sd) in nmi.items():
            print(f"| {k} | {mu:.2f} ± {sd:.2f} | {PAPER_NMF_ORL[k]:.2f} |")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / ("bench_mu_quick.json" if args.quick else "bench_mu.json")
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
