"""CUDA compile check without a GPU: every fused kernel of wnmf_np, in every form it is launched.

    python bench/gpu_compile_check.py              # the check
    python bench/gpu_compile_check.py --self-test  # planted faults, each must be caught

Needs CuPy (``cupy-cuda12x`` or ``cupy-cuda13x``) and its NVRTC; no GPU, no driver.
``bash .ci/gpu_compile_check`` makes a virtual environment with both and runs the check and
the self-test (CI does). Steps:

1. scan: no GPU kernel is built outside ``wnmf_np/kernels/cuda_specs.py``;
2. registry: import every module of the package, take every registered kernel;
3. replay: run the CPU fits of ``bench/gpu_compile/fits.py`` (float32 and float64) through
   the package's CuPy code path on a NumPy stand-in, recording each kernel launch, and put
   each launch through CuPy's argument processing and type resolution (a float64 gradient
   for a float32 parameter, or a host array, is rejected as on a GPU); every registered
   kernel must be launched by some fit;
4. compile: the CUDA source CuPy generates for every recorded form and every form the kernel
   can take (float32/float64, contiguous and strided/broadcast arguments, 32- and 64-bit
   indexing) with NVRTC for ``sm_90`` and ``compute_90``; an error or any warning fails,
   with NVRTC's log. With ``--cache DIR`` a compilation that was clean before with the
   same source, options, architecture and NVRTC version (a hash) is not repeated.

Exit status 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from gpu_compile import scan  # noqa: I001  (needs the paths above)
from gpu_compile.fits import FITS
from gpu_compile.standin import standin_cupy

from wnmf_np.kernels.cuda_specs import FLOAT_DTYPES, registered_kernels

#: gpu_compile.nvrtc, which imports CuPy: loaded by main() after the arguments are parsed,
#: so that ``--help`` works on a machine without CuPy
nvrtc = None


def replay(fits=FITS):
    """Run ``fits`` on the stand-in; returns (launches, failures of the fits themselves)."""
    launches, failures = [], []
    with standin_cupy() as recorder:
        dev = sys.modules["cupy"].asarray
        for label, fit in fits.items():
            for dtype in FLOAT_DTYPES:
                start = len(recorder)
                try:
                    fit(dev, dtype)
                except Exception as exc:  # a fit that cannot run on the CuPy path is a finding
                    failures.append(f"{label} [{dtype}]: {type(exc).__name__}: {exc}")
                launches += [
                    dataclasses.replace(c, origin=f"{label} [{dtype}] <- {c.origin}") for c in recorder[start:]
                ]
    return launches, failures


def check_launches(launches, kernels):
    """CuPy's type resolution for every distinct launch; returns (resolved launches, failures)."""
    failures, resolved = [], []
    seen = {}
    for call in launches:
        seen.setdefault(call.key(), call)
    for call in seen.values():
        try:
            nvrtc.resolve(call)
        except nvrtc.Rejected as exc:
            failures.append(f"{call.name} launched by {call.origin}: CuPy rejects it: {exc}")
            continue
        resolved.append(call)
    launched = {c.name for c in launches}
    for name in sorted(set(kernels) - launched):
        failures.append(f"{name}: registered but launched by no fit of bench/gpu_compile/fits.py (add one)")
    return resolved, failures


def sources_to_compile(resolved):
    """Distinct CUDA sources: each resolved launch and every variant of it -> (source, label)."""
    sources = {}
    failures = []
    for call in resolved:
        for form in (call, *nvrtc.variants(call)):
            try:
                src = nvrtc.source(form)
            except nvrtc.Rejected as exc:
                failures.append(f"{form.name} ({form.origin}): CuPy rejects a form the package may launch: {exc}")
                continue
            sources.setdefault(src, form)
    return sources, failures


def compile_all(sources, jobs, cache=None):
    """NVRTC on every source for every architecture; returns (NVRTC runs, cached, failures)."""
    work = [(src, form, arch, method) for src, form in sources.items() for arch, method in nvrtc.ARCHS]

    def one(item):
        src, form, arch, method = item
        try:
            return nvrtc.compile_source(src, arch, method, cache)
        except nvrtc.CompileFailed as exc:
            return f"{form.name} [{_describe(form)}]: {exc}\n--- source ---\n{src}"

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # NVRTC releases the GIL
        results = list(pool.map(one, work))
    return sum(r is True for r in results), sum(r is False for r in results), [r for r in results if isinstance(r, str)]


def _describe(form) -> str:
    arrays = [a for a in form.args if a.kind == "array"]
    dtypes = "/".join(sorted({a.dtype for a in arrays}))
    return f"{dtypes}, loop ndim {form.indexer_ndim}, {'32' if form.indexer_32_bits else '64'}-bit index"


