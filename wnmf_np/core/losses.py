"""Reconstruction losses: value and gradient w.r.t. the reconstruction, in one function.

Every loss compares data X with a reconstruction Y (same shape, e.g. a mini-batch of
shape (b, n_features)) and uses the *mean reduction over observed entries*:

    L(X, Y) = (1 / N) Σ_ij w_ij f(x_ij, y_ij),      N = Σ_ij w_ij,

with w_ij = 1 where the entry is observed and 0 where it is missing (no mask: w = 1,
N = X.size). This is PyTorch's ``reduction="mean"`` for the unmasked case. The returned
gradient is dL/dY = w ⊙ f'(X, Y) / N; missing entries get exactly 0.

Element losses f and their derivatives f' w.r.t. y (r = y - x):

- ``"l1"``:    f = |r|                         f' = sign(r)   (0 at r = 0)
- ``"l2"``:    f = r² / 2                      f' = r
- ``"huber"``: f = r² / 2 if |r| <= δ,         f' = clip(r, -δ, δ)
                   δ (|r| - δ / 2) otherwise
- ``"kl"``:    generalised Kullback-Leibler divergence for x >= 0,
               f = x log(x / y) - x + y  for y >= ε   (x log x := 0 at x = 0)
               f' = 1 - x / y
               Below ε (a weakly non-negative reconstruction can be <= 0) f continues as
               its second-order Taylor polynomial at ε with curvature c = max(x, ε) / ε²:
               f = f(ε) + f'(ε)(y - ε) + c (y - ε)² / 2, f' = f'(ε) + c (y - ε).
               This keeps f convex and C¹ and bounded below, and its gradient pushes y
               back up towards max(x, ε)-ish values instead of stalling (a hard clamp at ε
               would have zero gradient there). For x = 0 it reduces to f = y²/(2ε) + ε/2.

These functions are the readable definitions and the test oracle; the fused kernels in
:mod:`wnmf_np.kernels` compute the same values in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .backend import namespace_of

KL_EPS = 1e-6
"""ε of the KL loss's quadratic continuation (see module docstring)."""


class LossSpec(NamedTuple):
    """A loss by name with its parameter (δ for Huber, ε for KL; unused otherwise)."""

    name: str
    param: float = 0.0


def _weights(X, observed, n_entries=None):
    """Observation weights (1 observed, 0 missing) and their sum N, in X's dtype.

    ``n_entries`` replaces N = X.size when nothing is masked (a padded layout whose padding
    adds nothing to the loss, see :mod:`wnmf_np.kernels`)."""
    xp = namespace_of(X)
    if observed is None:
        return None, X.size if n_entries is None else n_entries
    w = observed.astype(X.dtype)
    # max(N, 1): a batch with nothing observed has zero loss and gradient, not 0/0
    return w, xp.maximum(xp.sum(w), 1)


def _reduce(xp, elementwise, w, n_obs):
    total = xp.sum(elementwise) if w is None else xp.sum(elementwise * w)
    return total / n_obs


def l1_loss(X, Y, observed=None, param=0.0, n_entries=None):
    """Mean absolute error and its (sub)gradient; see the module docstring.

    Parameters
    ----------
    X, Y : arrays of shape (b, n_features)
    observed : bool array of the same shape, optional
    param : unused
    n_entries : int, optional
        The mean's denominator when ``observed`` is None (default ``X.size``).

    Returns
    -------
    value : 0-d array (on X's device)
    grad : array of shape (b, n_features), dL/dY
    """
    xp = namespace_of(X)
    w, n_obs = _weights(X, observed, n_entries)
    R = Y - X
    value = _reduce(xp, xp.abs(R), w, n_obs)
    grad = xp.sign(R) / n_obs
    return value, grad if w is None else grad * w


def l2_loss(X, Y, observed=None, param=0.0, n_entries=None):
    """Half mean squared error ``(1/N) Σ w (y - x)² / 2`` and its gradient (shapes as l1_loss)."""
    xp = namespace_of(X)
    w, n_obs = _weights(X, observed, n_entries)
    R = Y - X
    value = _reduce(xp, 0.5 * R * R, w, n_obs)
    grad = R / n_obs
    return value, grad if w is None else grad * w


def huber_loss(X, Y, observed=None, param=1.0, n_entries=None):
    """Huber loss with threshold δ = ``param`` (> 0) and its gradient (shapes as l1_loss)."""
    xp = namespace_of(X)
    delta = param
    w, n_obs = _weights(X, observed, n_entries)
    R = Y - X
    A = xp.abs(R)
    f = xp.where(A <= delta, 0.5 * R * R, delta * (A - 0.5 * delta))
    value = _reduce(xp, f, w, n_obs)
    grad = xp.clip(R, -delta, delta) / n_obs
    return value, grad if w is None else grad * w


def kl_loss(X, Y, observed=None, param=KL_EPS, n_entries=None):
    """Generalised KL divergence D(X | Y) with the quadratic continuation below ε = ``param``.

    X must be non-negative (checked at the public boundary). Shapes as :func:`l1_loss`.
    """
    xp = namespace_of(X)
    eps = param
    w, n_obs = _weights(X, observed, n_entries)
    Yc = xp.maximum(Y, eps)
    # x log(x / y) with the convention 0 log 0 = 0: use log(max(x, tiny)) where x = 0.
    safe_x = xp.where(X > 0, X, 1)
    xlog = xp.where(X > 0, X * (xp.log(safe_x) - xp.log(Yc)), 0)
    f_above = xlog - X + Yc
    df_above = 1 - X / Yc
    curvature = xp.maximum(X, eps) / (eps * eps)
    d = Y - eps
    below = Y < eps
    f = xp.where(below, f_above + df_above * d + 0.5 * curvature * d * d, f_above)
    df = xp.where(below, df_above + curvature * d, df_above)
    value = _reduce(xp, f, w, n_obs)
    grad = df / n_obs
    return value, grad if w is None else grad * w


LOSSES: dict[str, Callable] = {"l1": l1_loss, "l2": l2_loss, "huber": huber_loss, "kl": kl_loss}
"""Reference loss functions by name: ``fn(X, Y, observed=None, param, n_entries=None) -> (value, dL/dY)``."""

#: the names of the losses (the ``loss`` parameter of the WNMF family, the CLI's ``--loss``)
LOSS_NAMES = tuple(LOSSES)


def loss_value_and_grad(spec: LossSpec, X, Y, observed=None):
    """Evaluate the reference loss ``spec`` (see :data:`LOSSES`)."""
    return LOSSES[spec.name](X, Y, observed, spec.param)
