"""Plain helper functions shared by the tests (import as `from helpers import ...`)."""

from __future__ import annotations

import tracemalloc

import numpy as np


def to_np(a):
    """Host copy of a NumPy or CuPy array."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def backend_name(xp) -> str:
    """The backend name of the array namespace given by the ``xp`` fixture."""
    return "numpy" if xp is np else "cupy"


def low_rank_nonneg(rng, n_samples=60, n_features=30, rank=4, noise=0.0):
    """Non-negative data X = H W (+ noise) of exact rank ``rank``; returns X, H, W."""
    H = rng.uniform(0, 1, size=(n_samples, rank))
    W = rng.uniform(0, 1, size=(rank, n_features))
    X = H @ W / rank
    if noise:
        X = np.abs(X + noise * rng.standard_normal(X.shape))
    return X, H, W


def away_from_zero(rng, shape, low=0.05, high=1.0):
    """Random values of both signs with |a| >= low (avoids the kink of the leaky ReLU)."""
    mag = rng.uniform(low, high, size=shape)
    return mag * rng.choice([-1.0, 1.0], size=shape)


def fd_grad(f, P, h=1e-6):
    """Central finite differences (float64) of the scalar function f at P, entry by entry."""
    g = np.zeros_like(P)
    for idx in np.ndindex(P.shape):
        Pp, Pm = P.copy(), P.copy()
        Pp[idx] += h
        Pm[idx] -= h
        g[idx] = (f(Pp) - f(Pm)) / (2 * h)
    return g


def assert_grad_close(fd, analytic, max_rtol=1e-5, mean_rtol=1e-6):
    """Max and mean absolute error of a gradient, relative to its largest entry."""
    err = np.abs(fd - analytic)
    scale = np.abs(analytic).max()
    assert scale > 0
    assert err.max() <= max_rtol * scale, err.max() / scale
    assert err.mean() <= mean_rtol * scale, err.mean() / scale


def rewrite_checkpoint(path, edit_meta=None, edit_arrays=None):
    """Rewrite a saved model's file with its metadata and/or arrays edited and every
    checksum recomputed, as a deliberate tamperer would: ``edit_meta(meta)`` and
    ``edit_arrays(arrays)`` change their argument in place."""
    import json

    from wnmf_np.training.checkpoint import _digest

    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    if edit_arrays is not None:
        edit_arrays(arrays)
    if edit_meta is not None:
        edit_meta(meta)
    if isinstance(meta, dict) and isinstance(meta.get("sha256"), dict):
        meta["sha256"] = {k: _digest(v) for k, v in arrays.items()}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def traced_peak(fn) -> int:
    """Peak bytes Python allocated while ``fn()`` ran (tracemalloc; NumPy buffers included)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
