"""WNMF against multiplicative-update NMF at rank = number of classes (issue 12's target).

    python bench/bench_rank_classes.py [--data mfeat yale orl] [--seeds 5] [--kmeans-runs 5] [--out FILE.json]

For each data set (multi-feature r = k = 10, Yale r = k = 15, ORL r = k = 40) and seed it
fits ``WNMF`` with its defaults and ``MultiplicativeNMF`` as Table 3a runs it (Frobenius,
random init, 500 iterations, tol 1e-6), and reports k-means NMI (× 100, ``kmeans-runs``
restarts per fit) mean ± std over the seeds, the WNMF factors' negative mass and min/max,
and the relative Frobenius error of both. Both fits run with one BLAS thread, so that the
numbers do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_negativity import load  # noqa: E402

from wnmf_np import WNMF, MultiplicativeNMF  # noqa: E402
from wnmf_np.metrics import clustering_nmi  # noqa: E402

RANKS = {"mfeat": 10, "yale": 15, "orl": 40}
MU_SETTINGS = dict(max_iter=500, tol=1e-6, init="random")


def relative_error(X, Z, components):
    return float(np.linalg.norm(X - Z @ components) / np.linalg.norm(X))


def run(name, seeds, kmeans_runs):
    X, y, _ = load(name)
    X = np.asarray(X, dtype=np.float64)
    r = RANKS[name]
    out = {"data": name, "rank": r, "wnmf": [], "mu": []}
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = WNMF(r, random_state=seed)
            Zw = w.fit_transform(X)
            mu = MultiplicativeNMF(r, random_state=seed, **MU_SETTINGS)
            Zm = mu.fit_transform(X)
        neg = w.negativity_
        out["wnmf"].append({
            "nmi": 100 * clustering_nmi(Zw, y, r, n_runs=kmeans_runs, random_state=seed).mean,
            "rel_err": relative_error(X, Zw, w.components_),
            "neg_mass": {f: 100 * s["negative_mass"] for f, s in neg.items()},
            "min_over_max": {f: s["min"] / s["max"] for f, s in neg.items()},
        })  # fmt: skip
        out["mu"].append({
            "nmi": 100 * clustering_nmi(Zm, y, r, n_runs=kmeans_runs, random_state=seed).mean,
            "rel_err": relative_error(X, Zm, mu.components_),
        })  # fmt: skip
        print(f"{name} seed {seed}: WNMF NMI {out['wnmf'][-1]['nmi']:.2f}  MU NMI {out['mu'][-1]['nmi']:.2f}", flush=True)
    return out


def summary(row):
    def ms(values):
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    w, m = row["wnmf"], row["mu"]
    factors = list(w[0]["neg_mass"])
    neg = " / ".join(f"{max(s['neg_mass'][f] for s in w):.2f}" for f in factors)
    mm = " / ".join(f"{min(s['min_over_max'][f] for s in w):.3f}" for f in factors)
    return (f"| {row['data']} | {row['rank']} | {len(w)} | {ms([s['nmi'] for s in w])} | {ms([s['nmi'] for s in m])} | "
            f"{np.mean([s['nmi'] for s in w]) - np.mean([s['nmi'] for s in m]):+.2f} | {neg} | {mm} | "
            f"{np.mean([s['rel_err'] for s in w]):.3f} | {np.mean([s['rel_err'] for s in m]):.3f} |")  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["mfeat", "yale", "orl"], choices=sorted(RANKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--kmeans-runs", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    print(f"# {' '.join(sys.argv)}  ({platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
    rows = []
    with threadpool_limits(1):
        for name in args.data:
            rows.append(run(name, list(range(args.seeds)), args.kmeans_runs))
    print("\n| data | rank = k | seeds | WNMF NMI | MU NMI | WNMF − MU | WNMF max neg. mass comps / latents (%) "
          "| WNMF min/max comps / latents (worst seed) | WNMF rel. error | MU rel. error |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(summary(row))
    if args.out:
        Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
