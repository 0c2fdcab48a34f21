"""Deep WNMF (paper eq. 11): finite-difference gradients, the L = 1 ≡ WNMF identity,
learning data made by the model itself, layer latents, validation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_grad_close, away_from_zero, fd_grad

from wnmf_np import WNMF
from wnmf_np.core.backend import Backend
from wnmf_np.core.losses import LOSSES
from wnmf_np.estimators.deep import DeepWNMF
from wnmf_np.kernels import get_kernels
from wnmf_np.models.deep import DeepModel

FAST = dict(max_epochs=5, batch_size=16, random_state=0)


# ------------------------------------------------------------------ gradients
def _problem(rng, ranks, loss, eta, b=4, m=6):
    """Parameters away from φη's kink and data whose residuals stay away from 0."""
    model = DeepModel(ranks)
    shapes = model.param_shapes(b, m)
    params = {name: away_from_zero(rng, shape, low=0.1) for name, shape in shapes.items()}
    H = params.pop("H")
    Y0 = model.reconstruct(params, H, eta)
    X = Y0 - away_from_zero(rng, Y0.shape, low=0.05, high=0.5) * np.abs(Y0).mean()
    return model, params, H, X


def _loss(model, params, H, X, loss, eta):
    Y, _ = model.forward(params, H, eta)
    return float(LOSSES[loss](X, Y, None, 0.0)[0])


@pytest.mark.parametrize("ranks", [(3,), (2, 3), (2, 4, 3)], ids=["L1", "L2", "L3"])
@pytest.mark.parametrize("loss", ["l1", "l2"])
@pytest.mark.parametrize("eta", [0.1, 0.5])
def test_backward_matches_finite_differences(rng, ranks, loss, eta):
    model, params, H, X = _problem(rng, ranks, loss, eta)
    Y, cache = model.forward(params, H, eta)
    _, G = LOSSES[loss](X, Y, None, 0.0)
    grads = model.backward(G, cache)
    assert set(grads) == set(model.names) | {"H"}
    for name in model.names:
        fd = fd_grad(lambda P, name=name: _loss(model, {**params, name: P}, H, X, loss, eta), params[name])
        assert grads[name].shape == params[name].shape
        assert_grad_close(fd, grads[name])
    fd_H = fd_grad(lambda P: _loss(model, params, P, X, loss, eta), H)
    assert_grad_close(fd_H, grads["H"])


def test_backward_computes_only_what_is_needed_and_agrees(rng):
    model, params, H, X = _problem(rng, (2, 4, 3), "l2", 0.1)
    Y, cache = model.forward(params, H, 0.1)
    G = Y - X
    full = model.backward(G, cache)
    for need in [("H",), ("W1",), ("W3",), ("W2", "H")]:
        part = model.backward(G, cache, need=need)
        assert set(part) == set(need)
        for name in need:
            np.testing.assert_array_equal(part[name], full[name])
    np.testing.assert_array_equal(G, Y - X)  # G is not modified


def test_backward_with_fused_kernels_equals_plain_formula(rng):
    model, params, H, X = _problem(rng, (2, 4, 3), "l1", 0.1)
    Y, cache = model.forward(params, H, 0.1)
    G = Y - X
    plain = model.backward(G, cache)
    fused = model.backward(G, cache, kernels=get_kernels("numpy"))
    for name in plain:
        np.testing.assert_allclose(fused[name], plain[name], rtol=1e-14)


def test_param_shapes_and_fan_in():
    model = DeepModel((20, 40))
    assert model.param_shapes(400, 10304) == {"W1": (40, 20), "W2": (10304, 40), "H": (400, 20)}
    assert [model.fan_in(n) for n in ("W1", "W2", "H")] == [20, 40, 20]


