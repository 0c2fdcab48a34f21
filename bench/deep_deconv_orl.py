"""ORL clustering quality of deep and deconvolutional WNMF next to the paper (Tables 3b, 4).

Fits, on the 400 ORL faces (112 × 92, scaled to [0, 1]):

* ``DeepWNMF(ranks=(20, 40))`` once, and reads the latents of layer 1 (φη(H), 20-D) and
  layer 2 (φη(W_1) φη(H), 40-D) from that one fit, as the paper's "Ours l=1 / l=2";
* ``DeconvWNMF(rank, stride=s)`` for s = 2 and 4 (default rank 40), once each, and reads
  both the "raw" (4s²r-D) and the "sum" (r-D) latents from that fit (the latent option
  only changes the read-out, not the training).

For each latent set: NMI of k-means (``wnmf_np.metrics.clustering_nmi``, ``n_runs``
k-means runs, arithmetic NMI) at k = 20, 30, 40, 50, and the wall time of the fit.
Prints a markdown table with the paper's numbers and writes JSON + markdown to
``bench/out/``; with matplotlib, the learnt factor images go to
``docs/figures/deconv_factors_s{2,4}.png`` (full runs only).

OpenBLAS is limited to one thread by default (``--blas-threads``): on the shared 2-core
machine a 32 × 10304 @ 10304 × 40 product took 260 ms with two threads under load and
0.4 ms with one (the second thread waits on a descheduled core).

Usage::

    PYTHONPATH=. python3 bench/deep_deconv_orl.py            # full (minutes)
    PYTHONPATH=. python3 bench/deep_deconv_orl.py --quick    # smoke run, few epochs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from wnmf_np.datasets import load_orl
from wnmf_np.estimators.deconv import DeconvWNMF
from wnmf_np.estimators.deep import DeepWNMF
from wnmf_np.metrics import clustering_nmi

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FIGURES = ROOT / "docs" / "figures"
KS = (20, 30, 40, 50)
PAPER = {  # 100 × NMI on ORL: Table 3b (ours, ranks (20, 40)) and Table 4
    "deep l=1": (74.45, 82.59, 84.20, 86.11),
    "deep l=2": (74.79, 80.01, 83.74, 85.67),
    "deconv raw s=2": (74.60, 81.53, 85.39, 86.93),
    "deconv raw s=4": (71.75, 79.73, 83.31, 83.87),
    "deconv sum s=2": (76.40, 84.34, 88.98, 89.31),
    "deconv sum s=4": (79.08, 82.72, 87.12, 89.50),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few epochs and k-means runs (smoke run)")
    p.add_argument("--deep-epochs", type=int, default=400)
    p.add_argument("--deconv-epochs", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate of the shared factors")
    p.add_argument("--latent-lr", type=float, default=3e-2, help="learning rate of the per-sample latents")
    p.add_argument("--deconv-rank", type=int, default=40)
    p.add_argument("--n-runs", type=int, default=5, help="k-means runs per k")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (0: library default)")
    p.add_argument("--only", choices=("all", "deep", "deconv"), default="all")
    p.add_argument("--no-figures", action="store_true")
    return p.parse_args()


def nmi_row(latents, y, n_runs, seed):
    """100 × mean NMI (and std) at each k."""
    res = [clustering_nmi(latents, y, n_clusters=k, n_runs=n_runs, random_state=seed) for k in KS]
    return [100 * r.mean for r in res], [100 * r.std for r in res]


def fit_timed(est, X):
    t = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - t


def run(args):
    X, y = load_orl(return_X_y=True)
    X = X.astype(np.float32)  # the estimators keep X's precision; the tables are float32
    shape = load_orl().image_shape
    common = dict(lr=args.lr, latent_lr=args.latent_lr, n_iter_no_change=None, random_state=args.seed)
    rows, models = [], {}
    if args.only in ("all", "deep"):
        est = DeepWNMF((20, 40), max_epochs=args.deep_epochs, **common)
        seconds = fit_timed(est, X)
        for layer in (1, 2):
            mean, std = nmi_row(est.layer_latents_[layer - 1], y, args.n_runs, args.seed)
            rows.append(dict(name=f"deep l={layer}", dim=est.ranks[layer - 1], fit_s=seconds, nmi=mean, std=std,
                             epochs=est.n_iter_, final_loss=est.loss_curve_[-1]))  # fmt: skip
        print(f"deep (20, 40): {seconds:.1f} s", flush=True)
    if args.only in ("all", "deconv"):
        for s in (2, 4):
            est = DeconvWNMF(args.deconv_rank, stride=s, image_shape=shape, max_epochs=args.deconv_epochs, **common)
            seconds = fit_timed(est, X)
            models[s] = est
            K = est.kernels_
            for latent, Z in (("raw", K.reshape(K.shape[0], -1)), ("sum", K.sum(axis=(2, 3)))):
                mean, std = nmi_row(Z, y, args.n_runs, args.seed)
                rows.append(dict(name=f"deconv {latent} s={s}", dim=Z.shape[1], fit_s=seconds, nmi=mean, std=std,
                                 epochs=est.n_iter_, final_loss=est.loss_curve_[-1]))  # fmt: skip
            print(f"deconv s={s}: {seconds:.1f} s", flush=True)
    return rows, models


def markdown(rows, args) -> str:
    head = "| model | latent dim | " + " | ".join(f"k={k} ours / paper" for k in KS) + " | fit (s) |"
    lines = [head, "|" + "---|" * (len(KS) + 3)]
    order = list(PAPER)
    for r in sorted(rows, key=lambda r: order.index(r["name"])):
        cells = [f"{m:.2f} ± {s:.2f} / {p:.2f}" for m, s, p in zip(r["nmi"], r["std"], PAPER[r["name"]])]
        lines.append(f"| {r['name']} | {r['dim']} | " + " | ".join(cells) + f" | {r['fit_s']:.1f} |")
    setup = (
        f"deep ranks (20, 40), {args.deep_epochs} epochs; deconv rank {args.deconv_rank}, {args.deconv_epochs} "
        f"epochs; lr {args.lr:g}, latent_lr {args.latent_lr:g}, eta 0.1, l2 0.1 (decoupled), L1 loss, batch 32, "
        f"cosine lr, float32, seed {args.seed}; NMI: mean ± std over {args.n_runs} k-means runs"
    )
    return "\n".join(lines) + "\n\n" + setup + "\n"


def save_figures(models):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figures")
        return []
    FIGURES.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, est in models.items():
        F = np.asarray(est.components_)
        cols = 10
        rows = -(-F.shape[0] // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.0, rows * 1.25))
        for i, ax in enumerate(np.ravel(axes)):
            ax.axis("off")
            if i < F.shape[0]:
                ax.imshow(F[i], cmap="gray", vmin=0.0, vmax=max(float(F[i].max()), 1e-12))
        hi, wi = F.shape[1:]
        fig.suptitle(f"DeconvWNMF factor images φη(W), s = {s} ({hi} × {wi}, rank {F.shape[0]})", fontsize=9)
        fig.tight_layout()
        path = FIGURES / f"deconv_factors_s{s}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(str(path.relative_to(ROOT)))
    return paths


def main():
    args = parse_args()
    if args.quick:
        args.deep_epochs, args.deconv_epochs, args.n_runs = 5, 2, 2
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    start = time.perf_counter()
    rows, models = run(args)
    table = markdown(rows, args)
    print(table)
    figures = [] if (args.quick or args.no_figures or not models) else save_figures(models)
    OUT.mkdir(parents=True, exist_ok=True)
    stem = "deep_deconv_orl" + ("_quick" if args.quick else "")
    meta = dict(
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        numpy=np.__version__,
        args=vars(args),
        total_s=time.perf_counter() - start,
        figures=figures,
    )
    (OUT / f"{stem}.json").write_text(json.dumps(dict(meta=meta, paper=PAPER, rows=rows), indent=2))
    (OUT / f"{stem}.md").write_text(f"# Deep and deconvolutional WNMF on ORL\n\n{table}\n`{json.dumps(meta['args'])}`\n")
    print(f"wrote {OUT / stem}.json/.md" + (f" and {', '.join(figures)}" if figures else ""))


if __name__ == "__main__":
    main()
