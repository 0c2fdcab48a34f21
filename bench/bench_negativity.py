"""How non-negative are the factors? λ sweeps over data sets, label-free criteria first.

    python bench/bench_negativity.py --data orl mfeat yale digits synth --l2 0 0.01 0.03 \
        --seeds 3 [--set l2_mode=objective lr=1e-2 ...] [--nmi] [--model wnmf|deep|deconv] [--out FILE]

For every data set, λ and seed it fits the model and records, for each factor of
``negativity_`` (components and latents; every layer of a deep model), the negative mass
Σ|a₋| / Σ|a| and min / max, plus the relative reconstruction error ‖X − X̂‖_F / ‖X‖_F,
the relative L1 error, the wall time and (only with ``--nmi``) the k-means NMI against the
labels at k = number of classes. Rows are the mean over seeds. The criteria the defaults
are chosen by need no labels: negative mass ≤ 1 % and min / max ≥ −0.03 for every factor,
then the reconstruction error; NMI only confirms.

Data sets: ``orl`` (400 × 10304, rank 40), ``mfeat`` (2000 × 585, rank 10), ``yale``
(165 × 1024, rank 15, read from ../shared/data when present), ``digits`` (scikit-learn's
1797 × 64, / 16, rank 10), ``synth`` (600 × 2000, a planted sparse rank-10 non-negative
product plus 5 % noise, rank 10). Ranks are the number of classes, as the issue asks;
``--rank`` overrides them all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wnmf_np import WNMF, DeconvWNMF, DeepWNMF  # noqa: E402
from wnmf_np.core.regularization import objective_value, objective_weights  # noqa: E402
from wnmf_np.datasets import load_mfeat, load_orl  # noqa: E402
from wnmf_np.metrics import clustering_nmi  # noqa: E402

RANKS = {"orl": 40, "mfeat": 10, "yale": 15, "digits": 10, "synth": 10}


def load(name):
    """(X, y, image_shape) of a data set, pixels / features scaled to [0, 1], as float32.

    The estimators fit in X's own precision (``dtype=None``); the tables were measured in
    float32 (the earlier default), so the data are handed over in float32.
    """
    X, y, shape = _load(name)
    return X.astype(np.float32), y, shape


def _load(name):
    if name == "orl":
        b = load_orl()
        return b.data, b.target, b.image_shape
    if name == "mfeat":
        X, y = load_mfeat(return_X_y=True)
        return X, y, None
    if name == "yale":
        path = ROOT.parent / "shared" / "data" / "yale_32x32" / "data.npz"
        if not path.exists():
            raise SystemExit(f"yale needs {path}")
        d = np.load(path)
        return d["X"].astype(np.float64) / 255.0, d["y"], tuple(d["shape"])
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X / 16.0, y, (8, 8)
    if name == "synth":
        rng = np.random.default_rng(12345)
        n, m, r = 600, 2000, 10
        y = rng.integers(0, r, n)
        W = rng.exponential(0.2, (n, r)) * (rng.random((n, r)) < 0.3)
        W[np.arange(n), y] += 1.0  # each sample mostly one part: labels = its dominant part
        H = rng.exponential(1.0, (r, m)) * (rng.random((r, m)) < 0.2)
        X = W @ H
        X = np.maximum(X + 0.05 * X.std() * rng.standard_normal(X.shape), 0)
        return X / X.max(), y, None
    raise SystemExit(f"unknown data set {name!r}")


def parse_settings(pairs):
    out = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def make_model(kind, rank, shape, seed, settings):
    if kind == "deep":
        return DeepWNMF(settings.pop("ranks", (rank // 2, rank)), random_state=seed, **settings)
    if kind == "deconv":
        return DeconvWNMF(rank, image_shape=shape, random_state=seed, **settings)
    return WNMF(rank, random_state=seed, **settings)


def run_one(kind, name, X, y, shape, rank, lam, seed, settings, with_nmi):
    model = make_model(kind, rank, shape, seed, {**settings, "l2": lam})
    start = time.perf_counter()
    model.fit(X)
    elapsed = time.perf_counter() - start
    core = model.model_
    X_hat = np.asarray(core.reconstruct(model.params_, model.params_[core.sample_param], model.final_eta_)).reshape(X.shape)
    shapes = {k: v.shape for k, v in model.params_.items()}
    alpha = objective_weights(model.model_, shapes, lam, "objective", X.size)
    params = {k: np.asarray(v) for k, v in model.params_.items()}
    out = {
        "time_s": elapsed,
        "objective": objective_value(np.abs(X_hat - X).mean(), params, alpha),  # F of l2_mode="objective" (L1)
        "rel_fro": float(np.linalg.norm(X_hat - X) / np.linalg.norm(X)),
        "rel_l1": float(np.abs(X_hat - X).sum() / np.abs(X).sum()),
    }
    for factor, s in model.negativity_.items():
        out[f"{factor}.neg_mass"] = s["negative_mass"]
        out[f"{factor}.min_over_max"] = s["min"] / s["max"] if s["max"] > 0 else float("nan")
        out[f"{factor}.frac_negative"] = s["frac_negative"]
    if with_nmi:
        with threadpool_limits(1):
            Z = np.asarray(model.latents_)
            out["nmi"] = 100 * clustering_nmi(Z, y, len(np.unique(y)), n_runs=5, random_state=0).mean
    return out


def render(jsonl: str, md: str, title: str) -> None:
    """Markdown table of the rows of a JSON-lines file written by ``--out``."""
    rows = [json.loads(line) for line in open(jsonl)]
    factors = sorted({k.split(".")[0] for r in rows for k in r["mean"] if "." in k}, key=lambda f: (f != "components", f))
    head = ["data (rank)", "form", "λ", "seeds"] + [f"neg. mass {f} (%)" for f in factors]
    head += [f"min/max {f}" for f in factors] + ["rel. error (Frob.)", "NMI", "time (s)"]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["mean"]
        cells = [f"{r['data']} ({r['rank']})", str(r["settings"].get("l2_mode", "objective")), f"{r['l2']:g}", str(r["seeds"])]
        cells += [f"{100 * m[f + '.neg_mass']:.2f}" if f + ".neg_mass" in m else "—" for f in factors]
        cells += [f"{m[f + '.min_over_max']:.4f}" if f + ".min_over_max" in m else "—" for f in factors]
        cells += [f"{m['rel_fro']:.4f}", f"{m['nmi']:.2f}" if "nmi" in m else "—", f"{m['time_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    Path(md).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["orl", "mfeat", "yale", "digits", "synth"])
    parser.add_argument("--l2", nargs="+", type=float, default=[0.0, 0.01])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", nargs="*", help="estimator settings key=value (JSON values)")
    parser.add_argument("--model", choices=("wnmf", "deep", "deconv"), default="wnmf")
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--nmi", action="store_true", help="also the k-means NMI (k = number of classes)")
    parser.add_argument("--out", default=None, help="append the rows to this JSON-lines file")
    parser.add_argument("--render", nargs=2, metavar=("JSONL", "MD"), help="only write the markdown table of JSONL to MD")
    parser.add_argument("--title", default="Negativity of the factors by λ")
    args = parser.parse_args(argv)
    if args.render:
        return render(*args.render, args.title)
    settings = parse_settings(args.set)
    print(f"# {' '.join(sys.argv)}  ({platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.2f})")
    for name in args.data:
        X, y, shape = load(name)
        rank = args.rank or RANKS[name]
        for lam in args.l2:
            runs = [run_one(args.model, name, X, y, shape, rank, lam, seed, dict(settings), args.nmi)
                    for seed in range(args.seeds)]  # fmt: skip
            keys = runs[0].keys()
            mean = {k: float(np.mean([r[k] for r in runs])) for k in keys}
            row = {"data": name, "rank": rank, "l2": lam, "model": args.model, "settings": settings,
                   "seeds": args.seeds, "mean": mean, "per_seed": runs}  # fmt: skip
            cols = "  ".join(f"{k} {v:.4g}" for k, v in mean.items() if "frac" not in k)
            print(f"{name:7s} r={rank:<3d} λ={lam:<7g} {cols}", flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