# ------------------------------------------------------------------ estimator
@pytest.fixture
def deep_data(rng):
    """Data made by the deep model with non-negative factors, ranks (3, 5), scaled to max 1.

    Cubed uniforms make the factors skewed (many small entries), so the data is far from
    rank 1: the best rank-2 approximation still misses 16 % of its norm (checked below).
    """
    n, m = 150, 24
    H = rng.uniform(size=(n, 3)) ** 3
    W1 = np.eye(5, 3) + 0.3 * rng.uniform(size=(5, 3))
    W2 = rng.uniform(size=(m, 5)) ** 3
    X = H @ W1.T @ W2.T
    return X / X.max()


FIT = dict(init="random_nonneg", lr=3e-2, lr_schedule="cosine", max_epochs=300, batch_size=16, l2=0.003,
           n_iter_no_change=None, random_state=0, dtype="float64")  # fmt: skip


@pytest.mark.parametrize("kw", [{}, {"loss": "l2", "dtype": "float64"}, {"h_update": "dense", "eta": 0.3}])
def test_one_layer_is_exactly_wnmf(deep_data, kw):
    kw = {"latent_lr": 3e-2, "l2": 0.03, **kw}  # the classes' defaults differ (tuned separately); align them
    a = WNMF(4, **FAST, **kw)
    b = DeepWNMF((4,), **FAST, **kw)
    Za, Zb = a.fit_transform(deep_data), b.fit_transform(deep_data)
    np.testing.assert_array_equal(a.params_["W"], b.params_["W1"])
    np.testing.assert_array_equal(a.params_["H"], b.params_["H"])
    np.testing.assert_array_equal(Za, Zb)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.loss_curve_ == b.loss_curve_ and a.reconstruction_err_ == b.reconstruction_err_
    np.testing.assert_array_equal(a.transform(deep_data[:7]), b.transform(deep_data[:7]))


@pytest.mark.parametrize("ranks", [(3,), (4, 6), (2, 5, 3)])
def test_random_nonneg_init_gives_the_product_the_data_scale(ranks):
    """"random_nonneg" scales each factor so that the whole product, not each factor,
    has the data's mean (a per-factor sqrt(mean / r) overflows float32 for data at 1e30)."""
    X = np.full((400, 30), 1e30)
    model = DeepWNMF(ranks, init="random_nonneg", max_epochs=1, dtype="float64", random_state=0)
    params = model._init_params(DeepModel(ranks), 400, 30, np.random.default_rng(0), 1e30, np.float64,
                                Backend("numpy", np))  # fmt: skip
    Y = params["H"]
    for name in DeepModel(ranks).names:
        Y = Y @ params[name].T
    assert Y.mean() == pytest.approx(X.mean(), rel=0.5)  # tiny middle factors: their own means vary
    fitted = DeepWNMF(ranks, loss="kl", max_epochs=2, dtype="float32", random_state=0).fit(X[:6, :4])
    assert np.isfinite(fitted.loss_curve_).all() and np.isfinite(fitted.transform(X[:6, :4])).all()


def test_fit_learns_data_made_by_the_deep_model(deep_data):
    """Every seed reconstructs the data; the factors are weakly non-negative for a typical
    seed (the median over three: how negative the tiny factors end up varies by seed)."""
    sv = np.linalg.svd(deep_data, compute_uv=False)
    assert np.sqrt((sv[2:] ** 2).sum() / (sv**2).sum()) > 0.1  # not learnable by a rank-2 model

    def negative_mass(A):
        return np.abs(np.minimum(A, 0)).sum() / np.abs(A).sum()

    worst_latent, middle, basis = [], [], []
    for seed in range(3):
        model = DeepWNMF((3, 5), **{**FIT, "random_state": seed})
        Z = model.fit_transform(deep_data)
        rel = np.linalg.norm(deep_data - Z @ model.components_) / np.linalg.norm(deep_data)
        assert rel < 0.01, (seed, rel)
        assert model.loss_curve_[-1] < 0.01 * model.loss_curve_[0]
        assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(deep_data - Z @ model.components_), rel=1e-6)
        worst_latent.append(max(negative_mass(A) for A in model.layer_latents_ + [model.components_]))
        W1, W2 = (np.maximum(model.params_[k], 0.1 * model.params_[k]) for k in ("W1", "W2"))
        middle.append(negative_mass(W1))
        basis.append(negative_mass(W2))
    # weakly non-negative: little negative mass in the latents of each layer and the basis,
    # a little more in the tiny middle factor φη(W_1) (5 x 3) that the scale ambiguity of
    # the product leaves loosely determined
    assert np.median(worst_latent) < 0.02, worst_latent
    assert np.median(middle) < 0.1 and np.median(basis) < 0.1, (middle, basis)


