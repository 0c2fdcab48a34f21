"""numba CPU deconvolution kernels: the GEMMs of :mod:`.xp` as explicit loops.

The kernels work in the same *phase space* as :mod:`.xp` (kernel index
``u = a*s + u'``, full-output row ``R = s*P + u'``), where every inner loop runs over a
contiguous row (an axpy that LLVM vectorises)::

    forward        Z[i, u', v', P, Q]   = Σ_{a,b,c} K[i, c, a*s+u', b*s+v'] F[c, P-a, Q-b]
    grad_kernels   dK[i, c, a*s+u', b*s+v'] = Σ_{p,q} Gph[i, u', v', p+a, q+b] F[c, p, q]
                   (computed channels-last, dKt (b, 2s, 2s, r) from Ft (hi, wi, r))
    grad_factors   dF[c, p, q]          = Σ_{i,a,b,u',v'} K[i, c, a*s+u', b*s+v'] Gph[i, u', v', p+a, q+b]

The crop between phase space and the image (``Z -> Y`` and ``G -> Gph``) reuses the
strided slice copies of :mod:`.xp`, so both modules share one crop convention
(:func:`wnmf_np.kernels.deconv.geometry.output_crop`).

Measured at ORL size these loops are several times slower than the single BLAS GEMM
of :mod:`.xp` (the contraction over ``r`` is a matrix product, and BLAS blocks it
for registers and caches), so ``get_deconv_kernels("numpy")`` uses ``xp``; see
docs/deconv_kernels.md. They are kept as the explicit-loop CPU implementation behind
the common interface and as a second, independent check of the xp path.

Under ``NUMBA_DISABLE_JIT=1`` the same code runs as plain Python (very slowly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numba as nb
import numpy as np

from .geometry import check_deconv_operands, result_dtype
from .xp import _image_to_phase, _phase_to_image

# Serial loops: measured on the 2-core machine, prange over the batch (or channels)
# gained little alone and lost badly when OpenBLAS threads of the surrounding GEMMs (or
# other processes) held the cores; see docs/deconv_kernels.md. The bench compiles the
# other setting with :func:`compile_loops` to re-measure.
PARALLEL = False
# reassoc/contract let LLVM reorder and fuse (FMA) the sums; no nnan/ninf, so NaN and
# inf propagate as in NumPy.
FASTMATH = frozenset({"reassoc", "contract"})


# ------------------------------------------------------------- loops (plain Python)
def _forward_phase(F, K, Z, s):
    """Z[i, u', v', P+a, Q+b] += K[i, c, a*s+u', b*s+v'] F[c, P, Q]; Z zeroed on entry."""
    b = K.shape[0]
    r, hi, wi = F.shape
    for i in nb.prange(b):
        for u0 in range(s):
            for v0 in range(s):
                for a in range(2):
                    for bb in range(2):
                        for c in range(r):
                            k = K[i, c, a * s + u0, bb * s + v0]
                            for p in range(hi):
                                for q in range(wi):
                                    Z[i, u0, v0, p + a, q + bb] += k * F[c, p, q]


def _grad_kernels_phase(Gph, Ft, dKt, s):
    """dKt[i, a*s+u', b*s+v', c] += Gph[i, u', v', p+a, q+b] Ft[p, q, c]; dKt zeroed on entry."""
    b = dKt.shape[0]
    hi, wi, r = Ft.shape
    # channels innermost (an axpy over contiguous c): measured 2.5-4x faster than a dot
    # product over (p, q) per output entry, whose reduction LLVM vectorises poorly
    for i in nb.prange(b):
        for u0 in range(s):
            for v0 in range(s):
                for a in range(2):
                    for bb in range(2):
                        u = a * s + u0
                        v = bb * s + v0
                        for p in range(hi):
                            for q in range(wi):
                                g = Gph[i, u0, v0, p + a, q + bb]
                                for c in range(r):
                                    dKt[i, u, v, c] += g * Ft[p, q, c]


def _grad_factors_phase(Gph, K, dF, s):
    """dF[c, p, q] += K[i, c, a*s+u', b*s+v'] Gph[i, u', v', p+a, q+b]; dF zeroed on entry."""
    b, r = K.shape[0], K.shape[1]
    hi, wi = dF.shape[1], dF.shape[2]
    # channels outermost: each c owns dF[c], so a parallel loop here has no race
    for c in nb.prange(r):
        for i in range(b):
            for a in range(2):
                for bb in range(2):
                    for u0 in range(s):
                        for v0 in range(s):
                            k = K[i, c, a * s + u0, bb * s + v0]
                            for p in range(hi):
                                for q in range(wi):
                                    dF[c, p, q] += k * Gph[i, u0, v0, p + a, q + bb]


class Loops(NamedTuple):
    """The compiled loops used by :func:`forward`, :func:`grad_factors`, :func:`grad_kernels`."""

    forward_phase: Callable
    grad_kernels_phase: Callable
    grad_factors_phase: Callable


def compile_loops(parallel: bool = PARALLEL, cache: bool = True) -> Loops:
    """JIT-compile the three loops (lazily, on first call per dtype).

    Parameters
    ----------
    parallel : bool
        ``prange`` runs threaded (numba's threading layer) when True, serially otherwise.
    cache : bool
        Cache the machine code next to this file. Only the module's default setting
        should use the cache: numba keys its cache by function, not by ``parallel``.
    """
    jit = nb.njit(nogil=True, cache=cache, parallel=parallel, fastmath=set(FASTMATH))
    return Loops(jit(_forward_phase), jit(_grad_kernels_phase), jit(_grad_factors_phase))


_LOOPS = compile_loops()


# ------------------------------------------------------------------------ operations
def forward(F, K, out_shape, stride, *, loops: Loops | None = None) -> np.ndarray:
    """Transposed convolution of stride ``s``, cropped to the image shape (numba loops).

    Operands, shapes and values: those of
    :func:`wnmf_np.kernels.deconv.reference.forward` (documented once there). ``loops``: the
    compiled loops (:func:`compile_loops`), the module's default when omitted.

    Returns
    -------
    Y : ndarray of shape (b, h, w), C-contiguous
    """
    F, K = np.asarray(F), np.asarray(K)
    g = check_deconv_operands(stride=stride, F=F, K=K, out_shape=out_shape)
    dtype = result_dtype(np, F, K)
    Z = np.zeros((g.b, g.s, g.s, g.hi + 1, g.wi + 1), dtype=dtype)
    loops = _LOOPS if loops is None else loops
    loops.forward_phase(np.ascontiguousarray(F, dtype=dtype), np.ascontiguousarray(K, dtype=dtype), Z, g.s)
    return _phase_to_image(Z, g, np, dtype)


def grad_factors(G, K, in_shape, stride, *, loops: Loops | None = None) -> np.ndarray:
    """Adjoint of :func:`forward` with respect to ``F``, summed over the batch (numba loops).

    Operands, shapes and values: those of
    :func:`wnmf_np.kernels.deconv.reference.grad_factors` (documented once there). ``loops``: the
    compiled loops (:func:`compile_loops`), the module's default when omitted.

    Returns
    -------
    dF : ndarray of shape (r, hi, wi)
    """
    G, K = np.asarray(G), np.asarray(K)
    g = check_deconv_operands(stride=stride, G=G, K=K, in_shape=in_shape)
    dtype = result_dtype(np, G, K)
    Gph = _image_to_phase(G, g, np, dtype).reshape(g.b, g.s, g.s, g.hi + 1, g.wi + 1)
    dF = np.zeros((g.r, g.hi, g.wi), dtype=dtype)
    loops = _LOOPS if loops is None else loops
    loops.grad_factors_phase(Gph, np.ascontiguousarray(K, dtype=dtype), dF, g.s)
    return dF


def grad_kernels(G, F, stride, *, loops: Loops | None = None) -> np.ndarray:
    """Adjoint of :func:`forward` with respect to ``K`` (numba loops).

    Operands, shapes and values: those of
    :func:`wnmf_np.kernels.deconv.reference.grad_kernels` (documented once there). ``loops``: the
    compiled loops (:func:`compile_loops`), the module's default when omitted.

    Returns
    -------
    dK : ndarray of shape (b, r, 2s, 2s), C-contiguous
    """
    G, F = np.asarray(G), np.asarray(F)
    g = check_deconv_operands(stride=stride, G=G, F=F)
    dtype = result_dtype(np, G, F)
    Gph = _image_to_phase(G, g, np, dtype).reshape(g.b, g.s, g.s, g.hi + 1, g.wi + 1)
    Ft = np.ascontiguousarray(F.transpose(1, 2, 0), dtype=dtype)  # (hi, wi, r), small
    dKt = np.zeros((g.b, 2 * g.s, 2 * g.s, g.r), dtype=dtype)
    loops = _LOOPS if loops is None else loops
    loops.grad_kernels_phase(Gph, Ft, dKt, g.s)
    return np.ascontiguousarray(dKt.transpose(0, 3, 1, 2))
