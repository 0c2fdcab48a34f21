"""Initial values of the factors (on the host, from a seeded NumPy Generator).

``"he_uniform"`` (default, the paper's recipe after He et al. 2015): every entry of W and H
uniform on [-a, a] with a = sqrt(6 / r), the He/Kaiming uniform bound for a ReLU layer of
fan-in r (the inner dimension of the product). Entries start with both signs: that is
what makes η = 0 (ReLU) hard, since a negative entry then gets no gradient.

``"auto"`` (default): ``"random_nonneg"`` for the KL loss, ``"he_uniform"`` otherwise.

``"random_nonneg"``: uniform on [0, 2c] with c = sqrt(mean(X) / r), so that E[φ(H) φ(W)]
matches the mean of the data (the scaling of scikit-learn's random NMF init). For a
product of F factors with inner dimensions d_1 … d_{F-1} (deep WNMF: the ranks) it is
c = (mean(X) / Π d)^(1/F), so the product, not each factor, has the data's scale (with
c = sqrt(mean / r) per factor, three factors of data at 1e30 overflow float32).
"""

from __future__ import annotations

import math

import numpy as np

#: the ``init`` options of the gradient-trained WNMF family
WNMF_INITS = ("auto", "he_uniform", "random_nonneg")


def resolve_init(init: str, loss: str) -> str:
    """``"auto"``: ``"random_nonneg"`` for the KL loss (whose reconstruction should start
    positive), ``"he_uniform"`` (the paper's recipe) otherwise."""
    if init == "auto":
        return "random_nonneg" if loss == "kl" else "he_uniform"
    return init


def init_factor(
    shape, init: str, rng: np.random.Generator, *, rank: int, data_mean: float, dtype, inner_dims=None
) -> np.ndarray:
    """Draw one factor of ``shape`` for a product with inner dimension ``rank``.

    ``inner_dims``: the inner dimensions of the whole product the factor belongs to, for
    "random_nonneg" (default ``(rank,)``: a product of two factors).

    Returns
    -------
    ndarray of ``shape`` and ``dtype`` (host memory)
    """
    if init == "he_uniform":
        a = math.sqrt(6.0 / rank)
        return rng.uniform(-a, a, size=shape).astype(dtype)
    if init == "random_nonneg":
        dims = (rank,) if inner_dims is None else tuple(inner_dims)
        c = (max(data_mean, 0.0) / math.prod(dims)) ** (1.0 / (len(dims) + 1)) or 1.0 / math.sqrt(rank)
        return rng.uniform(0.0, 2.0 * c, size=shape).astype(dtype)
    raise ValueError(f"init must be one of {WNMF_INITS}, got {init!r}.")


def ridge_least_squares(B, X, xp, relative: float, *, per_rank: bool = True, at_least: float = 0.0):
    """The ridge least-squares coefficients A of X ≈ A B, in float64 (the warm starts of
    ``transform``): A = X Bᵀ (B Bᵀ + εI)⁻¹, each row of X solved on its own.

    ε = ``relative`` · tr(B Bᵀ) / r (``per_rank``; · tr(B Bᵀ) without it), at least
    ``at_least``, plus 1e-12: relative to the basis' scale, and never singular. The
    estimators pass their own constant (WNMF, DeepWNMF: 1e-6 of the mean diagonal;
    DeepMultiplicativeNMF: 1e-8 of the trace, at least its λ).

    Parameters
    ----------
    B : array of shape (r, n_features)
        The basis, on the backend of ``xp``.
    X : array of shape (n_samples, n_features)
    xp : array namespace of B and X

    Returns
    -------
    A : float64 array of shape (n_samples, r)
    """
    B64 = B.astype(xp.float64)  # float64: the Gram matrix and solve must not overflow for float32 data
    gram = B64 @ B64.T
    ridge = relative * float(xp.trace(gram))
    if per_rank:
        ridge = ridge / gram.shape[0]
    if at_least:
        ridge = max(at_least, ridge)
    gram = gram + (ridge + 1e-12) * xp.eye(gram.shape[0], dtype=gram.dtype)
    return xp.linalg.solve(gram, B64 @ X.T.astype(xp.float64)).T