def run_check(jobs: int, cache: Path | None = None) -> int:
    failures = []
    t0 = time.perf_counter()
    sites = scan.kernel_sites(ROOT / "wnmf_np")
    failures += [f"kernel built outside the registry: {s}" for s in sites]
    kernels = registered_kernels()
    print(f"{nvrtc.versions()}, CUDA headers {nvrtc.cuda_headers()}")
    print(f"registered CUDA kernels: {', '.join(sorted(kernels)) or 'none'}")
    nvrtc.self_check()
    launches, fit_failures = replay()
    failures += fit_failures
    t1 = time.perf_counter()
    resolved, more = check_launches(launches, kernels)
    failures += more
    sources, more = sources_to_compile(resolved)
    failures += more
    per_kernel = Counter(c.name for c in launches)
    forms = defaultdict(set)
    for c in launches:
        forms[c.name].add(c.key())
    for name in sorted(kernels):
        n_src = sum(1 for f in sources.values() if f.name == name)
        print(f"  {name}: {per_kernel[name]} launches replayed, {len(forms[name])} distinct forms, {n_src} sources")
    print(f"replayed {len(FITS)} scenarios x {len(FLOAT_DTYPES)} dtypes in {t1 - t0:.1f} s")
    n_run, n_cached, more = compile_all(sources, jobs, cache)
    failures += more
    t2 = time.perf_counter()
    archs = "/".join(a for a, _ in nvrtc.ARCHS)
    print(
        f"{len(sources)} sources x {archs}: {n_run} NVRTC compilations, {n_cached} clean in the cache, in {t2 - t1:.1f} s"
    )
    for f in failures:
        print(f"FAIL {f}")
    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failure(s), {time.perf_counter() - t0:.1f} s in all")
    return 1 if failures else 0


# ------------------------------------------------------------------------------- self-test
def _planted_faults():
    """(description, callable that returns the check's verdict on one planted fault) pairs."""
    spec, call = nvrtc.PROBE_SPEC, nvrtc.probe_call()

    def compile_fails(planted, needle):
        def verdict():
            try:
                nvrtc.compile_source(nvrtc.source(call, planted), *nvrtc.ARCHS[0])
            except nvrtc.CompileFailed as exc:
                return needle in str(exc), next(
                    (ln for ln in str(exc).splitlines() if needle in ln or "error" in ln), str(exc)
                )
            return False, "compiled"

        return verdict

    def rejected(make_call, needle):
        def verdict():
            with standin_cupy() as recorder:
                make_call(sys.modules["cupy"])
            _, failures = check_launches(recorder, {c.name for c in recorder})
            return any(needle in f for f in failures), "; ".join(failures) or "accepted"

        return verdict

    def float64_gradient(cp):
        from wnmf_np.kernels.dense import cupy as _cupy

        p, m, v = (cp.zeros((4, 3), dtype=np.float32) for _ in range(3))
        _cupy.get_kernel_set().adamw_(p, cp.ones((4, 3)), m, v, 1, 1e-2, 0.9, 0.999, 1e-8, 0.0, 0.0)

    def host_array(cp):
        from wnmf_np.kernels.dense import cupy as _cupy

        _cupy.get_kernel_set().leaky_grad_mul_(cp.ones((4, 3), dtype=np.float32), -np.ones((4, 3), np.float32), 0.1)

    def rogue_kernel():
        with standin_cupy():
            try:
                sys.modules["cupy"].ElementwiseKernel("T x", "T y", "y = x", "wnmf_rogue")
            except RuntimeError as exc:
                return "outside" in str(exc), str(exc)
        return False, "built"

    def rogue_source():
        with tempfile.TemporaryDirectory() as tmp:
            pkg = Path(tmp) / "wnmf_np"
            pkg.mkdir()
            (pkg / "fast.py").write_text(
                "import cupy as cp\nK = cp.RawKernel('extern \"C\" __global__ void k() {}', 'k')\n"
            )
            sites = scan.kernel_sites(pkg)
        return sites == ["wnmf_np/fast.py:2: RawKernel"], "; ".join(sites) or "not found"

    return [
        (
            "a CUDA syntax error",
            compile_fails(spec._replace(operation=spec.operation + "\n planted_undefined += 1;"), "planted_undefined"),
        ),
        (
            "a CUDA warning",
            compile_fails(spec._replace(operation='#warning "planted warning"\n' + spec.operation), "planted warning"),
        ),
        ("a float64 gradient for a float32 parameter (wnmf_adamw)", rejected(float64_gradient, "Type is mismatched")),
        ("a NumPy (host) array passed to a kernel (wnmf_leaky_grad_mul)", rejected(host_array, "Unsupported type")),
        ("an ElementwiseKernel built outside the registry", rogue_kernel),
        ("a RawKernel in the package source", rogue_source),
    ]


def run_self_test() -> int:
    missed = 0
    for what, verdict in _planted_faults():
        caught, detail = verdict()
        missed += not caught
        print(f"{'caught' if caught else 'MISSED'}: {what}: {detail}")
    print(
        "self-test "
        + ("FAILED: the check cannot see a planted fault" if missed else "OK: every planted fault was caught")
    )
    return 1 if missed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="plant faults; succeed only if each is caught")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel NVRTC compilations")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of clean compilations (keyed by source, options, -arch, NVRTC version) to skip",
    )
    args = parser.parse_args(argv)
    global nvrtc
    from gpu_compile import nvrtc

    return run_self_test() if args.self_test else run_check(max(1, args.jobs), args.cache)


if __name__ == "__main__":
    sys.exit(main())
