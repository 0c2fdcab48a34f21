"""Tests of MultiplicativeNMF (wnmf_np.mu.shallow, mu.updates, mu.init).

X (n_samples, n_features) ≈ latents (n_samples, r) @ components (r, n_features). Calls of
the internal functions (mu.updates, mu.init, the kernels) use the package's names, ``H``
the latents and ``Wt`` the components (wnmf_np's docstring); comparisons with
scikit-learn and the public ``fit(W=, H=)`` use scikit-learn's (``W`` latents, ``H``
components).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import non_negative_factorization
from sklearn.decomposition._nmf import _initialize_nmf
from sklearn.exceptions import ConvergenceWarning

from wnmf_np.kernels.mu.numba import _beta_weights_numba, _kl_ratio_numba, _mu_step_numba, _sparse_hwt_numba
from wnmf_np.kernels.mu.reference import beta_weights_reference, mu_step_reference, sparse_hwt_reference
from wnmf_np.mu.init import nndsvd_init
from wnmf_np.mu.shallow import MultiplicativeNMF
from wnmf_np.mu.updates import Penalty, Problem, gamma_exponent, objective, update_H, update_Wt

R = 4


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _data(rng, n=30, m=20, zeros=0.3, positive=False):
    X = rng.random((n, m))
    if not positive:
        X[X < zeros] = 0.0
    else:
        X += 0.05
    return X


def _factors(rng, n, m, r=R):
    return rng.random((n, r)) + 0.1, rng.random((r, m)) + 0.1


def _problem(X, beta, pen=Penalty(), mask=None, fused=True):
    eps = float(np.finfo(X.dtype).eps)
    return Problem(np, X, mask, beta, gamma_exponent(beta), eps, pen, fused)


# ------------------------------------------------------------- objective decreases
@pytest.mark.parametrize("beta", [2.0, 1.0, 0.0, 1.5, 3.0, 0.5])
@pytest.mark.parametrize("masked", [False, True])
def test_objective_never_increases(rng, beta, masked):
    X = _data(rng, positive=beta <= 0)
    mask = rng.random(X.shape) > 0.25 if masked else None
    if masked:
        X = np.where(mask, X, 0.0)
    prob = _problem(X, beta, Penalty(l1_H=0.01, l1_W=0.02, l2_H=0.03, l2_W=0.01), mask)
    H, Wt = _factors(rng, *X.shape)
    values = [objective(prob, H, Wt)[1]]
    for _ in range(40):
        update_H(prob, H, Wt)
        values.append(objective(prob, H, Wt)[1])
        update_Wt(prob, H, Wt)
        values.append(objective(prob, H, Wt)[1])
    steps = np.diff(values)
    assert steps.max() <= 1e-10 * abs(values[0]), steps.max()
    assert values[-1] < 0.9 * values[0]  # and it does move


# ---------------------------------------------------------------- sklearn equality
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.05, 0.1)])
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_sklearn_mu(rng, beta_loss, l1, l2, sparse):
    X = _data(rng)
    W0, H0 = _factors(rng, *X.shape)
    Xin = sp.csr_matrix(X) if sparse else X
    alpha = l1 + l2
    Ws, Hs, _ = non_negative_factorization(
        Xin, W0.copy(), H0.copy(), n_components=R, init="custom", solver="mu", beta_loss=beta_loss,
        tol=0, max_iter=60, alpha_W=alpha, l1_ratio=l1 / alpha if alpha else 0.0,
    )
    est = MultiplicativeNMF(R, beta_loss=beta_loss, l1=l1, l2=l2, init="custom", tol=0, max_iter=60, dtype="float64")
    W = est.fit_transform(Xin, W=W0, H=H0)
    np.testing.assert_allclose(W, Ws, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.components_, Hs, rtol=1e-9, atol=1e-12)
    from sklearn.decomposition._nmf import _beta_divergence

    assert est.reconstruction_err_ == pytest.approx(_beta_divergence(X, Ws, Hs, beta_loss, square_root=True), rel=1e-7)


@pytest.mark.parametrize("beta_loss", [1.5, "itakura-saito"])
def test_matches_sklearn_other_beta(rng, beta_loss):
    X = _data(rng, positive=True)
    W0, H0 = _factors(rng, *X.shape)
    Ws, Hs, _ = non_negative_factorization(
        X, W0.copy(), H0.copy(), n_components=R, init="custom", solver="mu", beta_loss=beta_loss, tol=0, max_iter=30
    )
    est = MultiplicativeNMF(R, beta_loss=beta_loss, init="custom", tol=0, max_iter=30, dtype="float64")
    np.testing.assert_allclose(est.fit_transform(X, W=W0, H=H0), Ws, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.components_, Hs, rtol=1e-8, atol=1e-12)


def test_sparse_is_not_densified(rng, monkeypatch):
    X = _data(rng)
    dense = {b: MultiplicativeNMF(R, beta_loss=b, random_state=1, tol=0, max_iter=20, dtype="float64").fit(X) for b in ("frobenius", "kullback-leibler")}

    def refuse(*args, **kwargs):
        raise AssertionError("sparse X was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    for b, ref in dense.items():
        for fmt in (sp.csr_matrix, sp.csc_matrix):
            est = MultiplicativeNMF(R, beta_loss=b, random_state=1, tol=0, max_iter=20, dtype="float64").fit(fmt(X))
            np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-9, atol=1e-12)
            assert est.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-9)


# ------------------------------------------------------------ precision and dtype
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_float32_close_to_float64(rng, beta_loss):
    X = _data(rng)
    W0, H0 = _factors(rng, *X.shape)
    kw = dict(beta_loss=beta_loss, init="custom", tol=0, max_iter=50)
    e32 = MultiplicativeNMF(R, dtype="float32", **kw)
    e64 = MultiplicativeNMF(R, dtype="float64", **kw)
    W32, W64 = e32.fit_transform(X, W=W0, H=H0), e64.fit_transform(X, W=W0, H=H0)
    assert W32.dtype == np.float32 and e32.components_.dtype == np.float32
    assert W64.dtype == np.float64
    np.testing.assert_allclose(W32, W64, rtol=2e-3, atol=1e-4)
    assert e32.reconstruction_err_ == pytest.approx(e64.reconstruction_err_, rel=1e-4)


# --------------------------------------------------------------- missing entries
def test_masked_entries_have_no_influence(rng):
    X = _data(rng, zeros=0.0)
    mask = rng.random(X.shape) > 0.3
    X2 = np.where(mask, X, rng.random(X.shape) * 50)
    for beta in ("frobenius", "kullback-leibler", 1.5):
        kw = dict(beta_loss=beta, random_state=3, tol=0, max_iter=30, dtype="float64")
        a = MultiplicativeNMF(R, **kw)
        b = MultiplicativeNMF(R, **kw)
        Wa, Wb = a.fit_transform(X, mask=mask), b.fit_transform(X2, mask=mask)
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(a.components_, b.components_)
        Xn = np.where(mask, X, np.nan)
        c = MultiplicativeNMF(R, nan_policy="omit", **kw)
        np.testing.assert_allclose(c.fit_transform(Xn), Wa, rtol=1e-12)
    full = MultiplicativeNMF(R, random_state=3, tol=0, max_iter=30, dtype="float64").fit_transform(X)
    assert not np.allclose(full, Wa)  # the mask does change the fit


def test_all_true_mask_equals_no_mask(rng):
    X = _data(rng)
    kw = dict(random_state=0, tol=0, max_iter=15, dtype="float64")
    a = MultiplicativeNMF(R, **kw).fit_transform(X)
    b = MultiplicativeNMF(R, **kw).fit_transform(X, mask=np.ones(X.shape, bool))
    np.testing.assert_allclose(a, b, rtol=1e-12)


# -------------------------------------------------- stopping, transform, attributes
def test_stopping_and_attributes(rng):
    X = _data(rng)
    est = MultiplicativeNMF(R, tol=1e-3, max_iter=2000, random_state=0, dtype="float64")
    W = est.fit_transform(X)
    assert W.shape == (30, R) and est.components_.shape == (R, 20)
    assert est.n_components_ == R and est.n_features_in_ == 20
    assert 10 <= est.n_iter_ < 2000 and est.n_iter_ % 10 == 0
    assert len(est.loss_curve_) == est.n_iter_ // 10 + 1
    assert np.all(np.diff(est.loss_curve_) <= 1e-12)
    resid = np.linalg.norm(X - W @ est.components_)
    assert est.reconstruction_err_ == pytest.approx(resid, rel=1e-9)
    assert est.inverse_transform(W).shape == X.shape
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        MultiplicativeNMF(R, tol=1e-12, max_iter=20, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiplicativeNMF(R, tol=0, max_iter=5, random_state=0).fit(X)  # tol=0: no warning


def test_transform_reproduces_training_latents(rng):
    W_true, H_true = _factors(rng, 40, 25, r=3)
    X = W_true @ H_true
    est = MultiplicativeNMF(3, tol=1e-9, max_iter=3000, random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
        W_new = est.transform(X)
    np.testing.assert_allclose(W_new, W, rtol=2e-2, atol=2e-2 * W.max())


def test_dtype_param(rng):
    """dtype=None follows X; dtype='float32' computes in float32."""
    X = _data(rng)
    a = MultiplicativeNMF(R, random_state=7, max_iter=10, tol=0).fit_transform(X)
    assert a.dtype == X.dtype == np.float64
    c = MultiplicativeNMF(R, random_state=7, max_iter=10, tol=0, dtype="float32").fit_transform(X)
    assert c.dtype == np.float32


def test_itakura_saito_with_zeros_stays_finite(rng):
    X = _data(rng)  # 30 % exact zeros
    est = MultiplicativeNMF(R, beta_loss="itakura-saito", tol=0, max_iter=30, random_state=0, dtype="float64")
    W = est.fit_transform(X)
    assert np.isfinite(W).all() and np.isfinite(est.components_).all()
    assert np.isfinite(est.reconstruction_err_)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


# ------------------------------------------------------------------ invalid input
@pytest.mark.parametrize(
    "X_fn,kwargs,exc,match",
    [
        (lambda X: -X, {}, ValueError, "Negative values in data passed to X"),
        (lambda X: np.where(X > 0.5, np.nan, X), {}, ValueError, "nan_policy"),
        (lambda X: np.where(X > 0.5, np.inf, X), {}, ValueError, "X contains infinite"),
        (lambda X: np.where(X > 0.5, np.inf, X), {"nan_policy": "omit"}, ValueError, "infinite"),
        (lambda X: sp.csr_matrix(-X), {}, ValueError, "Negative values in data passed to X"),
        (lambda X: sp.csr_matrix(np.where(X > 0.5, np.nan, X)), {}, ValueError, "nan_policy"),
        (lambda X: sp.csr_matrix(np.where(X > 0.5, np.inf, X)), {}, ValueError, "infinite"),
        (lambda X: X, {"init": "custom"}, ValueError, "W is missing"),
        (lambda X: X, {"init": "nndsvd", "n_components": 99}, ValueError, "n_components"),
    ],
)
def test_invalid_input_raises(rng, X_fn, kwargs, exc, match):
    X = _data(rng)
    params = {"n_components": R, "max_iter": 2, **kwargs}
    with pytest.raises(exc, match=match):
        MultiplicativeNMF(**params).fit(X_fn(X))


def test_custom_init_checks_shapes(rng):
    X = _data(rng)
    W0, H0 = _factors(rng, *X.shape)
    with pytest.raises(ValueError, match="H must have shape"):
        MultiplicativeNMF(R, init="custom").fit(X, W=W0, H=H0[:, :5])
    with pytest.raises(ValueError, match="W must be non-negative"):
        MultiplicativeNMF(R, init="custom").fit(X, W=-W0, H=H0)


def test_transform_checks_features(rng):
    X = _data(rng)
    est = MultiplicativeNMF(R, max_iter=5, tol=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :5])


# ------------------------------------------------------------------ initialisations
@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda", "nndsvdar"])
def test_nndsvd_close_to_sklearn(rng, variant):
    # a clear rank-6 structure: randomized and exact SVD then agree on all 6 triplets
    W_true, H_true = _factors(rng, 40, 25, r=6)
    X = W_true @ H_true + 0.01 * rng.random((40, 25))
    Ws, Hs = _initialize_nmf(X, 6, init=variant, random_state=0)
    H, Wt = nndsvd_init(X, 6, variant, np.random.default_rng(0), np.float64)  # sklearn's W, H
    if variant == "nndsvdar":  # the random fill differs: compare where NNDSVD is non-zero
        W_svd, H_svd = _initialize_nmf(X, 6, init="nndsvd", random_state=0)
        for A, A_sk, A_svd in ((H, Ws, W_svd), (Wt, Hs, H_svd)):
            svd_part = A_svd > 0
            np.testing.assert_allclose(A[svd_part], A_sk[svd_part], rtol=1e-6)
            fill = A[~svd_part]
            assert (fill > 0).all() and fill.max() < 0.1 * X.mean()  # |mean N(0,1)| / 100
    else:
        np.testing.assert_allclose(H, Ws, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(Wt, Hs, rtol=1e-6, atol=1e-9)


def test_random_init_scale(rng):
    X = _data(rng, n=200, m=150)
    est = MultiplicativeNMF(10, max_iter=0, tol=0, random_state=0, dtype="float64")
    W = est.fit_transform(X)
    ratio = (W @ est.components_).mean() / X.mean()
    assert 0.5 < ratio < 2.0  # sqrt(mean/r) scaling: WH ~ X on average


# -------------------------------------------------------------- fused vs reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_fused_step_equals_reference(rng, dtype, gamma):
    F = rng.random((17, 9)).astype(dtype)
    num, den = rng.random((2, 17, 9)).astype(dtype)
    den[0, :3] = 0.0  # exercises the denominator floor
    num[1, :2] = 0.0  # exercises the factor floor
    eps = float(np.finfo(dtype).eps)
    ref = mu_step_reference(np, F.copy(), num.copy(), den.copy(), 0.1, 0.2, gamma, eps)
    got = F.copy()
    t = dtype
    _mu_step_numba(got, num.copy(), den.copy(), t(0.1), t(0.2), t(gamma), t(eps))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, ref, rtol=tol, atol=0)
    assert got.min() >= eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_weights_equal_reference(rng, dtype):
    X = _data(rng).astype(dtype)
    Y = (rng.random(X.shape) + 0.01).astype(dtype)
    Y[0, 0] = 0.0
    eps = float(np.finfo(dtype).eps)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    Q_ref, _ = beta_weights_reference(np, X, Y.copy(), 1.0, eps)
    Q = Y.copy()
    _kl_ratio_numba(X, Q, dtype(eps))
    np.testing.assert_allclose(Q, Q_ref, rtol=tol)
    for beta in (0.0, 1.5, 3.0):
        Q_ref, P_ref = beta_weights_reference(np, X, Y.copy(), beta, eps)
        Q, P = Y.copy(), np.empty_like(Y)
        _beta_weights_numba(X, Q, P, dtype(beta), dtype(eps))
        np.testing.assert_allclose(Q, Q_ref, rtol=tol)
        np.testing.assert_allclose(P, P_ref, rtol=tol)
    Xs = sp.csr_matrix(X)
    H, Wt = _factors(rng, *X.shape)
    H, Wt = H.astype(dtype), Wt.astype(dtype)
    out = np.empty(Xs.nnz, dtype=dtype)
    _sparse_hwt_numba(Xs.indptr, Xs.indices, H, np.ascontiguousarray(Wt.T), out)
    np.testing.assert_allclose(out, sparse_hwt_reference(Xs, H, Wt), rtol=tol)
    np.testing.assert_allclose(out, (H @ Wt)[Xs.nonzero()], rtol=tol)


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler", 1.5])
@pytest.mark.parametrize("sparse", [False, True])
def test_fused_fit_equals_reference_fit(rng, beta_loss, sparse):
    X = _data(rng)
    Xin = sp.csr_matrix(X) if sparse else X
    kw = dict(beta_loss=beta_loss, l2=0.01, random_state=0, tol=0, max_iter=25, dtype="float64")
    fused = MultiplicativeNMF(R, **kw)
    ref = MultiplicativeNMF(R, **kw)
    ref._fused = False
    np.testing.assert_allclose(fused.fit_transform(Xin), ref.fit_transform(Xin), rtol=1e-10)
    np.testing.assert_allclose(fused.components_, ref.components_, rtol=1e-10)


# --------------------------------------------------------------------- backends
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler", 1.5])
def test_cupy_matches_numpy(rng, beta_loss, cp):
    X = _data(rng, positive=True)
    W0, H0 = _factors(rng, *X.shape)
    kw = dict(beta_loss=beta_loss, init="custom", tol=0, max_iter=30, dtype="float64")
    Wg = MultiplicativeNMF(R, **kw).fit_transform(cp.asarray(X), W=W0, H=H0)
    est = MultiplicativeNMF(R, **kw)
    Wc = est.fit_transform(X, W=W0, H=H0)
    assert isinstance(Wg, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(Wg), Wc, rtol=1e-8)


def test_cupy_fused_step_equals_reference(rng, cp):
    from wnmf_np.kernels.mu.cupy import _cupy_mu_step_kernel

    F, num, den = (cp.asarray(a) for a in rng.random((3, 17, 9)))
    ref = mu_step_reference(cp, F.copy(), num.copy(), den.copy(), 0.1, 0.2, 0.5, 1e-16)
    got = F.copy()
    _cupy_mu_step_kernel()(num, den, 0.1, 0.2, 0.5, 1e-16, got)
    cp.testing.assert_allclose(got, ref, rtol=1e-13)


# ------------------------------------------------------------ scale (issue 19 item 2)
SCALES = {
    "float32": [4.0**-40, 4.0**30, 1e-5, 1e-15, 1e-30, 3e5, 1e15, 1e30],
    "float64": [4.0**-400, 4.0**250, 1e-5, 1e-100, 1e-300, 1e100, 1e150],
}


def _power_of_four(c):
    m, e = np.frexp(c)
    return m == 0.5 and (e - 1) % 2 == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler", 1.5, "itakura-saito"])
def test_fit_and_transform_are_scale_equivariant(rng, dtype, beta_loss):
    """The fit of c·X is c times the fit of X (W and H each √c times, the objective c^β
    times) for any c the dtype holds; bit for bit when c is a power of four. Before, the
    absolute float32 floor made the fit collapse at X·1e-5 (relative error 1.0)."""
    X = _data(rng, positive=beta_loss == "itakura-saito")
    kw = dict(beta_loss=beta_loss, max_iter=40, tol=0, random_state=0, dtype=dtype)
    ref = MultiplicativeNMF(R, **kw)
    W = ref.fit_transform(X)
    Wt = ref.transform(X)
    beta = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}.get(beta_loss, beta_loss)
    tight = 2e-5 if dtype == "float32" else 1e-12  # rounding of c·X, amplified over 40 iterations
    for c in SCALES[dtype]:
        est = MultiplicativeNMF(R, **kw)
        Wc = est.fit_transform(X * c)
        root = np.sqrt(c)
        if _power_of_four(c):
            np.testing.assert_array_equal(Wc, W * np.asarray(root, dtype=dtype))
            np.testing.assert_array_equal(est.components_, ref.components_ * np.asarray(root, dtype=dtype))
        else:
            np.testing.assert_allclose(Wc / root, W, rtol=0, atol=tight * W.max())
            np.testing.assert_allclose(est.components_ / root, ref.components_, rtol=0, atol=tight * ref.components_.max())
        assert est.n_iter_ == ref.n_iter_
        factor = c ** (beta / 2)
        if 1e-150 < factor < 1e150:  # the objective itself (c^β) is representable
            assert est.reconstruction_err_ / factor == pytest.approx(ref.reconstruction_err_, rel=tight)
            np.testing.assert_allclose(np.array(est.loss_curve_) / factor**2, ref.loss_curve_, rtol=tight)
        # the same model on c·X: c times the latents; the model of c·X on c·X: √c times
        np.testing.assert_allclose(ref.transform(X * c) / c, Wt, rtol=0, atol=tight * Wt.max())
        np.testing.assert_allclose(est.transform(X * c) / root, Wt, rtol=0, atol=tight * Wt.max())


def test_small_scale_float32_fits_as_well_as_sklearn(rng):
    """The issue's case: X·1e-5 in float32, where the absolute floor stopped the fit at 10
    iterations with relative error 1.0 (sklearn's MU: 0.377)."""
    from sklearn.decomposition import NMF

    X = np.random.default_rng(0).random((12, 16))
    for c in (1e-5, 1e-15, 1e-30):
        Xc = (X * c).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MultiplicativeNMF(3, random_state=0).fit(Xc)
            sk = NMF(3, solver="mu", init="random", random_state=0, max_iter=200).fit(X)
        rel = est.reconstruction_err_ / np.linalg.norm(X * c)
        assert rel < 1.1 * sk.reconstruction_err_ / np.linalg.norm(X), rel
        assert est.n_iter_ > 10


@pytest.mark.parametrize("c", [300.0, 1e-3, 7.0])
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_penalties_keep_their_meaning_on_rescaled_data(rng, c, beta_loss):
    """The updates run on rescaled data with the penalty weights mapped, so the objective
    minimised is still the one of X: equal to sklearn's MU on c·X (where its absolute
    floors do not bind), penalties included."""
    X = _data(rng) * c
    W0, H0 = _factors(rng, *X.shape)
    W0, H0 = W0 * np.sqrt(c), H0 * np.sqrt(c)
    Ws, Hs, _ = non_negative_factorization(
        X, W0.copy(), H0.copy(), n_components=R, init="custom", solver="mu", beta_loss=beta_loss,
        tol=0, max_iter=60, alpha_W=0.15, l1_ratio=1 / 3,
    )
    est = MultiplicativeNMF(R, beta_loss=beta_loss, l1=0.05, l2=0.1, init="custom", tol=0, max_iter=60, dtype="float64")
    np.testing.assert_allclose(est.fit_transform(X, W=W0, H=H0), Ws, rtol=1e-8, atol=1e-12 * c)
    np.testing.assert_allclose(est.components_, Hs, rtol=1e-8, atol=1e-12 * c)


@pytest.mark.parametrize("scale", [1.0, 1000.0, 1e-3])  # 1000, 1e-3: X is rescaled by 2^k inside
def test_fit_uses_the_callers_array_without_writing_into_it(rng, scale):
    """MU validates a C-contiguous X of the working dtype without copying it: the fit must
    leave it untouched (also when it rescales the data) and equal a fit on a copy."""
    X = (scale * rng.uniform(size=(30, 20))).astype(np.float32)
    before = X.copy()
    kw = dict(max_iter=30, tol=0, random_state=0, dtype="float32")
    Z = MultiplicativeNMF(4, **kw).fit_transform(X)
    assert np.array_equal(X, before)
    Z_copy = MultiplicativeNMF(4, **kw).fit_transform(np.asfortranarray(X))  # converted, hence a copy
    assert np.array_equal(Z, Z_copy)
    model = MultiplicativeNMF(4, **kw).fit(X)
    model.transform(X)
    assert np.array_equal(X, before)
