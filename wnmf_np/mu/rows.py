"""``transform`` of the multiplicative baselines: the H-subproblem, solved row by row.

Names as in :mod:`wnmf_np.mu.updates`. With the basis ``Wt`` (n_components, n_features)
(``components_``) fixed, ``min_{H ≥ 0} f(H, W)`` separates over the rows of the latents
``H`` (n_samples, n_components): row ``i`` sees only row ``i`` of ``X`` and of the mask,
and the penalty on ``H`` (scaled by ``n_features``, not by the
number of samples). The MU step is row-local already; what used to tie a sample to the
rest of its batch was the start (the batch mean) and the stopping test (the batch's
summed objective), so that ``transform(X)[i]`` changed with the other rows of ``X``
(scikit-learn's ``check_methods_subset_invariance`` and ``..._sample_order_invariance``
failed). Here every row starts from its own observed mean and stops on its own criterion;
a converged row is frozen while the others continue.
"""

from __future__ import annotations

import numpy as np

from .updates import Problem, row_divergence, update_H

#: the objective is evaluated (and convergence tested) every CHECK_EVERY iterations
CHECK_EVERY = 10


def row_start(prob: Problem, n_components: int, dtype, per_mean=None):
    """Start ``H0[i, :] = sqrt(mean_i / r)``, ``mean_i`` the observed mean of row ``i``: (n, r).

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
    H0 = xp.empty((n, n_components), dtype=dtype)
    means = xp.maximum(sums / counts, 0.0)
    H0[...] = (xp.sqrt(means / n_components) if per_mean is None else means * per_mean)[:, None]
    return H0


def row_objective(prob: Problem, H, Wt):
    """``f`` restricted to each row: ``d_β(x_i | h_i Wt) + l1_H Σ h_i + ½ l2_H ‖h_i‖²``, float64 (n,)."""
    xp, pen = prob.xp, prob.penalty
    f = row_divergence(prob, H, Wt)
    if pen.l1_H or pen.l2_H:
        H64 = H.astype(np.float64)
        f = f + pen.l1_H * H64.sum(axis=1) + 0.5 * pen.l2_H * xp.einsum("ij,ij->i", H64, H64)
    return f


def solve_rows(prob: Problem, H, Wt, *, max_iter: int, tol: float):
    """MU steps on the latents ``H`` alone (in place), each row stopping on its own.

    Every ``CHECK_EVERY`` iterations (when ``tol > 0``) row ``i`` is done once
    ``(f_i,prev − f_i) / f_i,0 < tol``, :class:`MultiplicativeNMF`'s criterion applied
    to the row's own objective; done rows keep their values while the others go on,
    until every row is done or ``max_iter`` is reached.

    Returns
    -------
    H : array (n_samples, n_components)
    n_iter : int
        Iterations of the slowest row.
    """
    xp = prob.xp
    xp.maximum(H, prob.eps, out=H)  # an exact 0 would stay 0 forever under MU
    fixed = {}
    if prob.beta == 2.0 and prob.mask is None:  # X touched once, for XW = X Wtᵀ
        fixed = {"XW": xp.asarray(prob.X @ Wt.T), "WtW": Wt @ Wt.T}
    f0 = prev = row_objective(prob, H, Wt) if tol > 0 else None
    done, n_iter = None, 0
    for n_iter in range(1, max_iter + 1):
        kept = None if done is None else H[done]
        update_H(prob, H, Wt, **fixed)
        if kept is not None:
            H[done] = kept
        if tol > 0 and n_iter % CHECK_EVERY == 0:
            f = row_objective(prob, H, Wt)
            converged = (prev - f) / xp.maximum(f0, np.finfo(np.float64).tiny) < tol
            done = converged if done is None else done | converged
            if bool(done.all()):
                break
            prev = f
    return H, n_iter
