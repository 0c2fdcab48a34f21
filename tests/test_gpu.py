"""GPU integration: whole fits on CuPy with the CUDA kernels, against the CPU fits.

Every test here is marked ``gpu`` and skipped without CuPy and a usable NVIDIA GPU (so in CI
and, so far, on every machine this project ran on: none of these has run yet). The
scenarios are those the CUDA compile check replays (``bench/gpu_compile/fits.py``): WNMF with
lazy and dense H, missing entries, transform, partial_fit and a checkpoint round trip;
DeepWNMF; DeconvWNMF in both training layouts; MultiplicativeNMF for every kind of β;
DeepMultiplicativeNMF; UnfoldedNMF.

Tolerance of GPU vs CPU (float64): rtol 1e-6, atol 1e-9 on every returned array and loss.
The two differ in summation order (cuBLAS vs OpenBLAS) and in fused multiply-adds, about
1e-16 relative per operation; the few epochs of these fits amplify that (Adam's division
by sqrt(v), L1's sign) by orders of magnitude, not by ten.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from wnmf_np.core.backend import cupy_available

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from gpu_compile.fits import FITS, STEPS  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a usable NVIDIA GPU")]
RTOL, ATOL = 1e-6, 1e-9


@pytest.mark.parametrize("name", list(FITS))
def test_gpu_fit_equals_cpu_fit_and_stays_on_the_device(name):
    import cupy

    gpu = FITS[name](cupy.asarray, "float64")
    cpu = FITS[name](np.asarray, "float64")
    assert gpu.keys() == cpu.keys()
    for key, expected in cpu.items():
        got = gpu[key]
        if isinstance(expected, np.ndarray):
            assert isinstance(got, cupy.ndarray), f"{name}: {key} came back on the host"
            got = cupy.asnumpy(got)
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name}: {key}")


def _forbid_sync_in(monkeypatch, targets):
    """Wrap each ``module:function`` so that a device-to-host synchronisation inside raises."""
    import cupyx

    for target in targets:
        module_name, fn_name = target.split(":")
        module = importlib.import_module(module_name)
        original = getattr(module, fn_name)

        def guarded(*args, _original=original, **kwargs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # allow_synchronize is deprecated, still works
                guard = cupyx.allow_synchronize(False)
            with guard:
                return _original(*args, **kwargs)

        monkeypatch.setattr(module, fn_name, guarded)


def _read_back(a):
    return float(a.sum())


def test_the_sync_guard_catches_a_host_read(monkeypatch):
    import cupy
    import cupyx

    _forbid_sync_in(monkeypatch, [f"{__name__}:_read_back"])
    with pytest.raises(cupyx.DeviceSynchronized):
        sys.modules[__name__]._read_back(cupy.ones(3))


@pytest.mark.parametrize("name", list(STEPS))
def test_no_host_read_inside_a_step(monkeypatch, name):
    import cupy

    _forbid_sync_in(monkeypatch, STEPS[name])
    FITS[name](cupy.asarray, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_cuda_kernel_equals_its_host_version_on_real_launches(monkeypatch, dtype):
    """Each launch of a registered kernel during the GPU scenarios is repeated by the kernel's
    NumPy host version on host copies of the arguments; the outputs must agree."""
    import cupy

    from wnmf_np.kernels.cuda_specs import ElementwiseSpec, registered_kernels
    from wnmf_np.kernels.dense import cupy as _cupy
    from wnmf_np.kernels.mu import cupy as _mu_cupy

    rtol, atol = (1e-4, 1e-6) if dtype == "float32" else (1e-10, 1e-13)
    launched = set()
    build = ElementwiseSpec.build

    def checked_build(spec, cp):
        kernel = build(spec, cp)
        n_in = len([p for p in spec.in_params.split(",") if p.strip()])

        def run(*args):
            host = [a.get() if isinstance(a, cupy.ndarray) else a for a in args]
            kernel(*args)
            spec.host(*host)
            for got, expected in zip(args[n_in:], host[n_in:]):
                np.testing.assert_allclose(cupy.asnumpy(got), expected, rtol=rtol, atol=atol, err_msg=spec.name)
            launched.add(spec.name)

        return run

    monkeypatch.setattr(ElementwiseSpec, "build", checked_build)
    for cache in (_cupy.get_kernel_set, _mu_cupy._cupy_mu_step_kernel):
        cache.cache_clear()
    try:
        for fit in FITS.values():
            fit(cupy.asarray, dtype)
    finally:
        for cache in (_cupy.get_kernel_set, _mu_cupy._cupy_mu_step_kernel):
            cache.cache_clear()
    assert launched == set(registered_kernels())
