"""Reference MU kernels: the plain array formulas, over any namespace (the test oracle).

The formulas and their derivation: :mod:`wnmf_np.mu.updates`.
"""

from __future__ import annotations

import numpy as np

from . import MUKernels


def mu_step_reference(xp, F, num, den, l1, l2, gamma, eps):
    """``F ← max(F ⊙ (num / max(den + l1 + l2 F, eps))^γ, eps)`` in place (the oracle).

    ``num`` is overwritten. All arrays share one shape; scalars are Python floats.
    """
    den = den + l1
    if l2:
        den += l2 * F
    xp.maximum(den, eps, out=den)
    xp.divide(num, den, out=num)
    if gamma != 1.0:
        xp.power(num, gamma, out=num)
    F *= num
    xp.maximum(F, eps, out=F)
    return F


def beta_weights_reference(xp, X, Y, beta, eps, mask=None):
    """Numerator and denominator weights ``(Q, P)`` of the MU, from ``Y = H @ Wt``.

    ``Q = M ⊙ X ⊙ Y^(β-2)`` and ``P = M ⊙ Y^(β-1)``; ``Y`` (n_samples, n_features) is
    overwritten. For β = 1, ``P`` is ``M`` (or None without a mask: a column sum then
    replaces ``P @ Wt.T``); for β = 2, ``Q`` is ``X`` itself.
    """
    if beta == 2.0:
        if mask is not None:
            Y *= mask
        return X, Y
    xp.maximum(Y, eps, out=Y)
    if beta == 1.0:
        xp.divide(X, Y, out=Y)  # X is 0 where missing, so Q needs no mask
        return Y, (None if mask is None else mask.astype(X.dtype))
    P = Y ** (beta - 1.0)
    Q = P / Y
    Q *= X
    if mask is not None:
        P *= mask
        Q *= mask
    return Q, P


def sparse_hwt_reference(X, H, Wt, block: int = 1 << 16):
    """``(H @ Wt)[i, j]`` for every stored entry ``(i, j)`` of the CSR matrix ``X``:
    ``H`` (n_samples, r) the latents, ``Wt`` (r, n_features) the transposed basis."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    out = np.empty(X.nnz, dtype=H.dtype)
    W = Wt.T
    for s in range(0, X.nnz, block):
        e = min(s + block, X.nnz)
        out[s:e] = np.einsum("ij,ij->i", H[rows[s:e]], W[X.indices[s:e]])
    return out


KERNELS = MUKernels("reference", mu_step_reference, beta_weights_reference, sparse_hwt_reference)
