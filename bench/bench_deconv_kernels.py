"""Time the deconvolution kernels side by side at ORL size (paper section 3.3).

For each stride, times ``forward``, ``grad_factors``, ``grad_kernels``, the three in
sequence (``step``), ``forward_keep`` + ``grads`` (``step_shared``: the xp path reuses its
GEMM operands and gathers G into phase space once), for xp ``forward_phase_keep`` +
``grads_phase`` on data kept in the phase layout (``step_phase``, what a training step
calls: no image <-> phase copies) and, for
xp, the three GEMMs alone on prebuilt operands (``gemms``: the floor of this formulation
with this BLAS) of each implementation: ``xp`` (one BLAS
GEMM + slicing), ``numba`` (explicit loops, the module's ``PARALLEL`` setting),
``numba-par``/``numba-serial`` (the other setting, compiled here) and, with
``--reference``, the slow reference. Calls are interleaved round-robin so that load
from other processes hits every implementation alike; min and median are reported.

``--xp-variants`` adds ``xp-ola``: the forward done literally as "GEMM, then overlap-add"
(``K (b*4s*s, r) @ F (r, hi*wi)``, then four shifted additions of the large product),
the alternative to deconv_xp's shifted-factor GEMM; its adjoints are deconv_xp's.

Usage::

    PYTHONPATH=. python3 bench/bench_deconv_kernels.py [--strides 2 4] [--repeats 30]
        [--blas-threads N] [--reference] [--xp-variants]

Prints a markdown table and writes JSON to ``bench/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numba
import numpy as np

from wnmf_np.kernels.deconv import CPU_DEFAULT_IMPL, _plain_forward_keep, _separate_grads
from wnmf_np.kernels.deconv import numba as deconv_numba
from wnmf_np.kernels.deconv import reference as deconv_reference
from wnmf_np.kernels.deconv import xp as deconv_xp
from wnmf_np.kernels.deconv.geometry import check_deconv_operands, factor_shape

OPS = ("forward", "grad_factors", "grad_kernels", "step", "step_shared", "step_phase", "gemms")
OUT_DIR = Path(__file__).resolve().parent / "out"


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--height", type=int, default=112)
    p.add_argument("--width", type=int, default=92)
    p.add_argument("--rank", type=int, default=40)
    p.add_argument("--strides", type=int, nargs="+", default=[2, 4])
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--blas-threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    p.add_argument("--reference", action="store_true", help="also time the slow reference (few repeats)")
    p.add_argument("--xp-variants", action="store_true", help="also time the overlap-add forward")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _forward_overlap_add(F, K, out_shape, s):
    """deconv_xp.forward with the overlap-add after the GEMM, on the large product."""
    g = check_deconv_operands(stride=s, F=F, K=K, out_shape=out_shape)
    k_mat = np.ascontiguousarray(K.transpose(0, 2, 3, 1)).reshape(g.b * 4 * s * s, g.r)
    T = (k_mat @ F.reshape(g.r, -1)).reshape(g.b, 2, s, 2, s, g.hi, g.wi)
    Z = np.zeros((g.b, s, s, g.hi + 1, g.wi + 1), dtype=T.dtype)
    for a in (0, 1):
        for b in (0, 1):
            Z[:, :, :, a : a + g.hi, b : b + g.wi] += T[:, a, :, b]
    return deconv_xp._phase_to_image(Z, g, np, T.dtype)


def _implementations(with_reference: bool, xp_variants: bool = False) -> dict:
    """name -> module-like triple of callables."""
    other = not deconv_numba.PARALLEL
    loops = deconv_numba.compile_loops(parallel=other, cache=False)
    numba_other = {
        "forward": partial(deconv_numba.forward, loops=loops),
        "grad_factors": partial(deconv_numba.grad_factors, loops=loops),
        "grad_kernels": partial(deconv_numba.grad_kernels, loops=loops),
    }
    impls = {
        "xp": {op: getattr(deconv_xp, op) for op in OPS[:3]},
        "numba": {op: getattr(deconv_numba, op) for op in OPS[:3]},
        "numba-par" if other else "numba-serial": numba_other,
    }
    if xp_variants:
        impls["xp-ola"] = {**impls["xp"], "forward": _forward_overlap_add}
    if with_reference:
        impls["reference"] = {op: getattr(deconv_reference, op) for op in OPS[:3]}
    for name, impl in impls.items():  # what DeconvModel calls in a training step
        shared = name == "xp"
        impl["forward_keep"] = deconv_xp.forward_keep if shared else _plain_forward_keep(impl["forward"])
        impl["grads"] = deconv_xp.grads if shared else _separate_grads(impl["grad_factors"], impl["grad_kernels"])
    return impls


def _calls(impl: dict, F, K, G, s: int) -> dict:
    """op -> zero-argument callable for one implementation and one stride."""
    h, w = G.shape[1:]
    hi, wi = F.shape[1:]

    def step():
        impl["forward"](F, K, (h, w), s)
        impl["grad_factors"](G, K, (hi, wi), s)
        impl["grad_kernels"](G, F, s)

    def step_shared():
        _, operands = impl["forward_keep"](F, K, (h, w), s)
        impl["grads"](G, F, K, s, operands=operands)

    calls = {
        "forward": lambda: impl["forward"](F, K, (h, w), s),
        "grad_factors": lambda: impl["grad_factors"](G, K, (hi, wi), s),
        "grad_kernels": lambda: impl["grad_kernels"](G, F, s),
        "step": step,
        "step_shared": step_shared,
    }
    if impl["forward"] is deconv_xp.forward:  # the GEMMs of deconv_xp on prebuilt operands
        g = check_deconv_operands(stride=s, F=F, K=K, G=G)
        _, ops = deconv_xp.forward_keep(F, K, (h, w), s)
        Gph = deconv_xp._image_to_phase(G, g, np, G.dtype)

        def gemms():
            ops.Kmat @ ops.Fshift
            ops.Kmat.T @ Gph
            Gph @ ops.Fshift.T

        calls["gemms"] = gemms
        Gph_rows = deconv_xp.to_phase(G, (h, w), s)

        def step_phase():  # training on phase-layout data: no image <-> phase copies
            _, operands = deconv_xp.forward_phase_keep(F, K, (h, w), s)
            deconv_xp.grads_phase(Gph_rows, F, K, (h, w), s, operands=operands)

        calls["step_phase"] = step_phase
    return calls


def _check_agree(calls: dict, ref: dict, rtol: float) -> None:
    """Every implementation gives the xp results (a bench of wrong code is worthless)."""
    for op in OPS[:3]:
        want = ref[op]()
        got = calls[op]()
        scale = float(np.abs(want).max()) or 1.0
        err = float(np.abs(got - want).max()) / scale
        if err > rtol:
            raise AssertionError(f"{op}: relative max error {err:.2e} > {rtol:g}")


def _time_round_robin(calls_by_impl: dict, repeats: dict) -> dict:
    """(impl, op) -> list of seconds; one call of each (impl, op) per round."""
    samples = {(name, op): [] for name in calls_by_impl for op in OPS}
    for calls in calls_by_impl.values():  # warm-up: JIT compilation, BLAS buffers
        for op in calls:
            calls[op]()
    for rnd in range(max(repeats.values())):
        for name, calls in calls_by_impl.items():
            if rnd >= repeats[name]:
                continue
            for op in calls:
                t0 = time.perf_counter()
                calls[op]()
                samples[(name, op)].append(time.perf_counter() - t0)
    return samples


def _machine() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer_config": numba.config.THREADING_LAYER,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
            for d in threadpool_info()
        ]
    except ImportError:
        pass
    return info


def _table(rows: list, names: list) -> str:
    head = "| s | op | " + " | ".join(f"{n} min / median (ms)" for n in names) + " |"
    sep = "|---|---|" + "---|" * len(names)
    lines = [head, sep]
    for row in rows:
        cells = []
        for n in names:
            t = row["ms"].get(n)
            cells.append("—" if t is None else f"{t['min']:.2f} / {t['median']:.2f}")
        lines.append(f"| {row['stride']} | {row['op']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args) -> dict:
    rng = np.random.default_rng(args.seed)
    dtype = np.dtype(args.dtype)
    impls = _implementations(args.reference, args.xp_variants)
    repeats = {name: (max(3, args.repeats // 10) if name == "reference" else args.repeats) for name in impls}
    rows = []
    for s in args.strides:
        hi, wi = factor_shape(args.height, args.width, s)
        F = rng.random((args.rank, hi, wi)).astype(dtype)
        K = rng.random((args.batch, args.rank, 2 * s, 2 * s)).astype(dtype)
        G = rng.standard_normal((args.batch, args.height, args.width)).astype(dtype)
        calls = {name: _calls(impl, F, K, G, s) for name, impl in impls.items()}
        for name in impls:
            _check_agree(calls[name], calls["xp"], rtol=1e-4 if dtype == np.float32 else 1e-10)
        samples = _time_round_robin(calls, repeats)
        for op in OPS:
            ms = {
                name: {
                    "min": 1e3 * min(samples[(name, op)]),
                    "median": 1e3 * float(np.median(samples[(name, op)])),
                    "n": len(samples[(name, op)]),
                }
                for name in impls
                if samples[(name, op)]
            }
            rows.append({"stride": s, "op": op, "ms": ms})
    return {
        "shape": {"b": args.batch, "h": args.height, "w": args.width, "r": args.rank},
        "dtype": args.dtype,
        "blas_threads": args.blas_threads,
        "numba_parallel_default": deconv_numba.PARALLEL,
        "cpu_default_impl": CPU_DEFAULT_IMPL,
        "machine": _machine(),
        "rows": rows,
        "names": list(impls),
    }


def main(argv=None) -> None:
    args = _parse_args(argv)
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads, user_api="blas")
    result = run(args)
    print(
        f"b={args.batch} h={args.height} w={args.width} r={args.rank} {args.dtype}, "
        f"blas_threads={args.blas_threads or 'default'}, numba PARALLEL={deconv_numba.PARALLEL}, "
        f"{result['machine']['cpu_count']} CPUs\n"
    )
    print(_table(result["rows"], result["names"]))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = OUT_DIR / f"bench_deconv_kernels-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
