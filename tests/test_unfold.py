"""Tests of UnfoldedNMF (wnmf_np.mu.unfolded, mu.unfolded_model).

Convention: the estimator takes X (n_samples, n_features); the model's equations use the
paper's orientation, X.T (m, n), W (m, r) stored as Wt (r, m) = components_, the latents
H⁽ᵏ⁾ (r, n) stored as Ht (the transpose of the latents H (n, r) returned).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_grad_close, fd_grad
from scipy.optimize import nnls
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from wnmf_np import MultiplicativeNMF, UnfoldedNMF
from wnmf_np.mu.unfolded_model import (
    EPS,
    Layers,
    backward,
    forward,
    nnls_active_set,
    nnls_objective,
    nnls_scipy,
    objective,
)
from wnmf_np.mu.updates import Penalty, Problem, update_H

R = 3


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _data(rng, n=30, m=12):
    return rng.random((n, m)) + 0.05


def _layers(rng, K, r, m, low=0.2):
    return Layers(rng.uniform(low, 1.0, (K, r, m)), rng.uniform(low, 1.0, (K, r, r)))


def _loss(layers, Wt, X, l1, l2):
    Ht, _ = forward(layers, X, l1, l2, keep=False)
    return objective(Wt, Ht, X, float((X**2).sum()), l1, l2, X.shape[0], grad=False)[0]


# ------------------------------------------------------------------- the backward
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.4), (0.2, 0.5)])
def test_unrolled_backward_matches_finite_differences(rng, l1, l2):
    K, m = 3, 6
    X = rng.random((5, m))
    layers = _layers(rng, K, R, m)
    Wt = rng.uniform(0.0, 0.5, (R, m))
    Ht, cache = forward(layers, X, l1, l2)
    value, G = objective(Wt, Ht, X, float((X**2).sum()), l1, l2, X.shape[0])
    # the value next to the gradient is the loss written out densely
    dense = (0.5 * ((X.T - Wt.T @ Ht) ** 2).sum() + l1 * Ht.sum() + 0.5 * l2 * (Ht**2).sum()) / X.shape[0]
    np.testing.assert_allclose(value, dense, rtol=1e-12)
    grads, _ = backward(G, cache, layers, X, l1, l2)
    fd_A = fd_grad(lambda P: _loss(Layers(P, layers.B), Wt, X, l1, l2), layers.A)
    fd_B = fd_grad(lambda P: _loss(Layers(layers.A, P), Wt, X, l1, l2), layers.B)
    assert_grad_close(fd_A, grads.A)
    assert_grad_close(fd_B, grads.B)


def test_backward_input_gradient_matches_finite_differences(rng):
    """∂L/∂H⁽⁰⁾: the recursion's last output, checked on its own."""
    K, m, l1, l2 = 3, 6, 0.1, 0.2
    X = rng.random((4, m))
    layers = _layers(rng, K, R, m)
    Wt = rng.uniform(0.0, 0.5, (R, m))
    Ht0 = rng.uniform(0.5, 1.5, (R, 4))
    x_sq = float((X**2).sum())

    def loss(P):
        return objective(Wt, forward(layers, X, l1, l2, Ht0=P, keep=False)[0], X, x_sq, l1, l2, 4, grad=False)[0]

    Ht, cache = forward(layers, X, l1, l2, Ht0=Ht0)
    _, G = objective(Wt, Ht, X, x_sq, l1, l2, 4)
    _, dHt0 = backward(G, cache, layers, X, l1, l2)
    assert_grad_close(fd_grad(loss, Ht0), dHt0)


# -------------------------------------------------------- one layer is one MU update
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.05, 0.1)])
@pytest.mark.parametrize("K", [1, 3])
def test_layers_with_W_equal_lee_seung_updates(rng, K, l1, l2):
    """With A_k = Wᵀ, B_k = WᵀW, K layers are K H-updates of MultiplicativeNMF's MU.

    MultiplicativeNMF's updates take the latents ``H`` as rows (n, r) and the basis as
    ``Wt`` (r, m); its H-update with penalty (l1_H, l2_H) = (λ₁, λ₂) has the denominator
    ``H Wt Wtᵀ + λ₁ + λ₂ H`` of our layer (transposed), floored at eps instead of + ε.
    """
    X = _data(rng)
    n, m = X.shape
    Wt = rng.uniform(0.1, 1.0, (R, m))
    Ht0 = rng.uniform(0.1, 1.0, (R, n))
    layers = Layers(np.repeat(Wt[None], K, axis=0), np.repeat((Wt @ Wt.T)[None], K, axis=0))
    Ht, _ = forward(layers, X, l1, l2, Ht0=Ht0.copy(), keep=False)
    prob = Problem(np, X, None, 2.0, 1.0, float(np.finfo(np.float64).eps), Penalty(l1_H=l1, l2_H=l2), False)
    latents = np.ascontiguousarray(Ht0.T)
    for _ in range(K):
        update_H(prob, latents, Wt)
    np.testing.assert_allclose(Ht.T, latents, rtol=1e-6)  # the two ε placements differ by ~1e-7


