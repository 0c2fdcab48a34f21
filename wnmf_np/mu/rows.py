"""``transform`` of the multiplicative baselines: the W-subproblem, solved row by row.

With the components ``H`` (n_components, n_features) fixed, ``min_{W ≥ 0} f(W, H)``
separates over the rows of ``W`` (n_samples, n_components): row ``i`` sees only row ``i``
of ``X`` and of the mask, and the W-side penalty (scaled by ``n_features``, not by the
number of samples). The MU step is row-local already; what used to tie a sample to the
rest of its batch was the start (the batch mean) and the stopping test (the batch's
summed objective), so that ``transform(X)[i]`` changed with the other rows of ``X``
(scikit-learn's ``check_methods_subset_invariance`` and ``..._sample_order_invariance``
failed). Here every row starts from its own observed mean and stops on its own criterion;
a converged row is frozen while the others continue.
"""

from __future__ import annotations

import numpy as np

from .updates import Problem, row_divergence, update_W

#: the objective is evaluated (and convergence tested) every CHECK_EVERY iterations
CHECK_EVERY = 10


def row_start(prob: Problem, n_components: int, dtype, per_mean=None):
    """Start ``W0[i, :] = sqrt(mean_i / r)``, ``mean_i`` the observed mean of row ``i``: (n, r).

    sklearn's constant start ``sqrt(mean(X) / r)`` taken per row, so that it does not
    depend on the other samples. ``X @ 1`` works for dense, sparse and out-of-core ``X``.
    With ``per_mean`` the start is ``mean_i · per_mean`` instead: linear in the row, so
    that the start for ``c x_i`` is ``c`` times the start for ``x_i`` (transform's
    scale equivariance).
    """
    xp = prob.xp
    n, m = prob.X.shape
    sums = xp.asarray(prob.X @ xp.ones((m, 1), dtype=dtype)).reshape(n)
    counts = m if prob.mask is None else xp.maximum(prob.mask.sum(axis=1), 1)
    W0 = xp.empty((n, n_components), dtype=dtype)
    means = xp.maximum(sums / counts, 0.0)
    W0[...] = (xp.sqrt(means / n_components) if per_mean is None else means * per_mean)[:, None]
    return W0


def row_objective(prob: Problem, W, H):
    """``f`` restricted to each row: ``d_β(x_i | w_i H) + l1_W Σ w_i + ½ l2_W ‖w_i‖²``, float64 (n,)."""
    xp, pen = prob.xp, prob.penalty
    f = row_divergence(prob, W, H)
    if pen.l1_W or pen.l2_W:
        W64 = W.astype(np.float64)
        f = f + pen.l1_W * W64.sum(axis=1) + 0.5 * pen.l2_W * xp.einsum("ij,ij->i", W64, W64)
    return f


def solve_rows(prob: Problem, W, H, *, max_iter: int, tol: float):
    """MU steps on ``W`` alone (in place), each row stopping on its own.

    Every ``CHECK_EVERY`` iterations (when ``tol > 0``) row ``i`` is done once
    ``(f_i,prev − f_i) / f_i,0 < tol``, :class:`MultiplicativeNMF`'s criterion applied
    to the row's own objective; done rows keep their values while the others go on,
    until every row is done or ``max_iter`` is reached.

    Returns
    -------
    W : array (n_samples, n_components)
    n_iter : int
        Iterations of the slowest row.
    """
    xp = prob.xp
    xp.maximum(W, prob.eps, out=W)  # an exact 0 would stay 0 forever under MU
    fixed = {}
    if prob.beta == 2.0 and prob.mask is None:  # X touched once, for X Hᵀ
        fixed = {"XHt": xp.asarray(prob.X @ H.T), "HHt": H @ H.T}
    f0 = prev = row_objective(prob, W, H) if tol > 0 else None
    done, n_iter = None, 0
    for n_iter in range(1, max_iter + 1):
        kept = None if done is None else W[done]
        update_W(prob, W, H, **fixed)
        if kept is not None:
            W[done] = kept
        if tol > 0 and n_iter % CHECK_EVERY == 0:
            f = row_objective(prob, W, H)
            converged = (prev - f) / xp.maximum(f0, np.finfo(np.float64).tiny) < tol
            done = converged if done is None else done | converged
            if bool(done.all()):
                break
            prev = f
    return W, n_iter
