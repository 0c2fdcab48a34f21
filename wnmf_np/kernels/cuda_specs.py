"""Registry of the CUDA kernels the package defines, and the only place they are built.

Every fused CUDA kernel is declared once, at import of the module that uses it, as an
:class:`ElementwiseSpec` (the pieces of a CuPy ``ElementwiseKernel``) together with a
NumPy function of the same arguments (``host``: what the kernel computes, element by
element, outputs updated in place). CuPy kernels are built from these specs only
(:meth:`ElementwiseSpec.build`); ``bench/gpu_compile_check.py`` imports every module of
the package, reads :data:`KERNELS` and compiles each kernel with NVRTC, and rejects any
kernel constructed elsewhere, so a new kernel is checked without editing a list.

Nothing here imports CuPy: ``build`` takes the ``cupy`` module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, NamedTuple

#: the floating dtypes the estimators compute in; a kernel's type placeholder (``T``) takes each
FLOAT_DTYPES = ("float32", "float64")


class ElementwiseSpec(NamedTuple):
    """One CUDA elementwise kernel: CuPy's ``ElementwiseKernel`` arguments plus its host meaning.

    Attributes
    ----------
    name : str
        Kernel name (unique in the registry; also the CUDA function name).
    in_params, out_params : str
        CuPy parameter lists, e.g. ``"T g, float64 lr"`` and ``"T p"``.
    operation : str
        CUDA C++ loop body.
    host : callable
        NumPy version called with the kernel's arguments in the same order (inputs, then
        outputs), updating the outputs in place; for the CPU replays of the GPU code path.
    """

    name: str
    in_params: str
    out_params: str
    operation: str
    host: Callable[..., None]

    def build(self, cp: Any):
        """The ``cupy.ElementwiseKernel`` of this spec (compiled by CuPy on first call)."""
        return cp.ElementwiseKernel(self.in_params, self.out_params, self.operation, self.name)


#: name -> spec of every kernel registered so far (filled as the defining modules are imported)
KERNELS: dict[str, ElementwiseSpec] = {}


def register(spec: ElementwiseSpec) -> ElementwiseSpec:
    """Add ``spec`` to :data:`KERNELS` and return it; a second spec of the same name is an error."""
    known = KERNELS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"CUDA kernel {spec.name!r} is registered twice with different definitions.")
    KERNELS[spec.name] = spec
    return spec


def registered_kernels() -> dict[str, ElementwiseSpec]:
    """Import every module of ``wnmf_np`` (none imports CuPy) and return all registered kernels."""
    import wnmf_np

    for info in pkgutil.walk_packages(wnmf_np.__path__, prefix="wnmf_np."):
        if info.name != "wnmf_np.__main__":  # running it would parse the command line
            importlib.import_module(info.name)
    return dict(KERNELS)