def test_forward_starts_from_ones_and_keeps_every_layer(rng):
    X = _data(rng, n=7, m=5)
    layers = _layers(rng, 4, R, 5)
    Ht, cache = forward(layers, X, 0.1, 0.2)
    assert cache.Ht.shape == (5, R, 7) and cache.N.shape == (4, R, 7)
    np.testing.assert_array_equal(cache.Ht[0], 1.0)
    np.testing.assert_array_equal(cache.Ht[-1], Ht)
    np.testing.assert_allclose(cache.N[2], layers.A[2] @ X.T)
    # first layer from H⁽⁰⁾ = 1: H⁽¹⁾ = A_0 X ⊘ (B_0 1 + λ₂ + λ₁ + ε)
    np.testing.assert_allclose(cache.Ht[1], cache.N[0] / (layers.B[0].sum(axis=1, keepdims=True) + 0.2 + 0.1 + EPS))


# --------------------------------------------------------------------------- NNLS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_active_set_nnls_matches_scipy(rng, dtype):
    r, b, m = 6, 40, 50
    Ht = rng.random((r, b)).astype(dtype)
    Wtrue = rng.random((r, m)) * (rng.random((r, m)) > 0.5)
    X = (Wtrue.T @ Ht + 0.1 * rng.standard_normal((m, b))).T.astype(dtype)
    ours, work = nnls_active_set(Ht, X)
    assert ours.dtype == dtype and ours.shape == (r, m) and work > 0
    ref = np.stack([nnls(Ht.T.astype(np.float64), X[:, i].astype(np.float64))[0] for i in range(m)], axis=1)
    assert (ours >= 0).all()
    tol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(ours, ref, atol=tol * ref.max())
    f_ours, f_ref = nnls_objective(ours, Ht, X), nnls_objective(ref, Ht, X)
    assert f_ours <= f_ref * (1 + 10 * tol)
    np.testing.assert_allclose(nnls_scipy(Ht, X), ref, atol=1e-5 * ref.max())
    # a warm start (only its support is used) changes the work, not the answer
    for start in (rng.random((r, m)) * (rng.random((r, m)) > 0.5), np.ones((r, m)), ref):
        warm, _ = nnls_active_set(Ht, X, Wt0=start.astype(dtype))
        np.testing.assert_allclose(warm, ref, atol=tol * ref.max())
    assert nnls_active_set(Ht, X, Wt0=ref)[1] <= m + 1  # the right support: about one solve per row


def test_active_set_nnls_with_collinear_latents(rng):
    """Identical rows of H (the authors' start) make the Gram matrix singular: the
    solver still returns a minimiser (scipy's objective) instead of failing."""
    b, m = 30, 20
    h = rng.random(b)
    Ht = np.stack([h, h, h, rng.random(b)])
    X = rng.random((b, m))
    ours, _ = nnls_active_set(Ht, X)
    ref = nnls_scipy(Ht, X)
    assert np.isfinite(ours).all() and (ours >= 0).all()
    np.testing.assert_allclose(nnls_objective(ours, Ht, X), nnls_objective(ref, Ht, X), rtol=1e-10)


def test_active_set_nnls_zero_data_gives_zero(rng):
    W, _ = nnls_active_set(rng.random((3, 10)), np.zeros((10, 4)))
    np.testing.assert_array_equal(W, 0.0)


# ---------------------------------------------------------------------- estimator
def _fit(X, **kw):
    params = dict(n_layers=3, max_iter=15, lr=5e-3, random_state=0, dtype="float64")
    return UnfoldedNMF(R, **{**params, **kw})


