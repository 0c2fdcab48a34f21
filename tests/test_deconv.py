"""Deconvolutional WNMF (paper eq. 12): finite-difference gradients over strides and odd
and even image sizes, learning data made by the model itself, latents, validation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_grad_close, away_from_zero, fd_grad

from wnmf_np.core.losses import LOSSES
from wnmf_np.estimators.deconv import DeconvWNMF
from wnmf_np.kernels import get_kernels
from wnmf_np.models.deconv import DeconvModel

FAST = dict(max_epochs=3, batch_size=16, random_state=0)


# ------------------------------------------------------------------ gradients
def _problem(rng, image_shape, stride, eta, r=2, b=2, impl="auto"):
    """Parameters away from φη's kink and images whose residuals stay away from 0."""
    model = DeconvModel(r, image_shape, stride, impl=impl)
    shapes = model.param_shapes(b, image_shape[0] * image_shape[1])
    W = away_from_zero(rng, shapes["W"], low=0.1)
    H = away_from_zero(rng, shapes["H"], low=0.1)
    Y0 = model.reconstruct({"W": W}, H, eta)
    X = Y0 - away_from_zero(rng, Y0.shape, low=0.05, high=0.5) * np.abs(Y0).mean()
    return model, W, H, X


def _loss(model, W, H, X, loss, eta):
    Y, _ = model.forward({"W": W}, H, eta)
    return float(LOSSES[loss](X, Y, None, 0.0)[0])


@pytest.mark.parametrize("stride", [1, 2, 4])
@pytest.mark.parametrize("image_shape", [(7, 5), (8, 6)], ids=["odd", "even"])
@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_backward_matches_finite_differences(rng, stride, image_shape, loss):
    eta = 0.1
    model, W, H, X = _problem(rng, image_shape, stride, eta)
    Y, cache = model.forward({"W": W}, H, eta)
    assert Y.shape == (2, image_shape[0] * image_shape[1])
    _, G = LOSSES[loss](X, Y, None, 0.0)
    grads = model.backward(G, cache)
    assert grads["W"].shape == W.shape and grads["H"].shape == H.shape
    assert_grad_close(fd_grad(lambda P: _loss(model, P, H, X, loss, eta), W), grads["W"])
    assert_grad_close(fd_grad(lambda P: _loss(model, W, P, X, loss, eta), H), grads["H"])


@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_every_kernel_implementation_gives_the_same_gradients(rng, impl):
    model, W, H, X = _problem(rng, (9, 6), 2, 0.1, r=3, b=3)
    other = DeconvModel(3, (9, 6), 2, impl=impl)
    Y, cache = model.forward({"W": W}, H, 0.1)
    Y2, cache2 = other.forward({"W": W}, H, 0.1)
    np.testing.assert_allclose(Y2, Y, rtol=1e-12, atol=1e-12)
    G = Y - X
    a, b = model.backward(G, cache), other.backward(G, cache2)
    for name in ("W", "H"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-12)


def test_backward_skips_frozen_parameters_and_fused_kernels_agree(rng):
    model, W, H, X = _problem(rng, (7, 6), 2, 0.1)
    Y, cache = model.forward({"W": W}, H, 0.1)
    G = Y - X
    assert set(model.backward(G, cache, need=("H",))) == {"H"}
    plain = model.backward(G, cache)
    fused = model.backward(G, cache, kernels=get_kernels("numpy"))
    for name in ("W", "H"):
        np.testing.assert_allclose(fused[name], plain[name], rtol=1e-14)
    np.testing.assert_array_equal(G, Y - X)  # G is not modified


def test_param_shapes_and_fan_in():
    model = DeconvModel(40, (112, 92), 4)
    assert model.param_shapes(400, 112 * 92) == {"W": (40, 28, 23), "H": (400, 40, 8, 8)}
    assert model.fan_in("W") == model.fan_in("H") == 160
    assert DeconvModel(3, (7, 5), 2).param_shapes(1, 35)["W"] == (3, 4, 3)  # ceil


