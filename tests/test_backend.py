"""Backend dispatch: NumPy default, CuPy only on request, import never pulls CuPy."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import wnmf_np
from wnmf_np import WNMF, BackendUnavailableError, _backend


def test_import_does_not_import_cupy():
    code = "import sys, wnmf_np, wnmf_np.datasets, wnmf_np.metrics; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_auto_follows_numpy_input():
    backend = _backend.resolve_backend("auto", np.zeros((2, 2)))
    assert backend.name == "numpy" and backend.xp is np


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend must be one of"):
        _backend.resolve_backend("tpu")


def test_cupy_request_without_cupy_names_the_extra(monkeypatch):
    # a broken/missing CuPy: the import fails, the message says how to install the extra
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError, match=r"wnmf-np\[gpu\]"):
        _backend.resolve_backend("cupy")
    X = np.random.default_rng(0).uniform(size=(10, 4))
    with pytest.raises(BackendUnavailableError, match=r"wnmf-np\[gpu\]"):
        WNMF(2, backend="cupy", max_epochs=1).fit(X)


class _FakeDeviceArray(np.ndarray):
    """A NumPy-backed stand-in for cupy.ndarray, to exercise the dispatch without a GPU."""

    def get(self):
        return np.asarray(self).view(np.ndarray).copy()


def _fake_cupy_module():
    fake = types.ModuleType("cupy")
    fake.ndarray = _FakeDeviceArray

    def asarray(a, dtype=None):
        return np.asarray(a.get() if isinstance(a, _FakeDeviceArray) else a, dtype=dtype).view(_FakeDeviceArray)

    fake.asarray = asarray
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    return fake


def test_dispatch_with_a_numpy_backed_cupy_standin(monkeypatch):
    fake = _fake_cupy_module()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    x = fake.asarray(np.ones((3, 2)))
    assert _backend.is_cupy_array(x)
    backend = _backend.resolve_backend("auto", x)
    assert backend.name == "cupy" and backend.xp is fake
    assert isinstance(backend.to_numpy(x), np.ndarray) and not _backend.is_cupy_array(backend.to_numpy(x))
    assert _backend.namespace_of(x) is fake
    # an explicit numpy backend moves device data to the host
    host = _backend.resolve_backend("numpy", x).asarray(x)
    assert type(host) is np.ndarray


def test_public_api_is_listed():
    for name in wnmf_np.__all__:
        assert hasattr(wnmf_np, name)


def test_training_runs_namespace_generic_on_the_standin(monkeypatch):
    """The whole fit/transform path on the stand-in 'GPU' equals the NumPy path, and its
    outputs stay 'on the device' (only the fused kernels are swapped for the reference)."""
    fake = _fake_cupy_module()
    fake.__getattr__ = lambda name: getattr(np, name)  # everything else: NumPy's namespace
    monkeypatch.setitem(sys.modules, "cupy", fake)
    from wnmf_np import kernels
    from wnmf_np.kernels import _cupy

    monkeypatch.setattr(_cupy, "get_kernel_set", lambda: kernels.get_kernels("numpy", "reference"))
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 12))
    kw = dict(max_epochs=3, batch_size=8, random_state=1, dtype="float64")
    Z_dev = WNMF(3, **kw).fit_transform(fake.asarray(X))
    assert _backend.is_cupy_array(Z_dev)
    Z_cpu = WNMF(3, **kw).fit_transform(X)
    np.testing.assert_allclose(Z_dev.get(), Z_cpu, rtol=1e-10, atol=1e-12)
