"""Array-backend dispatch: NumPy on the CPU, CuPy on an NVIDIA GPU.

All numerical code in wnmf_np is written once against an array namespace ``xp``
(``numpy`` or ``cupy``); only the fused kernels differ per backend and are looked up
by backend name in :mod:`wnmf_np.kernels.registry`. The namespace is resolved once at
the public boundary (estimator ``fit`` / ``transform``) and passed down.

This is the only module that imports CuPy, and it does so lazily: the CUDA kernel
modules get the ``cupy`` module from :func:`import_cupy`, and ``import wnmf_np`` or a
fit on NumPy never imports it (tests/test_backend.py scans every module's imports and
runs the fits with a ``cupy`` that fails on import).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("auto", "numpy", "cupy")

_GPU_INSTALL_HINT = (
    "install the GPU extra for the CUDA version `nvidia-smi` shows: `pip install 'wnmf-np[gpu-cuda12]'` "
    "(CUDA 12, also `wnmf-np[gpu]`) or `pip install 'wnmf-np[gpu-cuda13]'` (CUDA 13), "
    "on a machine with an NVIDIA GPU and driver"
)


class BackendUnavailableError(RuntimeError):
    """Raised when a backend is asked for but cannot be used on this machine."""


@dataclass(frozen=True)
class Backend:
    """A resolved array backend.

    Attributes
    ----------
    name : {"numpy", "cupy"}
        Backend name; also the backend key of :mod:`wnmf_np.kernels.registry`.
    xp : module
        The array namespace (``numpy`` or ``cupy``).
    """

    name: str
    xp: ModuleType

    def asarray(self, a: Any, dtype: Any = None):
        """Move ``a`` onto this backend (no copy when it already lives there)."""
        if self.name == "numpy":
            return np.asarray(to_numpy(a), dtype=dtype)
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Copy ``a`` to a host NumPy array (a no-op for NumPy input)."""
        return to_numpy(a)

    def synchronize(self) -> None:
        """Block until queued device work is done (timing helper; no-op on NumPy)."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()


def is_cupy_array(a: Any) -> bool:
    """True when ``a`` is a CuPy array, decided without importing CuPy."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(a, cupy.ndarray)


def to_numpy(a: Any) -> np.ndarray:
    """Return ``a`` as a host NumPy array, copying from the GPU if needed."""
    if is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def import_cupy() -> ModuleType:
    """Import CuPy and check that a GPU is usable.

    Raises
    ------
    BackendUnavailableError
        If CuPy is not installed or no CUDA device can be used; the message names the
        extra to install.
    """
    try:
        import cupy  # noqa: PLC0415  (lazy on purpose: see module docstring)
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise BackendUnavailableError(
            f"backend='cupy' needs CuPy, which is not installed: {_GPU_INSTALL_HINT}."
        ) from exc
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise BackendUnavailableError(
            f"backend='cupy': CuPy is installed but no CUDA device is usable ({exc}{_cuda_versions(cupy)}); "
            f"{_GPU_INSTALL_HINT}."
        ) from exc
    if n_devices < 1:  # pragma: no cover - depends on the machine
        raise BackendUnavailableError(f"backend='cupy': no CUDA device found; {_GPU_INSTALL_HINT}.")
    return cupy


def _cuda_versions(cupy) -> str:
    """``"; CuPy built for CUDA 13.0, driver: CUDA 12.8"`` (a mismatch is the usual cause), or ""."""
    try:
        runtime = cupy.cuda.runtime.runtimeGetVersion()
        driver = cupy.cuda.runtime.driverGetVersion()
    except Exception:  # no driver library at all: nothing more to say
        return ""

    def cuda(v):  # CUDA's encoding: 1000 * major + 10 * minor; 0 when no driver is installed
        return f"CUDA {v // 1000}.{v % 1000 // 10}" if v else "none"

    return f"; CuPy built for {cuda(runtime)}, driver: {cuda(driver)}"


def cupy_available() -> bool:
    """True when the CuPy backend can be used (imports CuPy if it is installed)."""
    try:
        import_cupy()
    except BackendUnavailableError:
        return False
    return True


def resolve_backend(backend: str = "auto", *arrays: Any) -> Backend:
    """Choose the backend for a computation.

    Parameters
    ----------
    backend : {"auto", "numpy", "cupy"}
        ``"auto"`` follows the inputs: CuPy if any of ``arrays`` is a CuPy array,
        NumPy otherwise (so a CuPy input stays on the GPU).
    *arrays : array-like
        The inputs of the computation.

    Returns
    -------
    Backend
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    if backend == "auto":
        backend = "cupy" if any(is_cupy_array(a) for a in arrays) else "numpy"
    if backend == "numpy":
        return Backend("numpy", np)
    return Backend("cupy", import_cupy())


def namespace_of(a: Any) -> ModuleType:
    """The array namespace of ``a`` (``cupy`` for CuPy arrays, ``numpy`` otherwise)."""
    if is_cupy_array(a):
        return sys.modules["cupy"]
    return np
