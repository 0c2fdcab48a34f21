"""Deep unfolding of the multiplicative H-update: forward, hand-written backward, W-step.

Nasser, Eldar & Sharan, "Deep unfolding for non-negative matrix factorization with
application to mutational signature analysis", J. Comput. Biol. 29(1), 2022 (the
unsupervised form of their public code). The estimator shell is
:class:`wnmf_np.mu.unfolded.UnfoldedNMF`.

Names (the package convention, :mod:`wnmf_np`; a trailing ``t`` marks a transpose): the
arrays passed in are in sklearn's orientation, a batch ``Xb`` of shape (b, m) with samples
as rows; the equations use the paper's, with samples as columns: ``X = Xb.T`` (m, b), the
basis ``W`` (m, r) stored as its transpose ``Wt`` (r, m) (= ``components_``), and the
latents H⁽ᵏ⁾ (r, b) of the equations stored as ``Ht``, the transpose of the latents
``H`` (b, r) the estimator returns. Layer ``k`` of ``K`` owns ``A_k`` (r, m) (in the
role of Wᵀ) and ``B_k`` (r, r) (in the role of WᵀW), stacked as ``A`` (K, r, m) and ``B``
(K, r, r). With ``ε`` the float32 machine epsilon (whatever the working dtype):

    N_k = A_k X,   Q_k = B_k H⁽ᵏ⁾ + λ₂ H⁽ᵏ⁾ + λ₁ + ε,   R_k = N_k ⊘ Q_k,
    H⁽ᵏ⁺¹⁾ = H⁽ᵏ⁾ ⊙ R_k,   H⁽⁰⁾ = 1.

X enters every layer, so all ``N_k`` come from one GEMM ``[A_0; …; A_{K-1}] X``. The
training objective, with ``W`` held fixed, is

    L = [½ ‖X − W H⁽ᴷ⁾‖²_F + λ₁ Σ H⁽ᴷ⁾ + ½ λ₂ Σ (H⁽ᴷ⁾)²] / n,
    ∂L/∂H⁽ᴷ⁾ = [WᵀW H⁽ᴷ⁾ − WᵀX + λ₁ + λ₂ H⁽ᴷ⁾] / n,

and the backward of one layer, with ``G′ = ∂L/∂H⁽ᵏ⁺¹⁾`` and ``S = G′ ⊙ H⁽ᵏ⁾ ⊘ Q_k``:

    ∂L/∂A_k = S Xᵀ,   ∂L/∂Q_k = −G′ ⊙ H⁽ᵏ⁺¹⁾ ⊘ Q_k,   ∂L/∂B_k = (∂L/∂Q_k) H⁽ᵏ⁾ᵀ,
    ∂L/∂H⁽ᵏ⁾ = G′ ⊙ R_k + B_kᵀ (∂L/∂Q_k) + λ₂ ∂L/∂Q_k.

All ``S`` are stacked so that the ``K`` products ``S Xᵀ`` are again one GEMM. The
derivation is in ``docs/math.md``. ``W`` is not trained by gradient: it is re-solved by
non-negative least squares given H⁽ᴷ⁾ (:func:`nnls_active_set`, :func:`nnls_scipy`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

from ..core.backend import namespace_of, to_numpy

#: ε of the layer map: float32 machine epsilon in every working dtype (the authors' value)
EPS = float(np.finfo(np.float32).eps)
#: active-set NNLS: a row is solved when no dual entry exceeds NNLS_TOL · max|c_i|
NNLS_TOL = 1e-10
#: a Cholesky pivot below CHOL_RTOL × its diagonal entry marks a collinear variable
CHOL_RTOL = 1e-12


class Layers(NamedTuple):
    """The trainable matrices of all layers (both ≥ 0).

    Attributes
    ----------
    A : array (K, r, m)
        ``A_k``, in the role of Wᵀ.
    B : array (K, r, r)
        ``B_k``, in the role of WᵀW.
    """

    A: Any
    B: Any


class Cache(NamedTuple):
    """What the backward needs: ``(2K + 1) r b`` numbers.

    Attributes
    ----------
    Ht : array (K + 1, r, b)
        H⁽⁰⁾ … H⁽ᴷ⁾ (the output is ``Ht[-1]``).
    N : array (K, r, b)
        ``N_k = A_k X``; ``Q_k`` and ``R_k`` are recomputed from it (``r² b`` each).
    """

    Ht: Any
    N: Any


def _denominator(B_k, Ht, l1: float, l2: float):
    """``Q = B_k Ht + λ₂ Ht + λ₁ + ε`` (r, b)."""
    Q = B_k @ Ht
    if l2:
        Q += l2 * Ht
    Q += l1 + EPS
    return Q


def forward(layers: Layers, Xb, l1: float, l2: float, *, Ht0=None, keep: bool = True):
    """Run the ``K`` layers on a batch.

    Parameters
    ----------
    layers : Layers
    Xb : array (b, m)
        Samples as rows (the paper's X is ``Xb.T``).
    l1, l2 : float
        λ₁, λ₂ of the layer map.
    Ht0 : array (r, b), optional
        Input of the first layer; all ones by default (the model's H⁽⁰⁾).
    keep : bool
        Keep the :class:`Cache` for :func:`backward` (else ``None`` is returned for it
        and only ``r b`` numbers beyond ``N`` are held).

    Returns
    -------
    Ht : array (r, b)
        H⁽ᴷ⁾, the latents of the batch (as columns).
    cache : Cache or None
    """
    xp = namespace_of(Xb)
    K, r, m = layers.A.shape
    b = Xb.shape[0]
    N = (layers.A.reshape(K * r, m) @ Xb.T).reshape(K, r, b)  # one GEMM for all layers
    Ht = xp.ones((r, b), dtype=Xb.dtype) if Ht0 is None else Ht0
    Hts = xp.empty((K + 1, r, b), dtype=Xb.dtype) if keep else None
    for k in range(K):
        if keep:
            Hts[k] = Ht
        Ht = Ht * (N[k] / _denominator(layers.B[k], Ht, l1, l2))
    if not keep:
        return Ht, None
    Hts[K] = Ht
    return Ht, Cache(Hts, N)


def backward(G, cache: Cache, layers: Layers, Xb, l1: float, l2: float) -> tuple[Layers, Any]:
    """Back-propagate ``G = ∂L/∂H⁽ᴷ⁾`` (r, b) through the layers (module docstring).

    ``Xb`` (b, m) is the batch the forward ran on; ``cache.N`` is overwritten with the
    ``S`` of each layer. Returns ``(Layers(∂L/∂A, ∂L/∂B), ∂L/∂H⁽⁰⁾)``.
    """
    xp = namespace_of(Xb)
    K, r, m = layers.A.shape
    b = Xb.shape[0]
    gB = xp.empty_like(layers.B)
    S_all = cache.N  # N_k is dead once R_k is formed: S_k takes its place
    for k in range(K - 1, -1, -1):
        Ht, Ht_next = cache.Ht[k], cache.Ht[k + 1]
        Q = _denominator(layers.B[k], Ht, l1, l2)
        R = S_all[k] / Q
        S = G * Ht / Q
        dQ = -G * Ht_next / Q
        gB[k] = dQ @ Ht.T
        G = G * R + layers.B[k].T @ dQ
        if l2:
            G += l2 * dQ
        S_all[k] = S
    gA = (S_all.reshape(K * r, b) @ Xb).reshape(K, r, m)  # one GEMM for all layers
    return Layers(gA, gB), G


# ------------------------------------------------------------------- top of the network
def objective(Wt, Ht, Xb, x_sq: float, l1: float, l2: float, n: int, *, grad: bool = True):
    """Loss ``L`` and ``∂L/∂H⁽ᴷ⁾`` with ``W`` fixed (module docstring).

    Parameters
    ----------
    Wt : array (r, m)
        Wᵀ (``components_``).
    Ht : array (r, b)
        H⁽ᴷ⁾ of the batch ``Xb`` (b, m).
    x_sq : float
        ``‖Xb‖²_F``; the data term is ``½ (‖X‖² − 2⟨WᵀX, Ht⟩ + ⟨WᵀW Ht, Ht⟩)``, which needs
        no (m, b) residual. Its sums are accumulated in float64.
    n : int
        The divisor (the number of samples of the batch).

    Returns
    -------
    value : float
    G : array (r, b) or None
    """
    WtX = Wt @ Xb.T
    WtWHt = (Wt @ Wt.T) @ Ht
    f64 = np.float64
    data = 0.5 * x_sq - float((WtX * Ht).sum(dtype=f64)) + 0.5 * float((WtWHt * Ht).sum(dtype=f64))
    pen = l1 * float(Ht.sum(dtype=f64)) + 0.5 * l2 * float((Ht * Ht).sum(dtype=f64))
    value = (max(data, 0.0) + pen) / n
    if not grad:
        return value, None
    G = WtWHt - WtX
    if l2:
        G += l2 * Ht
    G += l1
    G /= n
    return value, G


# ------------------------------------------------------------------------- W-step: NNLS
@numba.njit(cache=True)
def _cholesky_solve(G, c, idx, p, L, y, z):  # pragma: no cover - compiled
    """``z[idx[:p]] = G_PP⁻¹ c_P`` by Cholesky; False when ``G_PP`` is numerically singular."""
    for a in range(p):
        for b in range(a + 1):
            s = G[idx[a], idx[b]]
            for k in range(b):
                s -= L[a, k] * L[b, k]
            if a == b:
                if s <= CHOL_RTOL * G[idx[a], idx[a]] or s <= 0.0:
                    return False
                L[a, a] = np.sqrt(s)
            else:
                L[a, b] = s / L[b, b]
    for a in range(p):
        s = c[idx[a]]
        for k in range(a):
            s -= L[a, k] * y[k]
        y[a] = s / L[a, a]
    for a in range(p - 1, -1, -1):
        s = y[a]
        for k in range(a + 1, p):
            s -= L[k, a] * z[idx[k]]
        z[idx[a]] = s / L[a, a]
    return True


@numba.njit(cache=True, inline="always")
def _free_set(passive, idx, z, clear):  # pragma: no cover - compiled
    """The free (passive) indices into ``idx[:p]``, returning p; with ``clear`` z ← 0 first."""
    p = 0
    for j in range(passive.size):
        if clear:
            z[j] = 0.0
        if passive[j]:
            idx[p] = j
            p += 1
    return p


@numba.njit(cache=True)
def _lawson_hanson_rows(G, C, W, tol, max_outer, warm):  # pragma: no cover - compiled
    """Lawson–Hanson active set for every row ``i``: ``W[i] = argmin_{w ≥ 0} ½ wᵀGw − C[i]·w``.

    ``G`` (r, r), ``C`` and ``W`` (m, r), float64. With ``warm``, the support of the
    ``W`` passed in is the starting free set: solve on it and drop the entries that come
    out ≤ 0 until the solution is positive (a valid Lawson–Hanson state), then iterate as
    from cold. Returns the number of Cholesky solves over all rows.
    """
    m, r = C.shape
    L = np.empty((r, r))
    y = np.empty(r)
    z = np.empty(r)
    x = np.empty(r)
    idx = np.empty(r, np.int64)
    passive = np.empty(r, np.bool_)
    blocked = np.empty(r, np.bool_)
    total = 0
    for i in range(m):
        c = C[i]
        x[:] = 0.0
        passive[:] = False
        blocked[:] = False
        scale = 0.0
        for j in range(r):
            scale = max(scale, abs(c[j]))
            passive[j] = warm and W[i, j] > 0.0
        while warm:  # the previous free set, shrunk until its least-squares point is positive
            p = _free_set(passive, idx, z, True)
            if p == 0:
                break
            total += 1
            if not _cholesky_solve(G, c, idx, p, L, y, z):
                passive[:] = False  # start cold instead
                break
            positive = True
            for a in range(p):
                if z[idx[a]] <= 0.0:
                    passive[idx[a]] = False
                    positive = False
            if positive:
                for j in range(r):
                    x[j] = z[j]
                break
        for _ in range(max_outer):
            p = _free_set(passive, idx, z, False)
            best, best_val = -1, tol * scale  # the most violated dual w_j = (c − G x)_j > 0
            for j in range(r):
                if passive[j] or blocked[j]:
                    continue
                s = c[j]
                for a in range(p):
                    s -= G[j, idx[a]] * x[idx[a]]
                if s > best_val:
                    best, best_val = j, s
            if best < 0:
                break
            passive[best] = True
            first = True
            while True:
                p = _free_set(passive, idx, z, True)
                total += 1
                if not _cholesky_solve(G, c, idx, p, L, y, z):
                    passive[best] = False  # collinear with the passive set: adds nothing
                    blocked[best] = True
                    break
                alpha, arg = 2.0, -1
                for a in range(p):
                    j = idx[a]
                    if z[j] <= 0.0:
                        step = x[j] / (x[j] - z[j])
                        if step < alpha:
                            alpha, arg = step, j
                if arg < 0:  # the least-squares point is feasible: accept it
                    for j in range(r):
                        x[j] = z[j]
                    break
                if first and arg == best:  # rounding: the new variable wants to stay at 0
                    passive[best] = False
                    blocked[best] = True
                    break
                first = False
                for a in range(p):  # move to the boundary, drop what reached it
                    j = idx[a]
                    x[j] += alpha * (z[j] - x[j])
                    if j == arg or x[j] <= 0.0:
                        x[j] = 0.0
                        passive[j] = False
        for j in range(r):
            W[i, j] = x[j]
    return total


def nnls_active_set(Ht, Xb, *, Wt0=None, tol: float = NNLS_TOL) -> tuple[Any, int]:
    """``W = argmin_{W ≥ 0} ½ ‖X − W Ht‖²_F``, exactly, by Lawson–Hanson on the Gram matrix.

    The ``m`` row problems ``min_{w ≥ 0} ½ wᵀ G w − c_i·w`` share ``G = Ht Htᵀ`` (r, r) and
    need only ``C = Ht Xᵀ`` (r, m) (one GEMM, in the working dtype); the active-set loop
    (the algorithm of ``scipy.optimize.nnls``, on ``G`` instead of the n × r data) runs
    per row in float64 in a serial numba kernel, on the host for both backends (for CuPy
    it moves ``r² + r m`` numbers each way). Warm start: the support of ``Wt0`` (the
    previous step's solution) is the first free set, so a row whose support did not
    change costs one Cholesky solve of its free set and one dual check (a cold start
    adds the free variables one solve at a time: on ORL the supports grow to ~20 of 40
    during training, which made cold solves 5× slower than the forward). The result
    does not depend on the start: a row stops only when its KKT conditions hold, no dual
    entry above ``tol · max|c_i|``. A variable whose column is numerically collinear
    with the free ones (Cholesky pivot below ``CHOL_RTOL`` of its diagonal) is left at 0.

    Parameters
    ----------
    Ht : array (r, b)
    Xb : array (b, m)
        Samples as rows.
    Wt0 : array (r, m), optional
        Warm start (only its support is used).

    Returns
    -------
    Wt : array (r, m) of the working dtype, on the backend of ``Ht``
    solves : int
        Cholesky solves over all rows (a work count).
    """
    xp = namespace_of(Ht)
    Ht64 = Ht.astype(np.float64)
    G = np.ascontiguousarray(to_numpy(Ht64 @ Ht64.T))  # float64: the Gram squares cond(Ht)
    C = np.ascontiguousarray(to_numpy(Xb.T @ Ht.T), dtype=np.float64)  # (m, r) = (Ht Xᵀ)ᵀ
    warm = Wt0 is not None
    W = np.ascontiguousarray(to_numpy(Wt0).T, dtype=np.float64) if warm else np.empty_like(C)
    solves = _lawson_hanson_rows(G, C, W, tol, 3 * G.shape[0], warm)
    return xp.asarray(np.ascontiguousarray(W.T, dtype=Ht.dtype)), int(solves)


def nnls_scipy(Ht, Xb):
    """Exact per-row NNLS by ``scipy.optimize.nnls`` (Lawson–Hanson active set), the
    authors' solver: ``m`` problems ``min ‖H w − x_i‖`` (``H = Htᵀ``), each (b × r). NumPy only, slow
    (ORL: 10304 problems of 400 × 40 per step). Returns ``Wt`` (r, m)."""
    from scipy.optimize import nnls  # noqa: PLC0415

    H = np.asarray(to_numpy(Ht), dtype=np.float64).T
    X = np.asarray(to_numpy(Xb), dtype=np.float64)
    Wt = np.empty((Ht.shape[0], X.shape[1]))
    for i in range(X.shape[1]):
        Wt[:, i] = nnls(H, X[:, i])[0]
    return Wt.astype(Ht.dtype)


def nnls_objective(Wt, Ht, Xb) -> float:
    """``½ ‖X − W Ht‖²_F`` (float64, dense; for tests and diagnostics)."""
    R = (Wt.T @ Ht - Xb.T).astype(np.float64)
    return 0.5 * float((R * R).sum())
