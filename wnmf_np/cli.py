"""Command line: ``python -m wnmf_np fit [FILE]`` (also installed as ``wnmf-np``).

Factorises a matrix file (``.npy``/``.npz``/``.csv``/``.mat``, samples as rows) or, with
no file, a built-in data set (ORL faces by default), prints progress, and reports the
reconstruction error, how non-negative the factors are, and the k-means NMI of the
latents when labels are known. Bad input gives a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

BUILTIN = ("orl", "mfeat", "digits")
#: default rank of the built-in data sets: the rank docs/results uses (rank.md picks it)
BUILTIN_RANK = {"orl": 40, "mfeat": 40}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wnmf-np", description="Weakly non-negative matrix factorisation.")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="factorise a matrix file or a built-in data set")
    fit.add_argument("file", nargs="?", help=".npy/.npz/.csv/.mat matrix, samples as rows (default: --dataset)")
    fit.add_argument("--dataset", choices=BUILTIN, default="orl", help="built-in data when no file is given")
    fit.add_argument("--key", help="array name inside .npz/.mat files")
    fit.add_argument("--labels-key", help="labels: array name (.npz/.mat) or column name/index (.csv)")
    fit.add_argument("-r", "--n-components", type=int, default=None, help="rank (default: 40 for orl and mfeat, as in docs/results; else the number of classes, or 10)")
    fit.add_argument("--model", choices=("wnmf", "mu"), default="wnmf", help="WNMF or multiplicative-update NMF")
    fit.add_argument("--loss", choices=("l1", "l2", "huber", "kl"), default="l1")
    fit.add_argument("--eta", type=float, default=None, help="WNMF: slope of φη on negatives (default 0.1)")
    fit.add_argument("--l2", type=float, default=None, help="λ of WNMF (default 0.03)")
    fit.add_argument("--l2-mode", choices=("objective", "eq9", "penalty", "decoupled"), default=None,
                     help="how λ enters training (default objective; see help(wnmf_np.WNMF))")
    fit.add_argument("--max-epochs", type=int, default=None, help="epochs (WNMF) or iterations (MU)")
    fit.add_argument("--batch-size", type=int, default=None)
    fit.add_argument("--lr", type=float, default=None)
    fit.add_argument("--nan-policy", choices=("raise", "omit"), default="raise")
    fit.add_argument("--backend", choices=("auto", "numpy", "cupy"), default="auto")
    fit.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--threads", type=int, default=None, help="threads for BLAS and numba during the fit (default: the process's)")
    fit.add_argument("--clusters", type=int, default=None, help="k of k-means (default: number of classes)")
    fit.add_argument("-o", "--output", help="save components and latents to this .npz")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def _load(args):
    from . import datasets

    if args.file is not None:
        labels_key = args.labels_key
        if labels_key is not None and labels_key.isdigit():
            labels_key = int(labels_key)
        X, y = datasets.load_matrix(args.file, key=args.key, labels_key=labels_key)
        return X, y, args.file
    if args.dataset == "orl":
        X, y = datasets.load_orl(return_X_y=True)
    elif args.dataset == "mfeat":
        X, y = datasets.load_mfeat(return_X_y=True)
    else:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    return X, y, f"built-in {args.dataset}"


def _make_model(args, n_components: int):
    common = dict(backend=args.backend, dtype=args.dtype, random_state=args.seed, nan_policy=args.nan_policy,
                  n_threads=args.threads)  # fmt: skip
    if args.model == "mu":
        from ._mu import MultiplicativeNMF

        kw = {} if args.max_epochs is None else {"max_iter": args.max_epochs}
        return MultiplicativeNMF(n_components, verbose=0 if args.quiet else 1, **common, **kw)
    from ._wnmf import WNMF

    options = (("max_epochs", args.max_epochs), ("batch_size", args.batch_size), ("lr", args.lr), ("eta", args.eta),
               ("l2", args.l2), ("l2_mode", args.l2_mode))  # fmt: skip
    kw = {k: v for k, v in options if v is not None}
    return WNMF(n_components, loss=args.loss, verbose=0 if args.quiet else 1, **common, **kw)


def run_fit(args) -> int:
    from ._backend import to_numpy
    from .metrics import clustering_nmi, negativity

    X, y, source = _load(args)
    n_classes = None if y is None else len(np.unique(y))
    builtin_rank = BUILTIN_RANK.get(args.dataset) if args.file is None else None
    n_components = args.n_components or builtin_rank or n_classes or 10
    model = _make_model(args, n_components)
    print(f"{type(model).__name__}(n_components={n_components}) on {source}: X {X.shape[0]} samples x {X.shape[1]} features")
    start = time.perf_counter()
    Z = to_numpy(model.fit_transform(X))
    elapsed = time.perf_counter() - start
    components = to_numpy(model.components_)
    rel = model.reconstruction_err_ / float(np.linalg.norm(np.nan_to_num(np.asarray(X, dtype=float))))
    print(f"fit: {elapsed:.1f} s, {model.n_iter_} {'iterations' if args.model == 'mu' else 'epochs'}")
    print(f"reconstruction error: Frobenius {model.reconstruction_err_:.5g} (relative {rel:.4f})")
    stats = getattr(model, "negativity_", None) or {"components": negativity(components), "latents": negativity(Z)}
    for name, s in stats.items():
        print(f"{name}: min/max {s['min']:.4g}/{s['max']:.4g}, fraction < 0 {s['frac_negative']:.4f}, "
              f"negative mass {100 * s['negative_mass']:.2f} %")
    if y is not None:
        k = args.clusters or n_classes
        res = clustering_nmi(Z, y, k, n_runs=5, random_state=0)
        print(f"k-means NMI (k={k}, 5 runs): {100 * res.mean:.2f} +- {100 * res.std:.2f}")
    if args.output:
        np.savez(args.output, components=components, latents=Z)
        print(f"saved components and latents to {args.output}")
    return 0


def main(argv=None) -> int:
    """Entry point of ``wnmf-np`` and ``python -m wnmf_np``; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        return run_fit(args)
    except (ValueError, TypeError, OSError, KeyError, FloatingPointError, EOFError) as exc:
        print(f"wnmf-np: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
