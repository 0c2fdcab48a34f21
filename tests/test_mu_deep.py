"""Tests of DeepMultiplicativeNMF (wnmf_np.mu.deep).

Paper orientation inside: Xt = X.T (n_features, n_samples) ≈ W_L ⋯ W_1 H_1, W_l (r_{l+1}, r_l),
H_1 stored as Ht (r_1, n_samples); latents at the boundary are (n_samples, r_l).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from wnmf_np.mu.deep import DeepMultiplicativeNMF, DeepProblem, deep_objective, factor_update, fine_tune_sweep

N, M = 40, 30
RANKS = (3, 6)


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    # a genuine two-layer structure plus noise
    Ht, W1, W2 = rng.random((3, N)), rng.random((6, 3)), rng.random((M, 6))
    return (W2 @ W1 @ Ht).T + 0.05 * rng.random((N, M))


def _fit(X, **kw):
    params = dict(l2=0.01, max_iter=40, pretrain_iter=60, tol=0, random_state=0, dtype="float64")
    params.update(kw)
    est = DeepMultiplicativeNMF(RANKS, **params)
    return est, est.fit_transform(X)


def test_shapes_and_documented_layers(X):
    est, Z = _fit(X)
    W1, W2 = est.factors_
    assert W1.shape == (6, 3) and W2.shape == (M, 6)
    assert [L.shape for L in est.layer_latents_] == [(N, 3), (N, 6)]
    assert est.latents_ is est.layer_latents_[0]  # as DeepWNMF: an array, layer 1
    assert [C.shape for C in est.layer_components_] == [(3, M), (6, M)]
    assert est.components_ is est.layer_components_[0]
    np.testing.assert_array_equal(Z, est.latents_)  # fit_transform: layer 1 = H_1ᵀ
    np.testing.assert_allclose(est.layer_latents_[1], (W1 @ est.latents_.T).T)
    recon = (W2 @ W1 @ est.latents_.T).T
    for L, C in zip(est.layer_latents_, est.layer_components_):
        np.testing.assert_allclose(L @ C, recon, rtol=1e-10)  # every layer gives the same X̂
    assert est.reconstruction_err_ == pytest.approx(np.linalg.norm(X - recon), rel=1e-8)
    assert all((F >= 0).all() for F in [*est.factors_, *est.layer_latents_])


def test_pretraining_improves_every_layer(X):
    est, _ = _fit(X, max_iter=0)
    assert len(est.pretrain_objective_) == len(RANKS)
    for initial, final in est.pretrain_objective_:
        assert final < 0.5 * initial


def test_fine_tuning_never_increases_objective(X):
    est, _ = _fit(X, max_iter=0)
    Ws = [W.copy() for W in est.factors_]
    Ht = est.latents_.T.copy()
    dp = DeepProblem(np, X.T, None, 0.01, float(np.finfo(np.float64).eps), True)
    values = [deep_objective(dp, Ws, Ht)[1]]
    for _ in range(30):
        fine_tune_sweep(dp, Ws, Ht)
        values.append(deep_objective(dp, Ws, Ht)[1])
    assert np.diff(values).max() <= 1e-10 * values[0]
    assert values[-1] < values[0]
    est2, _ = _fit(X, max_iter=50, tol=1e-12)
    assert np.diff(est2.loss_curve_).max() <= 1e-10 * est2.loss_curve_[0]


@pytest.mark.parametrize("masked", [False, True])
def test_factor_update_matches_formula(masked):
    rng = np.random.default_rng(1)
    A, F, B, Xt = rng.random((7, 3)), rng.random((3, 4)), rng.random((4, 9)), rng.random((7, 9))
    mask = rng.random(Xt.shape) > 0.3 if masked else None
    Xm = Xt * mask if masked else Xt
    lam, eps = 0.05, float(np.finfo(np.float64).eps)
    dp = DeepProblem(np, Xm, mask, lam, eps, True)
    fit = (A @ F @ B) * mask if masked else A @ F @ B
    expected = F * (A.T @ Xm @ B.T) / (A.T @ fit @ B.T + lam * F)
    got = F.copy()
    factor_update(dp, A, got, B)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    ref = F.copy()
    factor_update(DeepProblem(np, Xm, mask, lam, eps, False), A, ref, B)
    np.testing.assert_allclose(got, ref, rtol=1e-13)


@pytest.mark.parametrize("end", ["top", "bottom"])
def test_factor_update_identity_ends(end):
    rng = np.random.default_rng(3)
    Xt = rng.random((7, 9))
    A, B = (None, rng.random((4, 9))) if end == "top" else (rng.random((7, 3)), None)
    F = rng.random((7, 4)) if end == "top" else rng.random((3, 9))
    dp = DeepProblem(np, Xt, None, 0.0, float(np.finfo(np.float64).eps), True)
    A_, B_ = (np.eye(7), B) if end == "top" else (A, np.eye(9))
    expected = F * (A_.T @ Xt @ B_.T) / (A_.T @ A_ @ F @ B_ @ B_.T)
    got = F.copy()
    factor_update(dp, A, got, B)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_masked_entries_have_no_influence(X):
    rng = np.random.default_rng(2)
    mask = rng.random(X.shape) > 0.2
    X2 = np.where(mask, X, 100.0 * rng.random(X.shape))
    a, Za = DeepMultiplicativeNMF(RANKS, max_iter=20, pretrain_iter=20, tol=0, random_state=0, dtype="float64"), None
    Za = a.fit_transform(X, mask=mask)
    b = DeepMultiplicativeNMF(RANKS, max_iter=20, pretrain_iter=20, tol=0, random_state=0, dtype="float64")
    np.testing.assert_array_equal(b.fit_transform(X2, mask=mask), Za)
    c = DeepMultiplicativeNMF(RANKS, max_iter=20, pretrain_iter=20, tol=0, random_state=0, dtype="float64", nan_policy="omit")
    np.testing.assert_allclose(c.fit_transform(np.where(mask, X, np.nan)), Za, rtol=1e-12)


def test_transform_maps_up_the_layers(X):
    est, Z = _fit(X, max_iter=100, pretrain_iter=100, l2=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        T1 = est.transform(X, layer=1)
        T2 = est.transform(X, layer=2)
    assert T1.shape == (N, 3) and T2.shape == (N, 6)
    np.testing.assert_allclose(T2, (est.factors_[0] @ T1.T).T, rtol=1e-10)
    # H_1 is only identifiable up to the conditioning of W_2 W_1, so compare fits, not codes
    err_t = np.linalg.norm(X - T1 @ est.components_)
    assert err_t <= 1.02 * est.reconstruction_err_


def test_float32_close_to_float64(X):
    e64, Z64 = _fit(X)
    e32, Z32 = _fit(X, dtype="float32")
    assert Z32.dtype == np.float32
    assert e32.reconstruction_err_ == pytest.approx(e64.reconstruction_err_, rel=1e-3)


# bad parameters: the contract suite (test_estimator_contract.py) refuses each by name
def test_invalid_data_and_layer(X):
    with pytest.raises(ValueError, match="Negative values in data passed to X"):
        DeepMultiplicativeNMF(RANKS, max_iter=2, pretrain_iter=2).fit(-X)
    with pytest.raises(ValueError, match="nan_policy"):
        DeepMultiplicativeNMF(RANKS, max_iter=2, pretrain_iter=2).fit(np.where(X > 1, np.nan, X))
    est, _ = _fit(X, max_iter=2, pretrain_iter=2)
    with pytest.raises(ValueError, match="layer"):
        est.transform(X, layer=3)


def test_cupy_in_cupy_out(X, cp):
    est = DeepMultiplicativeNMF(RANKS, max_iter=10, pretrain_iter=10, tol=0, random_state=0, dtype="float64")
    Z = est.fit_transform(cp.asarray(X))
    assert isinstance(Z, cp.ndarray) and all(isinstance(W, cp.ndarray) for W in est.factors_)
    ref, Zc = _fit(X, max_iter=10, pretrain_iter=10, l2=0.0)
    np.testing.assert_allclose(cp.asnumpy(Z), Zc, rtol=1e-6)


@pytest.mark.parametrize("dtype,scales", [("float32", [2.0**-80, 1e-5, 1e-15, 1e-30, 3e5, 1e30]),
                                          ("float64", [2.0**400, 1e-5, 1e-100, 1e-300, 1e150])])  # fmt: skip
def test_fit_is_scale_equivariant(X, dtype, scales):
    """Issue 19 item 2 for the deep MU: the fit of c·X reconstructs c times as much, with c²
    times the objective, at any scale the dtype holds (before, X·1e-5 in float32 gave a
    relative error of 1.0); for a power of two c the factors are the same and the latents c
    times as large, exactly."""
    X = X / X.max()
    kw = dict(l2=0.0, max_iter=30, pretrain_iter=30, dtype=dtype)
    ref, Z = _fit(X, **kw)
    R = Z.astype(np.float64) @ ref.components_.astype(np.float64)
    tight = 2e-5 if dtype == "float32" else 1e-11
    for c in scales:
        est, Zc = _fit(X * c, **kw)
        if np.frexp(c)[0] == 0.5:
            for A, B in zip(est.factors_, ref.factors_):
                np.testing.assert_array_equal(A, B)
            np.testing.assert_array_equal(Zc, Z * np.asarray(c, dtype=dtype))
        Rc = (Zc.astype(np.float64) / c) @ est.components_.astype(np.float64)
        np.testing.assert_allclose(Rc, R, rtol=0, atol=tight * R.max())
        assert est.reconstruction_err_ / c == pytest.approx(ref.reconstruction_err_, rel=tight)
        if 1e-150 < c < 1e150:
            np.testing.assert_allclose(np.array(est.loss_curve_) / c**2, ref.loss_curve_, rtol=tight)
        T = ref.transform(X * c) / c  # the same model on scaled data: scaled latents
        np.testing.assert_allclose(T, ref.transform(X), rtol=0, atol=tight * 10 * np.abs(Z).max())


def test_lambda_keeps_its_meaning_at_any_scale(X):
    """The rescaled problem's weights are λ for H_1 and λ/s² for the W_l: the objective
    reported (loss_curve_) is that of X, the same whatever the power-of-two rescaling."""
    est, _ = _fit(X * 4.0, l2=0.1, dtype="float64")
    assert est.data_scale_ == 16.0 * 2 ** round(np.log2(X.max() / 4))
    Ht = est.latents_.T
    err = np.linalg.norm((X * 4.0).T - est.components_.T @ Ht) ** 2
    reg = np.sum(Ht**2) + sum(np.sum(W**2) for W in est.factors_)
    assert est.loss_curve_[-1] == pytest.approx(err + 0.1 * reg, rel=1e-9)


def test_save_load_keeps_latents_and_layer_latents(X, tmp_path):
    """latents_ is layer 1's array and layer_latents_ every layer's, after a load too."""
    est, _ = _fit(X, max_iter=10, pretrain_iter=10)
    est.save(tmp_path / "deep_mu.npz")
    loaded = DeepMultiplicativeNMF.load(tmp_path / "deep_mu.npz")
    assert isinstance(loaded.latents_, np.ndarray) and loaded.latents_ is loaded.layer_latents_[0]
    assert len(loaded.layer_latents_) == len(RANKS)
    for a, b in zip(loaded.layer_latents_, est.layer_latents_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.transform(X[:5], layer=2), est.transform(X[:5], layer=2))


def test_inverse_transform_decodes_every_layer(X):
    """``inverse_transform(Z, layer=l)`` is ``Z @ layer_components_[l-1]``: the training latents
    of every layer decode to the same reconstruction; a wrong width is refused."""
    model, _ = _fit(X)
    reconstruction = model.latents_ @ model.components_
    np.testing.assert_allclose(model.inverse_transform(model.latents_), reconstruction, rtol=1e-10)
    for layer, Z in enumerate(model.layer_latents_, start=1):
        np.testing.assert_allclose(model.inverse_transform(Z, layer=layer), reconstruction, rtol=1e-8, atol=1e-12)
    assert np.linalg.norm(model.inverse_transform(model.transform(X)) - X) < np.linalg.norm(X)
    with pytest.raises(ValueError, match="columns"):
        model.inverse_transform(model.latents_[:, :-1])
    with pytest.raises(ValueError, match="layer"):
        model.inverse_transform(model.latents_, layer=len(model.ranks) + 1)
