"""Kernels: the fused operations behind the models, one family per kind of model.

Layout (each fast implementation beside its reference oracle, one module each)::

    kernels/
        registry.py          the one registry: (family, backend, implementation) -> kernel set
        dense/               WNMF steps: AdamW, loss + gradient, φη' chain rule
            reference.py numba.py cupy.py
        deconv/              transposed convolution and its adjoints
            geometry.py      shapes, crop, operand checks (shared by every implementation)
            reference.py xp.py numba.py cupy.py
        mu/                  element-wise passes of the multiplicative updates
            reference.py numba.py cupy.py
        cuda_specs.py    the CUDA ElementwiseKernel specs (checked by bench/gpu_compile_check.py)

Kernels import only :mod:`wnmf_np.core` (never the models); CuPy comes from
:mod:`wnmf_np.core.backend`, the only module that imports it. Look kernel sets up with
:func:`wnmf_np.kernels.registry.lookup`; :func:`get_kernels` is the dense family's.
"""

from __future__ import annotations

from .dense import KernelSet
from .registry import lookup

__all__ = ["KernelSet", "get_kernels", "lookup"]


def get_kernels(backend_name: str, impl: str = "fast") -> KernelSet:
    """The dense WNMF kernel set for ``backend_name`` ("numpy" or "cupy").

    Parameters
    ----------
    backend_name : {"numpy", "cupy"}
    impl : {"fast", "reference"}
        ``"fast"``: numba on NumPy, CUDA kernels on CuPy. ``"reference"``: the plain array
        code (works on both).
    """
    return lookup("dense", backend_name, impl)
