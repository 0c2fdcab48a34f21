"""What the deconvolutional model uses of the deconvolution kernels (paper, section 3.3, eq. 12).

The geometry (layouts, the crop convention, operand checks) is defined in
:mod:`wnmf_np.kernels.deconv.geometry` and the implementations in
:mod:`wnmf_np.kernels.deconv`; this module re-exports the geometry and looks the kernels
up in the one registry (:mod:`wnmf_np.kernels.registry`, family ``"deconv"``).
"""

from __future__ import annotations

from ..kernels.deconv import CPU_DEFAULT_IMPL, DeconvKernels
from ..kernels.deconv.geometry import (
    DeconvGeometry,
    check_deconv_operands,
    factor_shape,
    output_crop,
    phase_map,
    result_dtype,
    validate_deconv_geometry,
)
from ..kernels.registry import lookup

__all__ = [
    "CPU_DEFAULT_IMPL",
    "DeconvGeometry",
    "DeconvKernels",
    "check_deconv_operands",
    "factor_shape",
    "get_deconv_kernels",
    "output_crop",
    "phase_map",
    "result_dtype",
    "validate_deconv_geometry",
]


def get_deconv_kernels(backend_name: str, impl: str = "auto") -> DeconvKernels:
    """Deconvolution kernels for a resolved backend.

    Parameters
    ----------
    backend_name : {"numpy", "cupy"}
        A resolved backend name (``Backend.name``), not ``"auto"``.
    impl : {"auto", "reference", "xp", "numba", "cupy"}
        ``"auto"``: the fastest measured implementation for the backend
        (:data:`CPU_DEFAULT_IMPL` on NumPy, ``"cupy"`` on CuPy). ``"reference"`` and
        ``"numba"`` work on NumPy only, ``"cupy"`` on CuPy only, ``"xp"`` on both.

    Returns
    -------
    DeconvKernels
        The implementation module is imported on first use, so neither numba
        compilation nor CuPy is triggered by importing this module.
    """
    return lookup("deconv", backend_name, impl)