def test_layer_latents_components_and_transform_shapes(deep_data):
    model = DeepWNMF((3, 5, 7), **FAST, dtype="float64")
    Z1 = model.fit_transform(deep_data)
    assert model.n_layers_ == 3
    assert [Z.shape for Z in model.layer_latents_] == [(150, 3), (150, 5), (150, 7)]
    assert [C.shape for C in model.layer_components_] == [(3, 24), (5, 24), (7, 24)]
    np.testing.assert_array_equal(Z1, model.latents_)
    assert model.components_ is model.layer_components_[0]
    # every layer decodes to the same reconstruction
    recon = Z1 @ model.components_
    for layer, (Z, C) in enumerate(zip(model.layer_latents_, model.layer_components_), start=1):
        np.testing.assert_allclose(Z @ C, recon, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(model.inverse_transform(Z, layer=layer), recon, rtol=1e-10, atol=1e-12)
        again = DeepWNMF((3, 5, 7), **FAST, dtype="float64").fit_transform(deep_data, layer=layer)
        np.testing.assert_allclose(again, Z)
        T = model.transform(deep_data[:6], layer=layer)
        assert T.shape == (6, Z.shape[1]) and T.dtype == np.float64
    # a higher layer's transform is the lift of layer 1's: Z_2 = Z_1 φη(W_1)ᵀ
    T1, T2 = model.transform(deep_data[:6]), model.transform(deep_data[:6], layer=2)
    np.testing.assert_allclose(T2, T1 @ np.maximum(model.params_["W1"], model.final_eta_ * model.params_["W1"]).T)


def test_transform_of_training_data_reconstructs_it(deep_data):
    model = DeepWNMF((3, 5), **FIT).fit(deep_data)
    Z = model.transform(deep_data)
    assert np.linalg.norm(model.inverse_transform(Z) - deep_data) / np.linalg.norm(deep_data) < 0.02
    assert np.linalg.norm(Z - model.latents_) / np.linalg.norm(model.latents_) < 0.1


def test_float32_preserved(deep_data):
    """float32 data gives float32 factors and latents."""
    a = DeepWNMF((3, 5), **FAST).fit(deep_data.astype(np.float32))
    assert a.components_.dtype == np.float32 and a.latents_.dtype == np.float32


@pytest.mark.parametrize(
    "ranks, exc",
    [(5, TypeError), ((), ValueError), ([], ValueError), ((3, 0), ValueError), ((2, -1), ValueError),
     ((2, 2.5), TypeError), ((True,), TypeError), ("ab", TypeError), (None, TypeError)],
)  # fmt: skip
def test_bad_ranks_raise_naming_ranks(deep_data, ranks, exc):
    with pytest.raises(exc, match="ranks"):
        DeepWNMF(ranks, **FAST).fit(deep_data)


def test_ranks_as_list_and_bad_layer(deep_data):
    model = DeepWNMF([3, 5], **FAST).fit(deep_data)
    assert model.params_["W1"].shape == (5, 3)
    for layer in (0, 3, 1.0, True, "1"):
        with pytest.raises(ValueError, match="layer"):
            model.transform(deep_data[:3], layer=layer)
        with pytest.raises(ValueError, match="layer"):
            model.inverse_transform(model.latents_, layer=layer)
    with pytest.raises(ValueError, match="columns|shape"):
        model.inverse_transform(model.latents_, layer=2)  # layer-1 latents given as layer 2