@pytest.mark.parametrize("init", ["faithful", "mu", "perturbed"])
def test_training_loss_decreases(rng, init):
    X = _data(rng)
    est = _fit(X, init=init, max_iter=30)
    est.fit(X)
    curve = np.array(est.loss_curve_)
    assert len(curve) == 31 and est.n_iter_ == 30
    assert curve[-1] < (0.95 if init == "mu" else 0.8) * curve[0]  # the MU start is already good
    assert (np.diff(curve) <= 1e-9 * curve[0]).mean() >= 0.8  # Adam may wobble, rarely


def test_clamp_keeps_every_layer_non_negative(rng):
    X = _data(rng)
    est = _fit(X, lr=0.5, max_iter=10, init="perturbed", l1=0.1, l2=0.1).fit(X)
    A, B = est.layers_
    assert A.min() >= 0 and B.min() >= 0
    assert (A == 0).any() or (B == 0).any()  # so large a step does hit the bound
    assert (est.components_ >= 0).all()


def test_transform_reproduces_training_latents(rng):
    X = _data(rng)
    est = _fit(X, batch_size=7)
    Z = est.fit_transform(X)
    np.testing.assert_allclose(est.transform(X), Z, rtol=1e-12)
    np.testing.assert_allclose(est.transform(X[5:9]), Z[5:9], rtol=1e-12)  # samples are independent
    assert Z.shape == (X.shape[0], R) and (Z >= 0).all()


def test_attributes_and_reconstruction(rng):
    X = _data(rng)
    est = _fit(X, l1=0.01, l2=0.02)
    Z = est.fit_transform(X)
    assert est.components_.shape == (R, X.shape[1]) and est.n_components_ == R
    assert est.n_features_in_ == X.shape[1]
    assert est.layers_.A.shape == (3, R, X.shape[1]) and est.layers_.B.shape == (3, R, R)
    Y = est.inverse_transform(Z)
    np.testing.assert_allclose(est.reconstruction_err_, np.linalg.norm(X - Y), rtol=1e-10)
    # components_ is the NNLS solution for the returned latents (the W-step after the last step)
    np.testing.assert_allclose(est.components_, nnls_scipy(Z.T, X), atol=1e-8)
    # the last loss is the objective of what is returned
    dense = (0.5 * ((X - Y) ** 2).sum() + 0.01 * Z.sum() + 0.01 * (Z**2).sum()) / X.shape[0]
    np.testing.assert_allclose(est.loss_curve_[-1], dense, rtol=1e-9)


def test_faithful_and_mu_initialisations(rng):
    X = _data(rng)
    A, B = _fit(X, max_iter=0).fit(X).layers_
    np.testing.assert_array_equal(A, 0.1)
    np.testing.assert_array_equal(B, 0.1)
    est = _fit(X, max_iter=0, init="mu").fit(X)
    Wt0 = est.layers_.A[0]
    np.testing.assert_array_equal(est.layers_.A[1], Wt0)
    np.testing.assert_allclose(est.layers_.B[2], Wt0 @ Wt0.T)
    A_p = _fit(X, max_iter=0, init="perturbed").fit(X).layers_.A
    assert np.abs(A_p / 0.1 - 1).max() <= 0.1 and A_p.std() > 0


def test_float32_dtype_close_to_float64(rng):
    """dtype='float32' gives float32 latents close to the float64 fit."""
    X = _data(rng)
    a = _fit(X, init="perturbed", batch_size=8, dtype="float32").fit_transform(X)
    assert a.dtype == np.float32
    c = _fit(X, init="perturbed", batch_size=8).fit_transform(X)
    np.testing.assert_allclose(a, c, rtol=2e-3)  # float32 ≈ float64


def test_full_batch_equals_one_batch_of_all_samples(rng):
    X = _data(rng)
    a = _fit(X).fit_transform(X)
    b = _fit(X, batch_size=X.shape[0]).fit_transform(X)
    np.testing.assert_array_equal(a, b)


def test_scipy_solver_gives_the_same_fit(rng):
    X = _data(rng)
    a = _fit(X, init="mu").fit_transform(X)
    b = _fit(X, init="mu", nnls="scipy").fit_transform(X)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_sparse_input_is_densified(rng):
    X = _data(rng)
    X[X < 0.3] = 0
    np.testing.assert_array_equal(_fit(X).fit_transform(sp.csr_matrix(X)), _fit(X).fit_transform(X))


def test_clone_and_params():
    est = UnfoldedNMF(4, n_layers=2, init="mu")
    assert clone(est).get_params() == est.get_params()


