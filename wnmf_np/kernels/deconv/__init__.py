"""The deconvolution kernel family: one interface, four implementations side by side.

Implementations (modules of this package, registered in :mod:`wnmf_np.kernels.registry`
under the family ``"deconv"``):

=============  ============  ==================================================
name           backends      what
=============  ============  ==================================================
``reference``  numpy         explicit patch loops, the test oracle
``xp``         numpy, cupy   one GEMM per call in phase space (any namespace)
``numba``      numpy         the xp GEMMs as explicit numba loops
``cupy``       cupy          the xp path on the GPU
=============  ============  ==================================================

Each module defines the same signatures::

    forward(F, K, out_shape, stride) -> Y            (b, h, w)
    grad_factors(G, K, in_shape, stride) -> dF       (r, hi, wi), summed over the batch
    grad_kernels(G, F, stride) -> dK                 (b, r, 2s, 2s)
    forward_keep, grads                              optional, see DeconvKernels
    to_phase, forward_phase_keep, grads_phase        optional, see DeconvKernels

where ``out_shape = (h, w)``, ``in_shape = (hi, wi)`` and ``G = dL/dY`` of shape
``(b, h, w)``; layouts and the crop: :mod:`.geometry`. :func:`kernel_set` turns a module
into a :class:`DeconvKernels`. Importing this package imports no implementation (no numba
compilation, no CuPy).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

# Fastest CPU implementation measured by bench/bench_deconv_kernels.py at ORL size
# (b=32, 112x92, r=40, s=2 and 4, float32) on the 2-core development VM; see
# docs/deconv_kernels.md for the table. Change it only with a new measurement.
CPU_DEFAULT_IMPL = "xp"


class DeconvKernels(NamedTuple):
    """The deconvolution operations of one implementation.

    Besides the three operations of the module docstring, a training step uses

    * ``forward_keep(F, K, out_shape, stride) -> (Y, operands)``: ``forward`` plus
      whatever the same step's backward can reuse (None when nothing);
    * ``grads(G, F, K, stride, need=("F", "K"), operands=None) -> (dF, dK)``: both
      adjoints in one call (None for the one not in ``need``).

    An implementation that shares work (the xp one keeps its GEMM operands and gathers
    ``G`` into phase space once) provides its own; the others get the plain compositions
    of :func:`_plain_forward_keep` and :func:`_separate_grads`.

    An implementation that can train on data kept in its phase layout (the xp one and
    CuPy) also provides, else they are None (see :mod:`wnmf_np.kernels.deconv.xp`):

    * ``to_phase(images, out_shape, stride) -> Z``: rows of images (n, h*w) in the phase
      layout (n, s*s*(hi+1)*(wi+1)), zero where the crop cuts;
    * ``forward_phase_keep(F, K, out_shape, stride) -> (Z, operands)``: ``forward_keep``
      with ``Z`` (b, s*s*(hi+1)*(wi+1)) in that layout;
    * ``grads_phase(Gph, F, K, out_shape, stride, need, operands) -> (dF, dK)``: ``grads``
      for a gradient in that layout (its cut entries are zeroed in place).
    """

    name: str
    forward: Callable
    grad_factors: Callable
    grad_kernels: Callable
    forward_keep: Callable
    grads: Callable
    to_phase: Callable | None = None
    forward_phase_keep: Callable | None = None
    grads_phase: Callable | None = None


def _plain_forward_keep(forward: Callable) -> Callable:
    """``forward_keep`` that keeps nothing."""

    def forward_keep(F, K, out_shape, stride):
        return forward(F, K, out_shape, stride), None

    return forward_keep


def _separate_grads(grad_factors: Callable, grad_kernels: Callable) -> Callable:
    """``grads`` from the two single adjoints (no shared work; ``operands`` is ignored)."""

    def grads(G, F, K, stride, *, need=("F", "K"), operands=None):
        dF = grad_factors(G, K, tuple(F.shape[1:]), stride) if "F" in need else None
        dK = grad_kernels(G, F, stride) if "K" in need else None
        return dF, dK

    return grads


def kernel_set(name: str, module: ModuleType) -> DeconvKernels:
    """The :class:`DeconvKernels` of implementation module ``module`` (named ``name``).

    The optional operations a module does not define get the plain compositions of
    :func:`_plain_forward_keep` and :func:`_separate_grads` (the phase ones stay None).
    """
    forward_keep = getattr(module, "forward_keep", None) or _plain_forward_keep(module.forward)
    grads = getattr(module, "grads", None) or _separate_grads(module.grad_factors, module.grad_kernels)
    phase = tuple(getattr(module, op, None) for op in ("to_phase", "forward_phase_keep", "grads_phase"))
    return DeconvKernels(name, module.forward, module.grad_factors, module.grad_kernels, forward_keep, grads, *phase)
