"""Reference deconvolution kernels: slow, explicit loops, the test oracle.

Each function builds (or reads) the *full* transposed-convolution output of
``(hi + 1) * s`` rows and ``(wi + 1) * s`` columns patch by patch, exactly as the
definition reads, and crops it with :func:`wnmf_np.kernels.deconv.geometry.output_crop`::

    full[i, s*p + u, s*q + v] += Σ_c F[c, p, q] K[i, c, u, v]      (p < hi, q < wi, u, v < 2s)
    Y = full[:, top : top + h, left : left + w]

The adjoints zero-pad ``G`` back to the full size and read the same patches. NumPy
only; no speed is attempted beyond vectorising over the batch and channels of a patch.
Layouts: see :mod:`wnmf_np.kernels.deconv.geometry`.
"""

from __future__ import annotations

import numpy as np

from .geometry import check_deconv_operands, output_crop, result_dtype


def _full_shape(g) -> tuple[int, int]:
    return (g.hi + 1) * g.s, (g.wi + 1) * g.s


def _patch(g, p: int, q: int) -> tuple[slice, slice]:
    """Rows and columns of the full output touched by factor pixel ``(p, q)``."""
    return slice(g.s * p, g.s * p + 2 * g.s), slice(g.s * q, g.s * q + 2 * g.s)


def _pad_to_full(G: np.ndarray, g) -> np.ndarray:
    """Zero-pad ``G`` (b, h, w) to the full output: the adjoint of the crop."""
    top, left = output_crop(g.h, g.w, g.s)
    full = np.zeros((g.b, *_full_shape(g)), dtype=G.dtype)
    full[:, top : top + g.h, left : left + g.w] = G
    return full


def forward(F, K, out_shape, stride) -> np.ndarray:
    """Transposed convolution of stride ``s``, cropped to the image shape.

    Parameters
    ----------
    F : ndarray of shape (r, hi, wi)
        Factor images, ``(hi, wi) = ceil((h, w) / s)``.
    K : ndarray of shape (b, r, 2s, 2s)
        Per-image kernels.
    out_shape : (int, int)
        Image shape ``(h, w)``.
    stride : int
        ``s >= 1``.

    Returns
    -------
    Y : ndarray of shape (b, h, w)
        ``Y[i] = crop(Σ_c upsample_s(F[c]) ⊛ K[i, c])``.
    """
    F, K = np.asarray(F), np.asarray(K)
    g = check_deconv_operands(stride=stride, F=F, K=K, out_shape=out_shape)
    dtype = result_dtype(np, F, K)
    full = np.zeros((g.b, *_full_shape(g)), dtype=dtype)
    for p in range(g.hi):
        for q in range(g.wi):
            rows, cols = _patch(g, p, q)
            # every image i gets Σ_c F[c, p, q] K[i, c] added at patch (p, q)
            full[:, rows, cols] += np.einsum("c,icuv->iuv", F[:, p, q], K)
    top, left = output_crop(g.h, g.w, g.s)
    return np.ascontiguousarray(full[:, top : top + g.h, left : left + g.w])


def grad_factors(G, K, in_shape, stride) -> np.ndarray:
    """Adjoint of :func:`forward` with respect to ``F``, summed over the batch.

    Parameters
    ----------
    G : ndarray of shape (b, h, w)
        ``dL/dY``.
    K : ndarray of shape (b, r, 2s, 2s)
    in_shape : (int, int)
        Factor shape ``(hi, wi)``; must equal ``ceil((h, w) / s)``.
    stride : int

    Returns
    -------
    dF : ndarray of shape (r, hi, wi)
        ``dF[c, p, q] = Σ_i Σ_{u,v} K[i, c, u, v] Gfull[i, s*p + u, s*q + v]``.
    """
    G, K = np.asarray(G), np.asarray(K)
    g = check_deconv_operands(stride=stride, G=G, K=K, in_shape=in_shape)
    full = _pad_to_full(G.astype(result_dtype(np, G, K)), g)
    dF = np.zeros((g.r, g.hi, g.wi), dtype=full.dtype)
    for p in range(g.hi):
        for q in range(g.wi):
            rows, cols = _patch(g, p, q)
            dF[:, p, q] = np.einsum("icuv,iuv->c", K, full[:, rows, cols])
    return dF


def grad_kernels(G, F, stride) -> np.ndarray:
    """Adjoint of :func:`forward` with respect to ``K``.

    Parameters
    ----------
    G : ndarray of shape (b, h, w)
        ``dL/dY``.
    F : ndarray of shape (r, hi, wi)
        ``(hi, wi)`` must equal ``ceil((h, w) / s)``.
    stride : int

    Returns
    -------
    dK : ndarray of shape (b, r, 2s, 2s)
        ``dK[i, c, u, v] = Σ_{p,q} F[c, p, q] Gfull[i, s*p + u, s*q + v]``.
    """
    G, F = np.asarray(G), np.asarray(F)
    g = check_deconv_operands(stride=stride, G=G, F=F)
    full = _pad_to_full(G.astype(result_dtype(np, G, F)), g)
    dK = np.zeros((g.b, g.r, 2 * g.s, 2 * g.s), dtype=full.dtype)
    for p in range(g.hi):
        for q in range(g.wi):
            rows, cols = _patch(g, p, q)
            dK += np.einsum("c,iuv->icuv", F[:, p, q], full[:, rows, cols])
    return dK
