"""The CUDA kernel registry and the CPU half of the compile check (no CuPy, no GPU).

The package's CuPy code path (the wrappers of ``kernels/dense/cupy.py`` and
``kernels/mu/cupy.py``) runs here on the NumPy stand-in of ``bench/gpu_compile/standin.py``, with each
kernel's registered host version in place of the CUDA code: every scenario must equal the
NumPy fit and keep its arrays "on the device". What CuPy and NVRTC then do with the
recorded launches is ``bench/gpu_compile_check.py``'s part, run by ``.ci/gpu_compile_check``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from gpu_compile import scan  # noqa: E402
from gpu_compile.fits import FITS, STEPS  # noqa: E402
from gpu_compile.standin import ArgMeta, DeviceArray, parse_params, reduce_dims, standin_cupy  # noqa: E402

from wnmf_np.kernels.cuda_specs import ElementwiseSpec, register, registered_kernels  # noqa: E402
from wnmf_np.kernels.dense import cupy as _cupy  # noqa: E402
from wnmf_np.kernels.dense import reference as _reference  # noqa: E402
from wnmf_np.kernels.mu import cupy as _mu_cupy  # noqa: E402
from wnmf_np.kernels.mu import reference as _mu_reference  # noqa: E402


def _host(value):
    return value.get() if isinstance(value, DeviceArray) else value


@pytest.mark.parametrize("name", list(FITS))
def test_cupy_code_path_on_the_standin_equals_numpy(name):
    with standin_cupy() as launches:
        dev = sys.modules["cupy"].asarray
        on_device = FITS[name](dev, "float64")
    on_host = FITS[name](np.asarray, "float64")
    assert launches, "no CUDA kernel was launched: the stand-in is not in use"
    assert on_device.keys() == on_host.keys()
    for key, value in on_host.items():
        if isinstance(value, np.ndarray):
            assert isinstance(on_device[key], DeviceArray), f"{name}: {key} left the device"
        np.testing.assert_allclose(_host(on_device[key]), value, rtol=1e-9, atol=1e-12, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", list(STEPS))
def test_no_host_read_inside_a_step_on_the_standin(monkeypatch, name):
    """The steps of tests/test_gpu.py's guard, on the stand-in: no conversion of a device
    array to a host value (get, float, int, bool, item, tolist) while a step runs."""
    inside, steps, reads = [], [], []
    for target in STEPS[name]:
        module_name, fn_name = target.split(":")
        module = importlib.import_module(module_name)

        def step(*args, _original=getattr(module, fn_name), _target=target, **kwargs):
            inside.append(_target)
            steps.append(_target)
            try:
                return _original(*args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(module, fn_name, step)
    for attr in ("get", "__float__", "__int__", "__bool__", "item", "tolist"):

        def read(self, *args, _original=getattr(DeviceArray, attr), _attr=attr):
            if inside:
                reads.append(f"{_attr} in {inside[-1]}")
            return _original(self, *args)

        monkeypatch.setattr(DeviceArray, attr, read)
    with standin_cupy():
        FITS[name](sys.modules["cupy"].asarray, "float32")
    assert steps, "no step ran: the step functions are misnamed"
    assert not reads, reads


def test_every_registered_kernel_is_launched_by_some_scenario_in_both_dtypes():
    kernels = registered_kernels()
    assert {"wnmf_adamw", "wnmf_adamw_rows", "wnmf_leaky_grad_mul", "wnmf_mu_step"} <= set(kernels)
    with standin_cupy() as launches:
        dev = sys.modules["cupy"].asarray
        for fit in FITS.values():
            fit(dev, "float32")
    seen = {(c.name, a.dtype) for c in launches for a in c.args if a.kind == "array" and a.dtype.startswith("float")}
    assert {(n, "float32") for n in kernels} <= seen
    assert not [c for c in launches if c.error], "a launch CuPy would refuse for its shapes"
    # float32 fits hand every kernel float32 arrays only (a float64 array would be rejected by CuPy)
    assert {dtype for _, dtype in seen} == {"float32"}


def test_no_kernel_is_built_outside_the_registry():
    assert scan.kernel_sites(ROOT / "wnmf_np") == []


def test_the_scan_finds_a_planted_kernel(tmp_path):
    pkg = tmp_path / "wnmf_np"
    (pkg / "kernels").mkdir(parents=True)
    (pkg / "kernels" / "fast.py").write_text(
        "from cupy import RawKernel\nimport cupy\n# cupy.ElementwiseKernel in a comment is fine\n"
        "k = cupy.ElementwiseKernel('T x', 'T y', 'y = x', 'k')\n"
    )
    assert scan.kernel_sites(pkg) == [
        "wnmf_np/kernels/fast.py:1: RawKernel",
        "wnmf_np/kernels/fast.py:4: ElementwiseKernel",
    ]


def test_a_kernel_built_outside_the_registry_is_refused_on_the_standin():
    with standin_cupy(), pytest.raises(RuntimeError, match="outside wnmf_np.kernels.cuda_specs"):
        sys.modules["cupy"].ElementwiseKernel("T x", "T y", "y = x", "wnmf_rogue")


def test_register_refuses_a_second_definition_under_one_name():
    spec = _cupy.LEAKY_GRAD_MUL
    assert register(spec) is spec  # the same definition again is harmless (module reloads)
    with pytest.raises(ValueError, match="registered twice"):
        register(spec._replace(operation="g = p;"))


def test_spec_build_passes_the_pieces_to_cupy():
    class FakeCupy:
        @staticmethod
        def ElementwiseKernel(*args):
            return args

    spec = ElementwiseSpec("k", "T x", "T y", "y = x;", lambda x, y: None)
    assert spec.build(FakeCupy) == ("T x", "T y", "y = x;", "k")


# ------------------------------------------------------- host versions vs the reference kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adamw_host_equals_the_reference(rng, dtype):
    p, g, m = (rng.standard_normal((6, 4)).astype(dtype) for _ in range(3))
    v = rng.uniform(0.1, 1.0, (6, 4)).astype(dtype)
    step, lr, b1, b2, eps, wd, l2 = 3, 1e-2, 0.9, 0.999, 1e-8, 0.1, 0.05
    ref = [a.copy() for a in (p, m, v)]
    _reference.adamw_(ref[0], g, ref[1], ref[2], step, lr, b1, b2, eps, wd, l2)
    got = [a.copy() for a in (p, m, v)]
    _cupy._adamw_host(g, lr, b1, b2, eps, wd, l2, 1 / (1 - b1**step), 1 / (1 - b2**step) ** 0.5, *got)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=2e-6 if dtype is np.float32 else 1e-12)
        assert a.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adamw_rows_host_equals_the_reference(rng, dtype):
    p, m = (rng.standard_normal((9, 4)).astype(dtype) for _ in range(2))
    v = rng.uniform(0.1, 1.0, (9, 4)).astype(dtype)
    steps = rng.integers(0, 5, 9)
    rows = np.array([7, 2, 5])
    g = rng.standard_normal((3, 4)).astype(dtype)
    hp = (1e-2, 0.9, 0.999, 1e-8, 0.1, 0.05)
    ref = [a.copy() for a in (p, m, v, steps)]
    _reference.adamw_rows_(ref[0], g, rows, ref[1], ref[2], ref[3], *hp)
    got = [a.copy() for a in (p, m, v)]
    _cupy._adamw_rows_host(g, rows, steps[rows] + 1, 4, *hp, *got)
    for a, b in zip(got, ref[:3]):
        np.testing.assert_allclose(a, b, rtol=2e-6 if dtype is np.float32 else 1e-12)
    untouched = np.setdiff1d(np.arange(9), rows)
    np.testing.assert_array_equal(got[0][untouched], p[untouched])


def test_adamw_rows_host_refuses_a_non_contiguous_parameter(rng):
    p = rng.standard_normal((4, 6))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        _cupy._adamw_rows_host(np.ones((1, 3)), np.array([0]), np.array([1]), 3, 1e-2, 0.9, 0.999, 1e-8, 0, 0, p, p, p)


def test_leaky_host_equals_the_reference(rng):
    p, g = rng.standard_normal((2, 5, 3))
    ref = g.copy()
    _reference.leaky_grad_mul_(ref, p, 0.1)
    _cupy._leaky_host(p, 0.1, g)
    np.testing.assert_allclose(g, ref, rtol=1e-15)
    assert (p < 0).any() and (p > 0).any()


@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_mu_step_host_equals_the_reference(rng, gamma):
    F, num, den = rng.uniform(0.0, 1.0, (3, 6, 4))
    den[0, 0] = -1.0  # below eps: the floor applies
    ref = _mu_reference.mu_step_reference(np, F.copy(), num.copy(), den.copy(), 0.1, 0.2, gamma, 1e-16)
    got = F.copy()
    num_before = num.copy()
    _mu_cupy._mu_step_host(num, den, 0.1, 0.2, gamma, 1e-16, got)
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    np.testing.assert_array_equal(num, num_before)  # the CUDA kernel reads num, it does not write it


# ------------------------------------------------------------ CuPy's bookkeeping, as ported
def test_parse_params_reads_cupy_syntax():
    params = parse_params("T g, raw int64 rows, float64 lr")
    assert [(p.name, p.ctype, p.raw, p.placeholder) for p in params] == [
        ("g", "T", False, True),
        ("rows", "int64", True, False),
        ("lr", "float64", False, False),
    ]
    with pytest.raises(ValueError, match="cannot read"):
        parse_params("const T x")


def test_reduce_dims_as_cupy():
    c = np.zeros((4, 6))
    contiguous = [(False, c.strides, True), (False, c.strides, True)]
    assert reduce_dims((4, 6), contiguous) == (24,)  # all C-contiguous: one flat loop
    t = c.T
    assert reduce_dims((6, 4), [(False, t.strides, False)]) == (6, 4)  # 2-D strided: kept
    s = np.zeros((3, 4, 10))[:, :, :5]  # rows cut short: the first two axes merge, the last stays
    assert reduce_dims((3, 4, 5), [(False, s.strides, False)]) == (12, 5)
    e = np.zeros((3, 4, 10))[:, :, ::2]  # every other element: one evenly strided loop
    assert reduce_dims((3, 4, 5), [(False, e.strides, False)]) == (60,)
    assert reduce_dims((4, 6), [(True, c.strides, True)]) == (4, 6)  # raw arrays do not count


def test_probe_records_broadcast_and_contiguous_forms():
    with standin_cupy() as launches:
        cp = sys.modules["cupy"]
        kernel = cp.ElementwiseKernel(*_cupy.LEAKY_GRAD_MUL[1:4], _cupy.LEAKY_GRAD_MUL.name)
        g = cp.ones((4, 6), dtype=np.float32)
        kernel(cp.ones((4, 6), dtype=np.float32), 0.1, g)
        kernel(cp.ones((1, 6), dtype=np.float32), 0.1, g)  # p broadcast along the rows
    flat, broadcast = launches
    assert flat.args[0] == ArgMeta("array", "float32", 1, True, True) and flat.indexer_ndim == 1
    assert broadcast.args[0] == ArgMeta("array", "float32", 2, False, True) and broadcast.indexer_ndim == 2
    assert broadcast.args[1].kind == "scalar" and broadcast.args[1].value == 0.1
    assert "test_cuda_specs" not in flat.origin  # only package frames are named


def test_probe_reports_a_bad_output_shape_and_a_host_array():
    with standin_cupy() as launches:
        cp = sys.modules["cupy"]
        kernel = cp.ElementwiseKernel(*_cupy.LEAKY_GRAD_MUL[1:4], _cupy.LEAKY_GRAD_MUL.name)
        with pytest.raises(ValueError, match="Out shape is mismatched"):
            kernel(cp.ones((4, 6)), 0.1, cp.ones((1, 6)))
        kernel(np.ones((4, 6)), 0.1, cp.ones((4, 6)))  # recorded; CuPy's CScalar refuses it (nvrtc.resolve)
    assert launches[0].error and "Out shape" in launches[0].error
    assert launches[1].args[0].kind == "host"
