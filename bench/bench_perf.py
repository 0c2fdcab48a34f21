"""Time to quality, peak memory and scaling of WNMF on this machine.

    python bench/bench_perf.py quality [--torch] [--target 89]
    python bench/bench_perf.py memory
    python bench/bench_perf.py scaling [--quick]
    python bench/bench_perf.py sweep --set eta=0.2 --set l2=0.2 [--seeds 4]
    python bench/bench_perf.py sweep --set 'n_components=30' --set 'data_scale=2' --set 'unit_latents=true'

quality: wall time for ``WNMF(n_components=40)`` (library defaults) to reach NMI >= target
at k = 40 on ORL, checked every few epochs by a callback whose own time (k-means) is not
counted; with ``--torch`` the paper's recipe in PyTorch (AdamW lr 1e-3 over W and the
whole H, batch 32, L1) is timed the same way. memory: tracemalloc peak of a fit against
the bytes of X (working dtype) + parameters + AdamW state. scaling: seconds per epoch as
n, m and r grow (log-log slopes; a PNG when matplotlib is installed).
Results go to ``bench/out/perf_<what>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from wnmf_np import WNMF
from wnmf_np.datasets import load_orl
from wnmf_np.metrics import clustering_nmi

OUT = Path(__file__).resolve().parent / "out"


def _nmi40(Z, y):
    with threadpool_limits(1):
        return 100 * clustering_nmi(Z, y, 40, n_runs=5, random_state=0).mean


def quality(args):
    X, y = load_orl(return_X_y=True)
    X = X.astype(np.float32)  # the fits keep X's precision; measured in float32
    WNMF(40, max_epochs=1).fit(X)  # numba cache load, not part of the timing
    result = {"target": args.target}
    for seed in range(args.seeds):
        log, state = [], {"eval": 0.0, "hit": None}
        model = WNMF(40, random_state=seed)

        def callback(epoch, info, model=model, log=log, state=state):
            if epoch % args.every and epoch != model.max_epochs:
                return None
            start = time.perf_counter()
            Z = np.maximum(model_params["H"], model.eta * model_params["H"])
            score = _nmi40(Z, y)
            state["eval"] += time.perf_counter() - start
            train_time = info["elapsed"] - state["eval"] + (time.perf_counter() - start)
            log.append((epoch, round(train_time, 2), round(score, 2)))
            if state["hit"] is None and score >= args.target:
                state["hit"] = (epoch, train_time)
            return None

        model_params = {}
        original = model._init_params

        def grab(*a, original=original, **k):  # reach the live parameters during training
            params = original(*a, **k)
            model_params.update(params)
            return params

        model._init_params = grab
        model.set_params(callback=callback)
        start = time.perf_counter()
        model.fit(X)
        total = time.perf_counter() - start - state["eval"]
        result[f"wnmf_seed{seed}"] = {"log": log, "hit": state["hit"], "fit_s": total}
        print(f"WNMF defaults seed {seed}: fit {total:.1f} s; reached {args.target}: {state['hit']}; log {log}", flush=True)
    if args.torch:
        result["torch"] = torch_quality(X, y, args)
    OUT.mkdir(exist_ok=True)
    (OUT / "perf_quality.json").write_text(json.dumps(result, indent=2))


def torch_quality(X, y, args, epochs=600, b=32, lr=1e-3, wd=0.1, eta=0.1):
    """The paper's recipe in PyTorch, NMI checked every ``args.every`` epochs (untimed)."""
    from bench_torch import TorchRecipe  # bench/ is on sys.path when this script runs

    recipe = TorchRecipe(X, 40, lr, wd, eta, seed=0, threads=2)
    train_time, log, hit = 0.0, [], None
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        recipe.epoch(b)
        train_time += time.perf_counter() - start
        if epoch % args.every == 0:
            score = _nmi40(recipe.latents(), y)
            log.append((epoch, round(train_time, 2), round(score, 2)))
            print(f"  torch epoch {epoch}: {train_time:.1f} s, NMI40 {score:.2f}", flush=True)
            if hit is None and score >= args.target:
                hit = (epoch, train_time)
                break
    print(f"PyTorch recipe: reached {args.target}: {hit}", flush=True)
    return {"log": log, "hit": hit}


