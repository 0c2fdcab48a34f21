"""Initial factors for multiplicative-update NMF.

Names as in :mod:`wnmf_np.mu.updates`: ``X`` (n_samples, n_features) ≈ ``H`` (n_samples, r)
@ ``Wt`` (r, n_features), ``H`` the latents and ``Wt`` the transposed basis (scikit-learn's
``W`` and ``H``).
All initialisations are computed on the host (NumPy; they run once per fit) and moved to
the working backend by the caller.

``"random"``
    ``H, Wt = a |N(0, 1)|`` with ``a = sqrt(mean(X) / r)`` so that ``H Wt`` has the scale of
    ``X`` on average (sklearn's scaling; a NumPy ``Generator`` draws the numbers, so they
    differ from sklearn's ``RandomState`` draws).
``"nndsvd"`` (Boutsidis & Gallopoulos 2008)
    From the rank-``r`` SVD ``X ≈ Σ_j s_j u_j v_jᵀ``: the leading pair is ``|u_0|, |v_0|``
    (Perron–Frobenius: it can be taken non-negative); for ``j ≥ 1`` split ``u = u⁺ - u⁻``
    and ``v = v⁺ - v⁻``, keep the pair ``(u⁺, v⁺)`` if ``‖u⁺‖‖v⁺‖ > ‖u⁻‖‖v⁻‖`` else
    ``(u⁻, v⁻)``, normalise it to unit norms and scale both by ``sqrt(s_j ‖u^±‖‖v^±‖)``.
    Entries below ``1e-6`` are set to 0.
``"nndsvda"`` / ``"nndsvdar"``
    NNDSVD with the zeros replaced by ``mean(X)`` / by ``|mean(X) N(0, 1)| / 100``.

The SVD is exact (LAPACK) when ``min(n_samples, n_features) <= EXACT_SVD_MAX`` and
randomized (sklearn's ``randomized_svd``) otherwise or for sparse ``X``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

#: the starts computed from X alone (the only ones DeepMultiplicativeNMF's stages can take)
MU_COMPUTED_INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")
#: MultiplicativeNMF's ``init`` options: those, and "custom" (W and H passed to fit)
MU_INITS = (*MU_COMPUTED_INITS, "custom")
EXACT_SVD_MAX = 1000
NNDSVD_ZERO = 1e-6


def random_init(mean_x: float, shape: tuple[int, int], r: int, rng: np.random.Generator, dtype):
    """``H`` (n_samples, r) and ``Wt`` (r, n_features) with entries ``sqrt(mean_x / r) |N(0,1)|``
    (``Wt`` drawn first)."""
    n, m = shape
    scale = np.sqrt(mean_x / r)
    Wt = np.abs(rng.standard_normal((r, m))) * scale
    H = np.abs(rng.standard_normal((n, r))) * scale
    return H.astype(dtype), Wt.astype(dtype)


def _truncated_svd(X, r: int, seed: int):
    """Leading ``r`` singular triplets ``(U (n, r), s (r,), Vt (r, m))`` of ``X``."""
    if not sp.issparse(X) and min(X.shape) <= EXACT_SVD_MAX:
        U, s, Vt = np.linalg.svd(np.asarray(X, dtype=np.float64), full_matrices=False)
        return U[:, :r], s[:r], Vt[:r]
    return randomized_svd(X, r, random_state=seed)


def nndsvd_init(X, r: int, variant: str, rng: np.random.Generator, dtype):
    """NNDSVD family (module docstring); ``X`` is a host array or scipy sparse matrix.

    Returns
    -------
    H : ndarray (n_samples, r)
    Wt : ndarray (r, n_features)
    """
    U, s, Vt = _truncated_svd(X, r, int(rng.integers(2**31 - 1)))
    u_pos, u_neg = np.maximum(U, 0), np.maximum(-U, 0)
    v_pos, v_neg = np.maximum(Vt, 0), np.maximum(-Vt, 0)
    nu_pos, nu_neg = np.linalg.norm(u_pos, axis=0), np.linalg.norm(u_neg, axis=0)
    nv_pos, nv_neg = np.linalg.norm(v_pos, axis=1), np.linalg.norm(v_neg, axis=1)
    mass_pos, mass_neg = nu_pos * nv_pos, nu_neg * nv_neg
    keep_pos = mass_pos > mass_neg
    keep_pos[0] = True  # the leading pair: use |u_0|, |v_0| below
    u = np.where(keep_pos, u_pos, u_neg)
    v = np.where(keep_pos[:, None], v_pos, v_neg)
    nu = np.where(keep_pos, nu_pos, nu_neg)
    nv = np.where(keep_pos, nv_pos, nv_neg)
    mass = np.where(keep_pos, mass_pos, mass_neg)
    u[:, 0], v[0] = np.abs(U[:, 0]), np.abs(Vt[0])
    nu[0] = nv[0] = mass[0] = 1.0  # singular vectors have unit norm
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt(s * mass)
        H = np.nan_to_num(u * (scale / nu))
        Wt = np.nan_to_num(v * (scale / nv)[:, None])
    H[H < NNDSVD_ZERO] = 0.0
    Wt[Wt < NNDSVD_ZERO] = 0.0
    if variant == "nndsvda":
        avg = float(X.mean())
        H[H == 0] = avg
        Wt[Wt == 0] = avg
    elif variant == "nndsvdar":
        avg = float(X.mean())
        for A in (H, Wt):  # small random fill: keeps them dense without biasing the scale
            zeros = A == 0
            A[zeros] = np.abs(avg * rng.standard_normal(int(zeros.sum())) / 100.0)
    return H.astype(dtype), Wt.astype(dtype)


def check_custom_factor(name: str, A, shape: tuple[int, int], dtype):
    """Validate a user-supplied initial factor (shape, finiteness, non-negativity); ``name``
    is the public argument's (scikit-learn's ``W`` or ``H``)."""
    if A is None:
        raise ValueError(f"init='custom' needs both W and H passed to fit; {name} is missing.")
    from ..core.backend import to_numpy  # noqa: PLC0415  (keeps this module NumPy-only)

    A = np.array(to_numpy(A), dtype=dtype, copy=True)
    if A.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {A.shape}.")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    if (A < 0).any():
        raise ValueError(f"{name} must be non-negative (min {A.min():g}).")
    return A
