"""CuPy MU kernels: the fused step as a CUDA ``ElementwiseKernel``; the weights use the
namespace-generic reference code.

The kernel is declared in :mod:`wnmf_np.kernels.cuda_specs` (with its NumPy meaning,
side by side below) and built on first use; CuPy comes from :mod:`wnmf_np.core.backend`,
so importing this module never imports CuPy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...core.backend import import_cupy
from ..cuda_specs import ElementwiseSpec, register
from . import MUKernels
from .reference import beta_weights_reference, sparse_hwt_reference


def _mu_step_host(num, den, l1, l2, gamma, eps, F):
    """NumPy meaning of the CUDA kernel ``wnmf_mu_step`` (same arguments, ``F`` updated in place;
    NaN handling as in CUDA's comparisons, where it differs from ``np.maximum``)."""
    d = den + l1
    d = d + l2 * F
    d = np.where(d < eps, eps, d)
    ratio = num / d
    if gamma != 1:
        ratio = ratio**gamma
    f = F * ratio
    F[...] = np.where(f > eps, f, eps)


MU_STEP = register(
    ElementwiseSpec(
        "wnmf_mu_step",
        "T num, T den, T l1, T l2, T gamma, T eps",
        "T F",
        """
        T d = den + l1;
        d += l2 * F;
        d = d < eps ? eps : d;
        T ratio = num / d;
        if (gamma != (T)1) ratio = pow(ratio, gamma);
        T f = F * ratio;
        F = f > eps ? f : eps;
        """,
        _mu_step_host,
    )
)


@lru_cache(maxsize=1)
def _cupy_mu_step_kernel():
    """CuPy version of the fused step, compiled on first use (never at import)."""
    return MU_STEP.build(import_cupy())


def mu_step(xp, F, num, den, l1, l2, gamma, eps):
    """The fused MU step on CuPy arrays, in place."""
    t = F.dtype.type  # scalars in the array dtype keep the float32 path in float32
    _cupy_mu_step_kernel()(num, den, t(l1), t(l2), t(gamma), t(eps), F)
    return F


# sparse data never reach the GPU (they are NumPy only); the reference keeps the set complete
KERNELS = MUKernels("cupy", mu_step, beta_weights_reference, sparse_hwt_reference)
