"""Command line: ``python -m wnmf_np fit [FILE]`` (also installed as ``wnmf-np``).

Factorises a matrix file (``.npy``/``.npz``/``.csv``/``.mat``, samples as rows) or, with
no file, a built-in data set (ORL faces by default), prints progress, and reports the
reconstruction error, how non-negative the factors are, and the k-means NMI of the
latents when labels are known. It can save the factors (``-o``), a loadable model
(``--save-model``) and PNG figures (``--plots``).

Bad input or a bad combination of options gives one line on stderr, ``wnmf-np: error:
...``, and exit status 2; everything that can be checked before the fit (options, output
folders, the backend, the data) is checked before it.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import time
from pathlib import Path

import numpy as np

from .core.losses import LOSS_NAMES

BUILTIN = ("orl", "mfeat", "digits")
#: default rank of the built-in data sets: the rank docs/results uses (rank.md picks it)
BUILTIN_RANK = {"orl": 40, "mfeat": 40}
#: options that only WNMF has: --model mu refuses them
WNMF_ONLY = ("loss", "eta", "l2", "l2_mode", "batch_size", "lr")
#: the flag of each estimator parameter that messages may name (``name=value`` hints)
FLAGS = {
    "nan_policy": "--nan-policy", "dtype": "--dtype", "n_components": "--n-components",
    "max_epochs": "--max-epochs", "max_iter": "--max-epochs", "batch_size": "--batch-size", "lr": "--lr",
    "eta": "--eta", "l2": "--l2", "l2_mode": "--l2-mode", "loss": "--loss", "backend": "--backend",
    "random_state": "--seed", "n_threads": "--threads", "key": "--key", "labels_key": "--labels-key",
}  # fmt: skip
_HINT = re.compile(r"\b(" + "|".join(sorted(FLAGS, key=len, reverse=True)) + r")=('[^']*'|\"[^\"]*\"|[^\s,;)]+)?")


class UsageError(ValueError):
    """A bad option or combination of options, found before any work is done."""


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (argparse itself prints the usage too)."""

    def error(self, message):
        self.exit(2, f"wnmf-np: error: {message} (see {self.prog} --help)\n")


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _defaults(cls) -> dict:
    """Constructor defaults of ``cls``, quoted in --help so that it stays true to the code."""
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()}


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .core.regularization import AUTO_L2
    from .estimators.wnmf import WNMF
    from .mu.shallow import MultiplicativeNMF

    d, mu = _defaults(WNMF), _defaults(MultiplicativeNMF)
    auto_l2 = ", ".join(f"{v:g} for {k}" for k, v in AUTO_L2.items())
    parser = _Parser(prog="wnmf-np", description="Weakly non-negative matrix factorisation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser(
        "fit",
        help="factorise a matrix file or a built-in data set",
        description="Factorise a matrix (samples as rows) and report error, negativity and NMI.",
    )
    fit.add_argument("file", nargs="?", help=".npy/.npz/.csv/.mat matrix, samples as rows (default: --dataset)")
    data = fit.add_argument_group("data")
    data.add_argument("--dataset", choices=BUILTIN, default="orl", help="built-in data when no file is given (default: %(default)s)")
    data.add_argument("--key", help="array name inside .npz/.mat files (default: the only array)")
    data.add_argument("--labels-key", help="labels: array name (.npz/.mat) or column name or index, negative from the end (.csv)")
    data.add_argument("--nan-policy", choices=("raise", "omit"), default="raise",
                      help="'omit': NaN entries are missing values, left out of the loss (default: %(default)s)")
    model = fit.add_argument_group("model")
    model.add_argument("-r", "--n-components", type=_int_at_least(1), default=None,
                       help="rank (default: 40 for orl and mfeat, as in docs/results; else the number of classes, or 10)")
    model.add_argument("--model", choices=("wnmf", "mu"), default="wnmf",
                       help="WNMF or Lee-Seung multiplicative-update NMF (default: %(default)s)")
    model.add_argument("--max-epochs", type=_int_at_least(1), default=None,
                       help=f"epochs (WNMF, default {d['max_epochs']}) or iterations (MU, default {mu['max_iter']})")
    model.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    model.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="working precision (default: %(default)s, about twice as fast as float64)")
    model.add_argument("--backend", choices=("auto", "numpy", "cupy"), default="auto",
                       help="'cupy' fits on an NVIDIA GPU (needs the gpu extra) (default: %(default)s)")
    model.add_argument("--threads", type=_int_at_least(1), default=None,
                       help="threads for BLAS and numba during the fit (default: the process's)")
    wnmf = fit.add_argument_group("WNMF only (--model wnmf)")
    wnmf.add_argument("--loss", choices=LOSS_NAMES, default=None,
                      help=f"data loss: l1, l2 (half MSE), huber, kl (generalised KL, X >= 0) (default {d['loss']})")
    wnmf.add_argument("--eta", type=float, default=None, help=f"slope of the leaky ReLU on negatives, in [0, 1] (default {d['eta']})")
    wnmf.add_argument("--l2", type=float, default=None,
                      help=f"weight λ that keeps the negative parts small (default {d['l2']!r}: by loss, {auto_l2})")
    wnmf.add_argument("--l2-mode", choices=("objective", "eq9", "penalty", "decoupled"), default=None,
                      help=f"how λ enters training (default {d['l2_mode']}; see help(wnmf_np.WNMF))")
    wnmf.add_argument("--batch-size", type=_int_at_least(1), default=None, help=f"samples per mini-batch (default {d['batch_size']})")
    wnmf.add_argument("--lr", type=float, default=None, help=f"AdamW learning rate of W (default {d['lr']})")
    out = fit.add_argument_group("output")
    out.add_argument("--clusters", type=_int_at_least(1), default=None,
                     help="k of the k-means NMI, which needs labels (default: the number of classes)")
    out.add_argument("-o", "--output", help="save components and latents to this .npz file ('.npz' is added if missing)")
    out.add_argument("--save-model", help="save the fitted model to this .npz file, for Estimator.load")
    out.add_argument("--plots", metavar="DIR", help="save basis images and factor histograms as PNG here (needs matplotlib)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


# ------------------------------------------------------------------ checks
def _npz_target(option: str, text: str) -> Path:
    """The file an .npz writer makes of ``text`` (NumPy adds '.npz'); its folder must exist."""
    path = Path(text)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    return _writable(option, path)


def _writable(option: str, path: Path) -> Path:
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a folder; give a file name.")
    if not path.parent.is_dir():
        raise UsageError(f"{option}: the folder {str(path.parent)!r} does not exist.")
    return path


def _check_options(args) -> dict:
    """Everything about the options that can fail, before data is loaded or a fit starts."""
    if args.model == "mu":
        given = [f"--{name.replace('_', '-')}" for name in WNMF_ONLY if getattr(args, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise UsageError(f"{', '.join(given)} {verb} to --model wnmf only, not to --model mu.")
    targets = {}
    if args.output:
        targets["output"] = _npz_target("-o/--output", args.output)
    if args.save_model:
        cls = _estimator_class(args)
        if not hasattr(cls, "save"):
            raise UsageError(f"--save-model: {cls.__name__} cannot be saved; use --model wnmf.")
        targets["model"] = _writable("--save-model", Path(args.save_model))
    if args.plots:
        from ._plots import check_matplotlib

        try:
            check_matplotlib()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        folder = Path(args.plots)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--plots: cannot create the folder {str(folder)!r}: {exc.strerror or exc}.") from None
        targets["plots"] = folder
    if args.backend == "cupy":
        from .core.backend import resolve_backend

        resolve_backend("cupy")  # BackendUnavailableError now rather than after loading the data
    return targets


def _load(args):
    from . import datasets

    if args.file is not None:
        labels_key = args.labels_key
        if labels_key is not None and Path(args.file).suffix.lower() == ".csv" and re.fullmatch(r"[+-]?\d+", labels_key):
            labels_key = int(labels_key)  # a column index, as load_matrix takes it
        X, y = datasets.load_matrix(args.file, key=args.key, labels_key=labels_key)
        return X, y, args.file, None
    if args.dataset == "orl":
        bunch = datasets.load_orl()
        return bunch.data, bunch.target, "built-in orl", bunch.image_shape
    if args.dataset == "mfeat":
        X, y = datasets.load_mfeat(return_X_y=True)
        return X, y, "built-in mfeat", None
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y, "built-in digits", (8, 8)


def _check_data(args, X, y, source: str, n_components: int) -> None:
    """Reject data with nothing to factorise; warn about an over-complete rank."""
    if not np.any(np.nan_to_num(X, nan=0.0, posinf=1.0, neginf=1.0)):
        raise UsageError(f"{source}: every entry is 0 (or missing); there is nothing to factorise.")
    if args.clusters is not None and y is None:
        raise UsageError("--clusters needs labels: give --labels-key for a file (the built-in data sets have them).")
    limit = min(X.shape)
    if n_components > limit:
        print(
            f"wnmf-np: warning: rank {n_components} exceeds min(n_samples, n_features) = {limit}: the factors are "
            "not unique and can fit the data exactly; a smaller -r is usually meant.",
            file=sys.stderr,
        )


# --------------------------------------------------------------------- fit
def _estimator_class(args):
    from .estimators.wnmf import WNMF
    from .mu.shallow import MultiplicativeNMF

    return MultiplicativeNMF if args.model == "mu" else WNMF


def _make_model(args, n_components: int):
    common = dict(backend=args.backend, dtype=args.dtype, random_state=args.seed, nan_policy=args.nan_policy,
                  n_threads=args.threads, verbose=0 if args.quiet else 1)  # fmt: skip
    cls = _estimator_class(args)
    if args.model == "mu":
        kw = {} if args.max_epochs is None else {"max_iter": args.max_epochs}
        return cls(n_components, **common, **kw)
    options = ("max_epochs", *WNMF_ONLY)
    kw = {k: getattr(args, k) for k in options if getattr(args, k) is not None}
    return cls(n_components, **common, **kw)


def run_fit(args) -> int:
    from .core.backend import to_numpy
    from .metrics import clustering_nmi, negativity

    targets = _check_options(args)
    X, y, source, image_shape = _load(args)
    n_classes = None if y is None else len(np.unique(y))
    builtin_rank = BUILTIN_RANK.get(args.dataset) if args.file is None else None
    n_components = args.n_components if args.n_components is not None else builtin_rank or n_classes or 10
    _check_data(args, X, y, source, n_components)
    model = _make_model(args, n_components)
    print(f"{type(model).__name__}(n_components={n_components}) on {source}: X {X.shape[0]} samples x {X.shape[1]} features")
    start = time.perf_counter()
    Z = to_numpy(model.fit_transform(X))
    elapsed = time.perf_counter() - start
    components = to_numpy(model.components_)
    norm = float(np.linalg.norm(np.nan_to_num(np.asarray(X, dtype=np.float64))))
    print(f"fit: {elapsed:.1f} s, {model.n_iter_} {'iterations' if args.model == 'mu' else 'epochs'}")
    print(f"reconstruction error: Frobenius {model.reconstruction_err_:.5g} (relative {model.reconstruction_err_ / norm:.4f})")
    stats = getattr(model, "negativity_", None) or {"components": negativity(components), "latents": negativity(Z)}
    for name, s in stats.items():
        print(f"{name}: min/max {s['min']:.4g}/{s['max']:.4g}, fraction < 0 {s['frac_negative']:.4f}, "
              f"negative mass {100 * s['negative_mass']:.2f} %")  # fmt: skip
    if y is not None:
        k = args.clusters or n_classes
        res = clustering_nmi(Z, y, k, n_runs=5, random_state=0)
        print(f"k-means NMI (k={k}, 5 runs): {100 * res.mean:.2f} +- {100 * res.std:.2f}")
    _save(targets, model, components, Z, image_shape)
    return 0


def _save(targets: dict, model, components, Z, image_shape) -> None:
    if "output" in targets:
        np.savez(targets["output"], components=components, latents=Z)
        print(f"saved components and latents to {targets['output']}")
    if "model" in targets:
        path = model.save(targets["model"])
        print(f"saved the model to {path} (load it with {type(model).__name__}.load)")
    if "plots" in targets:
        from ._plots import save_basis, save_histograms

        folder = targets["plots"]
        basis = save_basis(components, folder / "basis.png", image_shape)
        hist = save_histograms({"components": components, "latents": Z}, folder / "histograms.png")
        print(f"saved figures {basis} and {hist}")


def cli_message(message: str) -> str:
    """A library message with its Python-syntax hints (``nan_policy='omit'``) as flags
    (``--nan-policy omit``), so that the advice can be followed on the command line."""

    def flag(match: re.Match) -> str:
        value = match.group(2)
        return FLAGS[match.group(1)] + ("" if value is None else " " + value.strip("'\""))

    return _HINT.sub(flag, message)


def main(argv=None) -> int:
    """Entry point of ``wnmf-np`` and ``python -m wnmf_np``; returns the exit status."""
    from .core.backend import BackendUnavailableError

    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code
    try:
        return run_fit(args)
    except (ValueError, TypeError, OSError, KeyError, FloatingPointError, EOFError, BackendUnavailableError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"wnmf-np: error: {cli_message(text)}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
