"""Where a training step's time goes: cProfile of a fit on ORL, per step.

    python bench/profile_fit.py [--model deconv|wnmf] [--stride 2] [--epochs 20] [--top 18]

Fits once for one epoch (numba compilation, caches), then profiles ``--epochs`` epochs of
the benchmark settings of ``bench_torch.py`` (r = 40, b = 32, lr 1e-3 constant, lazy
latents, float32) and prints the functions with the most own time in milliseconds per
step. cProfile adds overhead to every Python call, so read the shares, not the totals.
Writes ``bench/out/profile_<model>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
from pathlib import Path

import numpy as np

from wnmf_np import WNMF, DeconvWNMF
from wnmf_np.datasets import load_orl

OUT = Path(__file__).resolve().parent / "out"


def make_model(name, stride, epochs):
    common = dict(batch_size=32, max_epochs=epochs, lr=1e-3, latent_lr=None, lr_schedule="constant", random_state=0)
    if name == "deconv":
        return DeconvWNMF(40, stride=stride, image_shape=(112, 92), **common)
    return WNMF(40, **common)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("deconv", "wnmf"), default="deconv")
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--top", type=int, default=18)
    args = parser.parse_args(argv)
    X = load_orl().data.astype(np.float32)
    make_model(args.model, args.stride, 1).fit(X)  # warm-up outside the profile
    model = make_model(args.model, args.stride, args.epochs)
    profiler = cProfile.Profile()
    profiler.enable()
    model.fit(X)
    profiler.disable()
    steps = args.epochs * math.ceil(X.shape[0] / 32)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, ncalls, tottime, cumtime, callers)
    rows = sorted(
        ({"function": f"{Path(f).name}:{line}({name})", "calls_per_step": nc / steps,
          "own_ms_per_step": 1e3 * tt / steps, "cumulative_ms_per_step": 1e3 * ct / steps}
         for (f, line, name), (_, nc, tt, ct, _) in stats.items()),
        key=lambda r: -r["own_ms_per_step"],
    )  # fmt: skip
    step = next(r for r in rows if r["function"].endswith("(_step)"))
    print(f"{args.model}, s = {args.stride}: {step['cumulative_ms_per_step']:.2f} ms per step under the profiler\n")
    print("| function | own ms / step | cumulative ms / step | calls / step |\n|---|---|---|---|")
    for r in rows[: args.top]:
        print(f"| `{r['function']}` | {r['own_ms_per_step']:.3f} | {r['cumulative_ms_per_step']:.3f} | "
              f"{r['calls_per_step']:.1f} |")  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / f"profile_{args.model}.json").write_text(json.dumps({"args": vars(args), "rows": rows[:50]}, indent=2))


if __name__ == "__main__":
    main()
