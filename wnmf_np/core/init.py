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

INITS = ("auto", "he_uniform", "random_nonneg")


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
    raise ValueError(f"init must be one of {INITS}, got {init!r}.")