# ------------------------------------------------------------------ estimator
def _synthetic(rng, image_shape, stride, r=3, n=80):
    """Images made by the deconvolutional model with non-negative factors, max 1."""
    model = DeconvModel(r, image_shape, stride)
    shapes = model.param_shapes(n, image_shape[0] * image_shape[1])
    W = rng.uniform(size=shapes["W"]) ** 2
    H = rng.uniform(size=shapes["H"]) ** 2
    X = model.reconstruct({"W": W}, H, 1.0)
    return X / X.max()


@pytest.mark.parametrize("image_shape, stride", [((11, 10), 2), ((9, 12), 3)])
def test_fit_learns_data_made_by_the_model(rng, image_shape, stride):
    X, X_new = np.split(_synthetic(rng, image_shape, stride, n=85), [80])
    model = DeconvWNMF(3, stride=stride, image_shape=image_shape, init="random_nonneg", lr=1e-2, max_epochs=300,
                       batch_size=16, l2=0.01, n_iter_no_change=None, random_state=0, dtype="float64")  # fmt: skip
    model.fit(X)
    Y = model.model_.reconstruct(model.params_, model.params_["H"], model.final_eta_)
    rel = np.linalg.norm(X - Y) / np.linalg.norm(X)
    # far below what the mean image or the best rank-3 matrix factorisation achieve (25-35 %)
    sv = np.linalg.svd(X, compute_uv=False)
    baselines = [np.linalg.norm(X - X.mean(0)) / np.linalg.norm(X), np.sqrt((sv[3:] ** 2).sum() / (sv**2).sum())]
    assert min(baselines) > 0.2
    assert rel < 0.07, rel
    assert model.loss_curve_[-1] < 0.1 * model.loss_curve_[0]
    assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(X - Y), rel=1e-6)
    # new images made from the same factor images: transform (factors fixed) reconstructs them
    model.set_params(latent="raw", max_epochs=200)
    X_hat = model.inverse_transform(model.transform(X_new))
    assert np.linalg.norm(X_hat - X_new) / np.linalg.norm(X_new) < 0.1


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"loss_reduction": "sum", "l2_mode": "penalty", "stride": 3},
        {"loss": "huber", "h_update": "dense"},
        {"loss": "kl", "init": "random_nonneg"},  # with a mask: its padding is unobserved
        {"loss": "l2", "stride": 1},
    ],
    ids=["l1-mean", "sum-penalty-s3", "huber-dense", "kl-masked", "l2-s1"],
)
def test_training_in_the_phase_layout_equals_training_on_images(rng, monkeypatch, kw):
    """The default (xp) kernels train on data kept in their phase layout; the fitted
    factors, loss curve and transformed latents equal those of training on the images."""
    import wnmf_np.models.deconv as deconv

    kw = dict(kw)
    stride = kw.pop("stride", 2)
    X = rng.uniform(size=(30, 9 * 7))
    mask = rng.uniform(size=X.shape) > 0.2 if kw.get("loss") == "kl" else None
    steps = []
    phase_forward = deconv.PhaseLayoutStep.forward
    monkeypatch.setattr(deconv.PhaseLayoutStep, "forward", lambda *a, **kw: steps.append(1) or phase_forward(*a, **kw))

    def fit_and_transform(layout):
        model = DeconvWNMF(3, stride=stride, image_shape=(9, 7), train_layout=layout, **FAST, dtype="float64", **kw)
        model.fit(X, mask=mask)
        return model, model.transform(X[:5], mask=None if mask is None else mask[:5])

    phase, Z_phase = fit_and_transform("phase")
    assert len(steps) == 3 * 2 + 3 * 1  # 2 steps in each fit epoch, 1 in each transform epoch
    image, Z_image = fit_and_transform("image")
    assert len(steps) == 9  # no phase-layout step this time
    for name in ("W", "H"):
        np.testing.assert_allclose(phase.params_[name], image.params_[name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(phase.loss_curve_, image.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(Z_phase, Z_image, rtol=1e-10, atol=1e-12)


def test_train_layout_is_checked_and_followed_by_transform(rng, monkeypatch):
    """A bad ``train_layout`` is named; ``transform`` trains in the layout set at call time."""
    import wnmf_np.models.deconv as deconv

    X = rng.uniform(size=(12, 6 * 5))
    with pytest.raises(ValueError, match="train_layout"):
        DeconvWNMF(2, image_shape=(6, 5), train_layout="phases", **FAST).fit(X)
    steps = []
    phase_forward = deconv.PhaseLayoutStep.forward
    monkeypatch.setattr(deconv.PhaseLayoutStep, "forward", lambda *a, **kw: steps.append(1) or phase_forward(*a, **kw))
    model = DeconvWNMF(2, image_shape=(6, 5), train_layout="image", **FAST).fit(X)
    assert not steps
    model.set_params(train_layout="phase").transform(X[:4])
    assert len(steps) == 3  # one step per transform epoch
    assert model.model_.train_layout == "image"  # the fitted model is left as it was


def test_unmasked_kl_trains_on_the_images():
    """KL's f(0, 0) = ε/2 is not zero, so unpadded data are needed without a mask."""
    X = np.ones((3, 20))
    assert DeconvModel(2, (5, 4), 2).training_layout(X, None, "l1") is None  # "image" by default
    model = DeconvModel(2, (5, 4), 2, train_layout="phase")
    assert model.training_layout(X, None, "kl") is None
    layout = model.training_layout(X, np.ones_like(X, dtype=bool), "kl")
    assert layout.X.shape == layout.observed.shape == (3, 2 * 2 * 4 * 3) and layout.entries_per_row == 20
    assert layout.observed.sum() == X.size
    assert DeconvModel(2, (5, 4), 2, impl="numba", train_layout="phase").training_layout(X, None, "l1") is None
    with pytest.raises(ValueError, match="train_layout"):
        DeconvModel(2, (5, 4), 2, train_layout="phases")


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_latent_shapes_raw_and_sum(rng, stride):
    X = rng.uniform(size=(20, 9 * 7))
    r, k = 3, 2 * stride
    hi, wi = -(-9 // stride), -(-7 // stride)
    raw = DeconvWNMF(r, stride=stride, image_shape=(9, 7), latent="raw", **FAST)
    Z = raw.fit_transform(X)
    assert Z.shape == (20, r * k * k) and Z.dtype == np.float64  # dtype=None follows X
    assert raw.components_.shape == (r, hi, wi) and raw.kernels_.shape == (20, r, k, k)
    assert raw.params_["W"].shape == (r, hi, wi) and raw.params_["H"].shape == (20, r, k, k)
    np.testing.assert_array_equal(Z, raw.kernels_.reshape(20, -1))
    assert raw.transform(X[:4]).shape == (4, r * k * k)
    # raw latents decode to the model's reconstruction
    Y = raw.model_.reconstruct(raw.params_, raw.params_["H"], raw.final_eta_)
    np.testing.assert_allclose(raw.inverse_transform(Z), Y, rtol=1e-5, atol=1e-6)
    summed = DeconvWNMF(r, stride=stride, image_shape=(9, 7), latent="sum", **FAST)
    S = summed.fit_transform(X)
    assert S.shape == (20, r) and summed.transform(X[:4]).shape == (4, r)
    np.testing.assert_allclose(S, raw.kernels_.sum(axis=(2, 3)), rtol=1e-6)  # same seed, same fit
    with pytest.raises(ValueError, match="latent='raw'"):
        summed.inverse_transform(S)


def test_square_images_by_default(rng):
    """Without image_shape, the features are read as square images."""
    X = rng.uniform(size=(12, 36))
    a = DeconvWNMF(2, **FAST).fit(X)
    assert a.image_shape_ == (6, 6) and a.components_.shape == (2, 3, 3)


@pytest.mark.parametrize(("image_shape", "resolved"), [((1, -1), (1, 30)), ((-1, 5), (6, 5)), ((6, -1), (6, 5))])
def test_one_side_of_image_shape_inferred(rng, image_shape, resolved):
    """-1 is inferred from n_features as numpy.reshape does: (1, -1) is 1-D signals of any
    length (scikit-learn's checks run on it)."""
    X = rng.uniform(size=(10, 30))
    est = DeconvWNMF(2, stride=1, image_shape=image_shape, **FAST).fit(X)
    assert est.image_shape_ == resolved and est.components_.shape == (2, *resolved)
    assert est.get_params()["image_shape"] == image_shape  # the parameter is left as given
