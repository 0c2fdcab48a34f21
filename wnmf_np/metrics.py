"""Evaluation measures: clustering quality of latents, factor statistics, reconstruction errors.

Convention (scikit-learn's): data and latent matrices have one sample per row, so the
latents of the paper, ``H`` (r, n), are passed as ``H.T`` (n, r). Every function accepts
NumPy or CuPy arrays (CuPy input is copied to the host) and returns plain Python floats.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from .core.backend import to_numpy
from .core.validation import check_int, check_random_state_seed

__all__ = ["NMIResult", "clustering_nmi", "factor_stats", "negativity", "reconstruction_errors"]

# An entry counts as zero in ``factor_stats`` when |a| <= SPARSITY_RTOL * max|A|.
SPARSITY_RTOL = 1e-3


class NMIResult(NamedTuple):
    """NMI of k-means clusterings over several runs.

    Attributes
    ----------
    mean : float
        Mean NMI over the runs.
    std : float
        Standard deviation over the runs (population, ``ddof=0``).
    scores : ndarray of shape (n_runs,)
        NMI of each run, in [0, 1].
    """

    mean: float
    std: float
    scores: np.ndarray


def _host_matrix(name: str, A: Any) -> np.ndarray:
    """``A`` as a finite 2-D float64 host array, with errors naming the argument."""
    if sp.issparse(A):
        A = A.toarray()
    A = to_numpy(A)
    if A.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers, got dtype {A.dtype}.")
    A = A.astype(np.float64, copy=False)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}.")
    if A.size == 0:
        raise ValueError(f"{name} is empty, shape {A.shape}.")
    return A


def clustering_nmi(
    latents: Any,
    labels: Any,
    n_clusters: int,
    n_runs: int = 10,
    random_state: Any = 0,
    *,
    n_init: int = 10,
    average_method: str = "arithmetic",
) -> NMIResult:
    """k-means on latent vectors, scored by normalized mutual information with the labels.

    This is the paper's evaluation: cluster the n latent vectors with k-means and
    compare the clusters with the classes. Each run is one scikit-learn ``KMeans`` fit with
    its own seed and ``n_init`` restarts (the lowest-inertia restart is kept), so the
    spread over runs shows the sensitivity to the initialisation.

    Parameters
    ----------
    latents : array-like of shape (n_samples, n_components)
        One latent vector per sample (NumPy or CuPy); must be finite.
    labels : array-like of shape (n_samples,)
        Ground-truth classes (any hashable values).
    n_clusters : int
        Number of k-means clusters, in [1, n_samples]; usually the number of classes.
    n_runs : int, default 10
        Number of k-means runs.
    random_state : int, numpy Generator or None, default 0
        Seeds the per-run seeds; an int gives reproducible results.
    n_init : int, default 10
        k-means restarts per run. 10 was scikit-learn's default until version 1.4 and
        is the usual protocol of the NMF clustering literature; ``n_init=1`` scores a
        single k-means++ start and gives lower, noisier NMI (on ORL latents about
        2 points lower at k = 40; see docs/results).
    average_method : {"arithmetic", "geometric", "min", "max"}, default "arithmetic"
        Normalisation of the mutual information, passed to
        :func:`sklearn.metrics.normalized_mutual_info_score`. The NMI of the paper's
        reference [19] divides by the larger entropy (``"max"``).

    Returns
    -------
    NMIResult
        ``(mean, std, scores)``; ``scores`` has shape (n_runs,).
    """
    X = _host_matrix("latents", latents)
    if not np.isfinite(X).all():
        raise ValueError("latents contains NaN or infinite values.")
    y = to_numpy(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"labels has {y.shape[0]} entries but latents has {X.shape[0]} rows (samples); "
            "pass latents as (n_samples, n_components), e.g. H.T for the paper's H."
        )
    n_clusters = check_int("n_clusters", n_clusters, low=1, high=X.shape[0])
    n_runs = check_int("n_runs", n_runs, low=1)
    n_init = check_int("n_init", n_init, low=1)
    seeds = check_random_state_seed(random_state).integers(0, 2**31 - 1, size=n_runs)
    scores = np.empty(n_runs)
    for run, seed in enumerate(seeds):
        assigned = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=int(seed)).fit_predict(X)
        scores[run] = normalized_mutual_info_score(y, assigned, average_method=average_method)
    return NMIResult(float(scores.mean()), float(scores.std()), scores)


def factor_stats(A: Any, *, rtol: float = SPARSITY_RTOL) -> dict[str, float]:
    """Non-negativity and sparsity of a factor matrix.

    Parameters
    ----------
    A : array-like of shape (m, r)
        A factor (e.g. ``components_`` or the latents), NumPy or CuPy; must be finite.
        The statistics treat all entries alike, so the orientation does not matter.
    rtol : float, default 1e-3
        An entry is counted as zero when ``|a| <= rtol * max|A|``.

    Returns
    -------
    dict of str -> float
        ``min`` and ``max``: extreme values.
        ``frac_negative``: fraction of entries < 0.
        ``negative_mass``: ``sum|a_neg| / sum|a|`` (0 for an all-zero matrix).
        ``sparsity``: fraction of entries counted as zero (see ``rtol``).
        ``hoyer``: Hoyer's sparsity of all entries as one vector,
        ``(sqrt(N) - ||a||_1 / ||a||_2) / (sqrt(N) - 1)`` in [0, 1]; 1 for a single
        non-zero entry, 0 when all magnitudes are equal; NaN for an all-zero matrix
        or a single entry.
    """
    A = _host_matrix("A", A)
    if not np.isfinite(A).all():
        raise ValueError("A contains NaN or infinite values.")
    magnitude = np.abs(A)
    l1 = float(magnitude.sum())
    l2 = float(np.sqrt(np.square(A).sum()))
    n = A.size
    hoyer = float("nan")
    if l2 > 0 and n > 1:  # clip: rounding can step just outside [0, 1]
        hoyer = float(np.clip((np.sqrt(n) - l1 / l2) / (np.sqrt(n) - 1), 0.0, 1.0))
    return {
        "min": float(A.min()),
        "max": float(A.max()),
        "frac_negative": float(np.mean(A < 0)),
        "negative_mass": float(magnitude[A < 0].sum() / l1) if l1 > 0 else 0.0,
        "sparsity": float(np.mean(magnitude <= rtol * magnitude.max())),
        "hoyer": hoyer,
    }


NEGATIVITY_KEYS = ("frac_negative", "negative_mass", "min", "max")


def negativity(A: Any) -> dict[str, float]:
    """How far a factor is from non-negative: the negativity part of :func:`factor_stats`.

    Parameters
    ----------
    A : array-like, any shape, NumPy or CuPy; must be finite

    Returns
    -------
    dict of str -> float
        ``frac_negative`` (fraction of entries < 0), ``negative_mass`` (Σ|a₋| / Σ|a|),
        ``min`` and ``max``. The paper's Fig. 2 reports min φη(W) = −0.008 and
        min φη(H) = −0.03 for its weakly non-negative factors.
    """
    A = to_numpy(A.toarray() if sp.issparse(A) else A)
    stats = factor_stats(A.reshape(A.shape[0], -1) if A.ndim > 2 else A)
    return {k: stats[k] for k in NEGATIVITY_KEYS}


def reconstruction_errors(X: Any, X_hat: Any, mask: Any = None) -> dict[str, float]:
    """Reconstruction errors of ``X_hat`` against ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data (NumPy, CuPy or scipy.sparse, which is densified). Unobserved entries may be
        NaN when ``mask`` excludes them.
    X_hat : array-like of shape (n_samples, n_features)
        Reconstruction, e.g. ``model.inverse_transform(model.transform(X))``.
    mask : array-like of bool, shape (n_samples, n_features), optional
        True where an entry is observed; only those entries are compared.
        Default: all entries.

    Returns
    -------
    dict of str -> float
        Over the N observed entries, with ``E = X - X_hat``:
        ``mae`` = ``sum|E| / N`` (mean L1 error),
        ``rmse`` = ``sqrt(sum E**2 / N)``,
        ``frobenius`` = ``sqrt(sum E**2)``,
        ``relative_frobenius`` = ``||E||_F / ||X||_F`` (inf when ``X`` is 0 there and
        ``E`` is not; 0 when both are).
    """
    X = _host_matrix("X", X)
    X_hat = _host_matrix("X_hat", X_hat)
    if X_hat.shape != X.shape:
        raise ValueError(f"X_hat must have the shape of X {X.shape}, got {X_hat.shape}.")
    if mask is not None:
        mask = to_numpy(mask.toarray() if sp.issparse(mask) else mask)
        if mask.shape != X.shape:
            raise ValueError(f"mask must have the shape of X {X.shape}, got {mask.shape}.")
        if mask.dtype != bool:
            raise ValueError(f"mask must be boolean (True = observed), got dtype {mask.dtype}.")
        if not mask.any():
            raise ValueError("mask has no True entry: nothing to compare.")
        X, X_hat = X[mask], X_hat[mask]
    if not (np.isfinite(X).all() and np.isfinite(X_hat).all()):
        raise ValueError("X and X_hat must be finite on the compared entries; mask out missing values.")
    err = X - X_hat
    sq = float(np.square(err).sum())
    norm_x = float(np.sqrt(np.square(X).sum()))
    fro = float(np.sqrt(sq))
    if norm_x > 0:
        relative = fro / norm_x
    else:
        relative = 0.0 if fro == 0 else float("inf")
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt(sq / err.size)),
        "frobenius": fro,
        "relative_frobenius": relative,
    }