# ------------------------------------------------------------------ invalid input
@pytest.mark.parametrize(
    "X_fn,kwargs,exc",
    [
        (lambda X: -X, {}, ValueError),
        (lambda X: np.where(X > 0.5, np.inf, X), {}, ValueError),
        (lambda X: sp.csr_matrix(-X), {}, ValueError),
        (lambda X: X[:, :, None], {}, ValueError),
        (lambda X: X[:0], {}, ValueError),
        (lambda X: np.full(X.shape, "a"), {}, ValueError),
        (lambda X: X, {"n_components": 0}, ValueError),
        (lambda X: X, {"n_components": 2.5}, TypeError),
        (lambda X: X, {"l1": -1.0}, ValueError),
        (lambda X: X, {"l2": np.nan}, ValueError),
        (lambda X: X, {"max_iter": -1}, ValueError),
        (lambda X: X, {"dtype": "int8"}, ValueError),
        (lambda X: X, {"backend": "tpu"}, ValueError),
        (lambda X: X, {"random_state": "seed"}, TypeError),
    ],
)
def test_invalid_input_gives_multiplicative_nmf_errors(rng, X_fn, kwargs, exc):
    """The same exception and the same message as MultiplicativeNMF for shared arguments."""
    X = _data(rng)
    with pytest.raises(exc) as mu_err:
        MultiplicativeNMF(**{"n_components": R, "max_iter": 2, **kwargs}).fit(X_fn(X))
    with pytest.raises(exc) as ours:
        UnfoldedNMF(**{"n_components": R, "max_iter": 2, **kwargs}).fit(X_fn(X))
    assert str(ours.value) == str(mu_err.value).replace("MultiplicativeNMF", "UnfoldedNMF")  # sklearn names the class


def test_nan_is_refused_with_a_pointer(rng):
    X = _data(rng)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN.*complete data"):
        UnfoldedNMF(R, max_iter=1).fit(X)


def test_transform_checks_fitted_and_features(rng):
    X = _data(rng)
    with pytest.raises(NotFittedError, match="not fitted"):
        UnfoldedNMF(R).transform(X)
    est = _fit(X, max_iter=2).fit(X)
    with pytest.raises(ValueError, match="features") as ours:
        est.transform(X[:, :5])
    mu = MultiplicativeNMF(R, max_iter=2, tol=0).fit(X)
    with pytest.raises(ValueError) as theirs:
        mu.transform(X[:, :5])
    assert str(ours.value) == str(theirs.value).replace("MultiplicativeNMF", "UnfoldedNMF")
    with pytest.raises(ValueError, match="columns"):
        est.inverse_transform(np.ones((2, R + 1)))


# ---------------------------------------------------------------------------- GPU
class _DeviceArray(np.ndarray):
    """A NumPy-backed stand-in for cupy.ndarray (no GPU in CI)."""

    def get(self):
        return np.asarray(self).view(np.ndarray).copy()


def test_namespace_generic_path_on_a_cupy_standin(rng, monkeypatch):
    """fit/transform through the ``xp`` code with a fake ``cupy``: outputs stay "on the
    device" and equal the NumPy path (only the fused kernels are the reference ones)."""
    import sys
    import types

    from wnmf_np import kernels
    from wnmf_np.kernels.dense import cupy as _cupy

    fake = types.ModuleType("cupy")
    fake.ndarray = _DeviceArray
    fake.asarray = lambda a, dtype=None: np.asarray(a.get() if isinstance(a, _DeviceArray) else a, dtype=dtype).view(
        _DeviceArray
    )
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    fake.__getattr__ = lambda name: getattr(np, name)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(_cupy, "get_kernel_set", lambda: kernels.get_kernels("numpy", "reference"))
    X = _data(rng)
    kw = dict(init="perturbed", batch_size=10, l1=0.01)
    est = _fit(X, **kw)
    Z_dev = est.fit_transform(fake.asarray(X))
    assert isinstance(Z_dev, _DeviceArray) and isinstance(est.components_, _DeviceArray)
    assert isinstance(est.transform(fake.asarray(X)), _DeviceArray)
    np.testing.assert_allclose(Z_dev.get(), _fit(X, **kw).fit_transform(X), rtol=1e-10)


def test_cupy_matches_numpy(rng, cp):
    X = _data(rng)
    kw = dict(init="mu", batch_size=10)
    Zg = _fit(X, **kw).fit_transform(cp.asarray(X))
    assert isinstance(Zg, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(Zg), _fit(X, **kw).fit_transform(X), rtol=1e-8)
