"""The feature-blocked shallow step against the generic step, side by side in one process.

    python bench/bench_feature_blocks.py [--sizes orl orl64 synth] [--threads 1 2 none] [--repeats 5]

Each repeat fits WNMF once with the blocked step (the library's default where it applies)
and once with the generic step (``training.driver.feature_blocked_step`` switched off),
interleaved, and records the median seconds per epoch after the first epoch; the table
shows the medians over repeats and their ratio (blocked / generic). Sizes: ``orl`` (the
bundled faces, rank 40, batch 32 as in bench_torch.py), ``orl64`` (the default batch 64),
``synth`` (20000 × 2048 non-negative features, rank 100, batch 256).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import wnmf_np.training.driver as driver
from wnmf_np import WNMF

OUT = Path(__file__).resolve().parent / "out"
SIZES = {"orl": (40, 32, 8), "orl64": (40, 64, 8), "synth": (100, 256, 4)}  # rank, batch, epochs


def load(name):
    if name.startswith("orl"):
        from wnmf_np.datasets import load_orl

        return load_orl(return_X_y=True)[0].astype(np.float32)
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((20000, 64), dtype=np.float32) @ rng.standard_normal((64, 2048), dtype=np.float32) / 8
    return np.maximum(Z, 0)


def seconds_per_epoch(X, rank, batch, epochs, n_threads, blocked: bool) -> float:
    original = driver.feature_blocked_step
    if not blocked:
        driver.feature_blocked_step = lambda *args, **kwargs: None
    stamps = []
    try:
        WNMF(rank, batch_size=batch, max_epochs=epochs, n_iter_no_change=None, random_state=0, n_threads=n_threads,
             callback=lambda epoch, info: stamps.append(info["elapsed"])).fit(X)  # fmt: skip
    finally:
        driver.feature_blocked_step = original
    return float(np.median(np.diff(stamps)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["orl", "orl64"])
    parser.add_argument("--threads", nargs="+", default=["1", "2", "none"], help="n_threads settings ('none' = default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(OUT / "feature_blocks.json"))
    args = parser.parse_args(argv)
    rows = []
    for name in args.sizes:
        X = load(name)
        rank, batch, epochs = SIZES[name]
        for setting in args.threads:
            n_threads = None if setting == "none" else int(setting)
            times = {"blocked": [], "generic": []}
            for _ in range(args.repeats):
                for kind in ("blocked", "generic"):
                    times[kind].append(seconds_per_epoch(X, rank, batch, epochs, n_threads, kind == "blocked"))
            med = {k: float(np.median(v)) for k, v in times.items()}
            rows.append(dict(size=name, shape=list(X.shape), rank=rank, batch=batch, n_threads=setting, times=times,
                             blocked_s=med["blocked"], generic_s=med["generic"], ratio=med["blocked"] / med["generic"]))  # fmt: skip
            print(rows[-1]["size"], setting, f"blocked {med['blocked'] * 1e3:.1f} ms, generic {med['generic'] * 1e3:.1f} ms",
                  f"ratio {rows[-1]['ratio']:.2f}", flush=True)  # fmt: skip
    print("\n| size (n × m, rank, batch) | n_threads | blocked ms/epoch | generic ms/epoch | ratio |\n|---|---|---|---|---|")
    for w in rows:
        print(f"| {w['size']} ({w['shape'][0]} × {w['shape'][1]}, {w['rank']}, {w['batch']}) | {w['n_threads']} | "
              f"{w['blocked_s'] * 1e3:.1f} | {w['generic_s'] * 1e3:.1f} | {w['ratio']:.2f} |")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