def memory(args):
    """tracemalloc peak of a 3-epoch fit on ORL against X + parameters + AdamW state (float32)."""
    from wnmf_np import DeconvWNMF

    X = load_orl(return_X_y=True)[0].astype(np.float32)  # the fits keep X's precision
    n, m = X.shape
    f32, r = 4, 40
    hi, wi = -(-112 // 2), -(-92 // 2)
    models = {
        # X, W and H with m and v; per-row step counts of the lazy latents
        "WNMF(40)": (lambda e: WNMF(r, max_epochs=e, random_state=0), f32 * (n * m + 3 * (m * r + n * r)) + 8 * n),
    }
    deconv_needed = f32 * (n * m + 3 * (r * hi * wi + n * r * 16)) + 8 * n
    for layout in ("phase", "image"):

        def make_deconv(epochs, layout=layout):
            return DeconvWNMF(r, stride=2, image_shape=(112, 92), train_layout=layout, max_epochs=epochs,
                              random_state=0)  # fmt: skip

        models[f"DeconvWNMF(40, stride=2, train_layout={layout!r})"] = (make_deconv, deconv_needed)
    results = {}
    for name, (make, needed) in models.items():
        make(1).fit(X)  # compile and warm up outside the measurement
        tracemalloc.start()
        make(3).fit(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results[name] = {"peak_bytes": peak, "needed_bytes": needed, "ratio": peak / needed}
        print(f"{name}: peak {peak / 2**20:.1f} MiB; X + params + AdamW state {needed / 2**20:.1f} MiB; "
              f"ratio {peak / needed:.2f}", flush=True)  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "perf_memory.json").write_text(json.dumps(results, indent=2))


def scaling(args):
    rng = np.random.default_rng(0)
    base = dict(n=2000, m=2000, r=40)
    grid = {"n": [500, 1000, 2000, 4000, 8000], "m": [500, 1000, 2000, 4000, 8000], "r": [10, 20, 40, 80, 160]}
    if args.quick:
        grid = {k: v[:3] for k, v in grid.items()}
    rows = []
    for axis, values in grid.items():
        for value in values:
            size = {**base, axis: value}
            X = rng.uniform(size=(size["n"], size["m"])).astype(np.float32)
            stamps = []
            WNMF(size["r"], max_epochs=3, random_state=0, callback=lambda e, i: stamps.append(i["elapsed"])).fit(X)
            per_epoch = float(np.median(np.diff(stamps)))
            rows.append({"axis": axis, **size, "s_per_epoch": per_epoch})
            print(rows[-1], flush=True)
    slopes = {}
    for axis in grid:
        pts = [(r[axis], r["s_per_epoch"]) for r in rows if r["axis"] == axis]
        x, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        slopes[axis] = float(np.polyfit(x, t, 1)[0])
    print("log-log slopes of s/epoch:", slopes)
    OUT.mkdir(exist_ok=True)
    (OUT / "perf_scaling.json").write_text(json.dumps({"rows": rows, "slopes": slopes}, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for axis in grid:
        pts = [(r[axis], r["s_per_epoch"]) for r in rows if r["axis"] == axis]
        ax.loglog(*zip(*pts), marker="o", label=f"{axis} (slope {slopes[axis]:.2f})")
    ax.set_xlabel("size of the varied dimension (others: n = m = 2000, r = 40)")
    ax.set_ylabel("seconds per epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(Path(__file__).resolve().parents[1] / "docs" / "figures" / "scaling.png", dpi=90)


# sweep settings that are not WNMF parameters: the rank, the data and the latents
_SWEEP_EXTRAS = {
    "n_components": "the rank (default 40)",
    "data_scale": "X multiplied by this (X is in [0, 1])",
    "row_normalise": "true: each image scaled to the mean L2 norm of the images",
    "unit_latents": "true: each latent vector scaled to unit L2 norm before k-means",
}


def sweep(args):
    """NMI at k = 20 and 40 and fit time of WNMF(40) on ORL with one setting changed.

    A setting is ``parameter=value`` (JSON value) for WNMF, or one of
    :data:`_SWEEP_EXTRAS`; several are joined by ``;``.
    """
    X0, y = load_orl(return_X_y=True)
    X0 = X0.astype(np.float32)  # the fits keep X's precision; measured in float32
    WNMF(40, max_epochs=1).fit(X0)
    rows = []
    for setting in args.set or ["eta=0.1"]:
        kw = {}
        for part in setting.split(";"):  # several parameters: "lr=5e-3;max_epochs=600"
            key, value = part.split("=", 1)
            kw[key.strip()] = json.loads(value)
        extra = {key: kw.pop(key) for key in list(kw) if key in _SWEEP_EXTRAS}
        X = X0 * extra.get("data_scale", 1.0)
        if extra.get("row_normalise"):
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            X = X / norms * norms.mean()
        scores, times = [], []
        for seed in range(args.seeds):
            start = time.perf_counter()
            Z = WNMF(extra.get("n_components", 40), random_state=seed, **kw).fit_transform(X)
            times.append(time.perf_counter() - start)
            if extra.get("unit_latents"):
                Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
            with threadpool_limits(1):
                scores.append([100 * clustering_nmi(Z, y, k, n_runs=5, random_state=0).mean for k in (20, 40)])
        s = np.array(scores)
        rows.append({"setting": {**kw, **extra}, "nmi20": s[:, 0].tolist(), "nmi40": s[:, 1].tolist(), "fit_s": times})
        print(f"{setting}: NMI k=40 per seed {np.round(s[:, 1], 2).tolist()} (mean {s[:, 1].mean():.2f}), "
              f"k=20 mean {s[:, 0].mean():.2f}, fit {min(times):.1f}-{max(times):.1f} s", flush=True)  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "perf_sweep.json").write_text(json.dumps(rows, indent=2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("quality", "memory", "scaling", "sweep"))
    sweep_help = "sweep: one setting per --set, parameter=value (JSON value), several joined by ';'; "
    sweep_help += "besides WNMF's parameters: " + ", ".join(_SWEEP_EXTRAS)
    parser.add_argument("--set", action="append", help=sweep_help)
    parser.add_argument("--target", type=float, default=89.0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--every", type=int, default=20, help="epochs between NMI checks")
    parser.add_argument("--torch", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    {"quality": quality, "memory": memory, "scaling": scaling, "sweep": sweep}[args.what](args)


if __name__ == "__main__":
    main()
