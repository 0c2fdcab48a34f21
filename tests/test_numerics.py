"""Numerical robustness: float32 on a large dynamic range, MU never NaN or stuck at zero."""

from __future__ import annotations

import numpy as np

from wnmf_np import WNMF, MultiplicativeNMF


def test_float32_wnmf_is_stable_on_a_large_dynamic_range(rng):
    # columns spanning seven orders of magnitude (1e-3 .. 1e4), as raw multi-feature data
    scales = np.logspace(-3, 4, 12)
    X = (rng.uniform(size=(200, 3)) @ rng.uniform(size=(3, 12))) * scales  # rank 3
    model = WNMF(3, max_epochs=60, random_state=0, dtype="float32").fit(X)
    # stable (no overflow, no NaN), although raw values of 1e4 are far from the factors'
    # O(1) initial scale, so 30 epochs at lr 1e-2 barely move the loss ...
    assert np.isfinite(model.loss_curve_).all() and np.isfinite(model.components_).all()
    assert model.loss_curve_[-1] < 1.1 * model.loss_curve_[0]
    # ... which is why the documented advice (scale features to [0, 1]) gives a far better relative fit
    scaled = WNMF(3, max_epochs=60, random_state=0, dtype="float32").fit(X / X.max(axis=0))
    rel_raw = model.reconstruction_err_ / np.linalg.norm(X)
    rel_scaled = scaled.reconstruction_err_ / np.linalg.norm(X / X.max(axis=0))
    # (0.23 with the default λ, which trades some fit for weakly non-negative factors; 0.999 raw)
    assert np.isfinite(rel_raw) and rel_scaled < 0.3 < rel_raw and scaled.loss_curve_[-1] < 0.5 * scaled.loss_curve_[0]


def test_multiplicative_updates_never_nan_nor_stuck_at_exact_zero(rng):
    X = rng.uniform(size=(30, 10)).astype(np.float32)
    X[:, 3] = 0.0  # an all-zero feature
    X[5] = 0.0  # an all-zero sample
    for beta in ("frobenius", "kullback-leibler", 1.5):
        model = MultiplicativeNMF(3, beta_loss=beta, max_iter=200, tol=0, random_state=0).fit(X)
        W = model.transform(X)
        for A in (model.components_, W):
            assert np.isfinite(A).all()
            assert (A > 0).all()  # floored at eps: every entry can still move multiplicatively
        assert np.isfinite(model.loss_curve_).all()
