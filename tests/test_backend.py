"""Backend dispatch: NumPy default, CuPy only on request, import never pulls CuPy."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import wnmf_np
from wnmf_np import WNMF, BackendUnavailableError
from wnmf_np.core import backend as _backend

# ------------------------------------------------------------- only the backend imports CuPy
REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "wnmf_np"


def _cupy_imports(source: str) -> list[int]:
    """Lines of ``source`` that import ``cupy`` / ``cupyx``: import statements (absolute
    ones: ``from .dense import cupy`` is a package module), ``importlib.import_module`` and
    ``__import__`` of a literal name."""

    def is_cupy(name):
        return name is not None and name.split(".")[0] in ("cupy", "cupyx")

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(is_cupy(a.name) for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and is_cupy(node.module):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and is_cupy(str(node.args[0].value)):
                lines.append(node.lineno)
    return lines


def test_the_cupy_import_scan_finds_every_form():
    code = "import cupy\nfrom cupyx import scipy\nimportlib.import_module('cupy')\n__import__('cupy.cuda')\n"
    assert _cupy_imports(code) == [1, 2, 3, 4]
    assert _cupy_imports("from . import cupy\nfrom .dense import cupy as k\nimport numpy\n") == []


def test_only_core_backend_imports_cupy():
    importers = {
        str(path.relative_to(REPO)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _cupy_imports(path.read_text(encoding="utf-8")))
    }
    assert set(importers) == {"wnmf_np/core/backend.py"}, importers


def test_importing_and_fitting_on_numpy_never_touches_cupy(tmp_path):
    """A ``cupy`` that raises on import (and leaves a mark) shadows any real one: importing
    every module of wnmf_np and running every GPU-relevant fit scenario on NumPy must not
    import it. This fails with or without CuPy installed."""
    mark = tmp_path / "cupy_was_imported"
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(
        f"open({str(mark)!r}, 'w').close()\nraise RuntimeError('wnmf_np imported cupy')\n"
    )
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        sys.path.insert(0, "bench")
        import wnmf_np, wnmf_np.datasets, wnmf_np.metrics
        from wnmf_np.kernels.cuda_specs import registered_kernels
        from gpu_compile.fits import FITS

        registered_kernels()  # imports every module of the package
        for fit in FITS.values():
            fit(np.asarray, "float64")
        assert "cupy" not in sys.modules
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not mark.exists()


def test_auto_follows_numpy_input():
    backend = _backend.resolve_backend("auto", np.zeros((2, 2)))
    assert backend.name == "numpy" and backend.xp is np


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend must be one of"):
        _backend.resolve_backend("tpu")


EXTRAS = r"wnmf-np\[gpu-cuda12\].*CUDA 12.*wnmf-np\[gpu\].*wnmf-np\[gpu-cuda13\].*CUDA 13"


def test_cupy_request_without_cupy_names_the_extra(monkeypatch):
    # a broken/missing CuPy: the import fails, the message says which extra to install
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError, match=EXTRAS):
        _backend.resolve_backend("cupy")
    X = np.random.default_rng(0).uniform(size=(10, 4))
    with pytest.raises(BackendUnavailableError, match=EXTRAS):
        WNMF(2, backend="cupy", max_epochs=1).fit(X)


def test_the_extras_named_in_the_hint_exist():
    import tomllib

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["gpu-cuda12"] == extras["gpu"] and extras["gpu"][0].startswith("cupy-cuda12x")
    assert extras["gpu-cuda13"][0].startswith("cupy-cuda13x")


def test_cupy_without_a_usable_driver_names_both_cuda_versions(monkeypatch):
    """CuPy for CUDA 13 on a CUDA 12 driver (the usual mismatch): the error says so."""

    def no_device():
        raise RuntimeError("cudaErrorInsufficientDriver")

    fake = types.ModuleType("cupy")
    runtime = types.SimpleNamespace(getDeviceCount=no_device, runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 12080)
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    expected = r"InsufficientDriver; CuPy built for CUDA 13\.0, driver: CUDA 12\.8\).*gpu-cuda12"
    with pytest.raises(BackendUnavailableError, match=expected):
        _backend.import_cupy()
    runtime.driverGetVersion = lambda: 0
    with pytest.raises(BackendUnavailableError, match="driver: none"):
        _backend.import_cupy()


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
    from wnmf_np.kernels.dense import cupy as _cupy

    monkeypatch.setattr(_cupy, "get_kernel_set", lambda: kernels.get_kernels("numpy", "reference"))
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 12))
    kw = dict(max_epochs=3, batch_size=8, random_state=1, dtype="float64")
    Z_dev = WNMF(3, **kw).fit_transform(fake.asarray(X))
    assert _backend.is_cupy_array(Z_dev)
    Z_cpu = WNMF(3, **kw).fit_transform(X)
    np.testing.assert_allclose(Z_dev.get(), Z_cpu, rtol=1e-10, atol=1e-12)


class _CountingDeviceArray(_FakeDeviceArray):
    """Stand-in device array that counts every conversion to a host value."""

    host_reads = 0

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # like a CuPy array, a reduction gives a 0-d device array, not a host scalar
        return super().__array_wrap__(arr, context, False)

    def _count(self):
        type(self).host_reads += 1

    def get(self):
        self._count()
        return super().get()

    def __float__(self):
        self._count()
        return float(np.asarray(self).view(np.ndarray))

    def __int__(self):
        self._count()
        return int(np.asarray(self).view(np.ndarray))

    def __bool__(self):
        self._count()
        return bool(np.asarray(self).view(np.ndarray))

    def item(self, *args):
        self._count()
        return np.asarray(self).view(np.ndarray).item(*args)

    def tolist(self):
        self._count()
        return np.asarray(self).view(np.ndarray).tolist()


def _on_device(obj):
    """NumPy function -> the same returning stand-in device arrays (as CuPy's do)."""
    if not callable(obj) or isinstance(obj, (type, np.ufunc)):
        return obj  # dtypes, constants, submodules; ufuncs keep the subclass by themselves

    def wrapped(*args, **kwargs):
        out = obj(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(o.view(_CountingDeviceArray) if type(o) is np.ndarray else o for o in out)
        return out.view(_CountingDeviceArray) if type(out) is np.ndarray else out

    return wrapped


def _host_reads_of_fit(make, X, epochs):
    _CountingDeviceArray.host_reads = 0
    make(epochs).fit(X)
    return _CountingDeviceArray.host_reads


@pytest.mark.parametrize(
    "make",
    [
        lambda e: WNMF(3, max_epochs=e, batch_size=4, random_state=0, dtype="float64"),
        lambda e: WNMF(3, max_epochs=e, batch_size=4, random_state=0, dtype="float64", h_update="dense"),
        lambda e: wnmf_np.DeepWNMF((2, 3), max_epochs=e, batch_size=4, random_state=0, dtype="float64"),
        lambda e: wnmf_np.DeconvWNMF(2, stride=2, image_shape=(4, 3), max_epochs=e, batch_size=4, random_state=0,
                                     dtype="float64"),  # fmt: skip
        lambda e: wnmf_np.DeconvWNMF(2, stride=2, image_shape=(4, 3), max_epochs=e, batch_size=4, random_state=0,
                                     dtype="float64", train_layout="phase"),  # fmt: skip
        lambda e: WNMF(3, max_epochs=e, batch_size=4, random_state=0, dtype="float64", nan_policy="omit",
                       loss_reduction="sum", l2_mode="penalty"),  # fmt: skip
    ],
    ids=["wnmf-lazy", "wnmf-dense", "deep", "deconv", "deconv-phase", "wnmf-missing-sum"],
)
def test_no_host_read_inside_the_training_step(monkeypatch, make):
    """The device path reads values back to the host a fixed number of times per epoch,
    never per step (issue: no host synchronisation inside the step). 40 samples in batches
    of 4 are 10 steps per epoch; two more epochs may add at most 2 reads per epoch."""
    fake = _fake_cupy_module()
    fake.ndarray = _CountingDeviceArray
    fake.__getattr__ = lambda name: _on_device(getattr(np, name))
    fake.asarray = _on_device(np.asarray)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    from wnmf_np import kernels
    from wnmf_np.kernels.dense import cupy as _cupy

    monkeypatch.setattr(_cupy, "get_kernel_set", lambda: kernels.get_kernels("numpy", "reference"))
    X = np.random.default_rng(0).uniform(size=(40, 12))
    X[::7, ::5] = np.nan  # missing entries: only the nan_policy="omit" model sees them
    if make(1).get_params().get("nan_policy") != "omit":
        X = np.nan_to_num(X)
    X = fake.asarray(X)
    two, four = _host_reads_of_fit(make, X, 2), _host_reads_of_fit(make, X, 4)
    assert two >= 2, "the per-epoch loss read was not counted: the stand-in is not in use"
    assert four - two <= 2 * 2, (two, four)
