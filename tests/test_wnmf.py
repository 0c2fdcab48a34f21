"""The WNMF estimator: learning, determinism, transform, missing values, validation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import low_rank_nonneg

from wnmf_np import WNMF, DivergenceError, wnmf

FAST = dict(max_epochs=5, batch_size=16, random_state=0)


@pytest.fixture
def data(rng):
    X, _, _ = low_rank_nonneg(rng, n_samples=120, n_features=20, rank=4)
    return X


@pytest.mark.parametrize("loss", ["l1", "l2", "huber", "kl"])
def test_fit_recovers_nonnegative_low_rank_data(data, loss):
    # exact low-rank data: a small λ (the default trades some fit for non-negativity, and the
    # non-L1 gradients shrink with the residual, so their penalty weighs more)
    model = WNMF(4, loss=loss, init="random_nonneg", lr=3e-2, lr_schedule="constant", max_epochs=300,
                 batch_size=16, n_iter_no_change=None, random_state=0, dtype="float64", l2=0.001)  # fmt: skip
    Z = model.fit_transform(data)
    rel = np.linalg.norm(data - Z @ model.components_) / np.linalg.norm(data)
    assert rel < 0.05
    assert model.loss_curve_[-1] < 0.1 * model.loss_curve_[0]
    # almost non-negative factors: little of their mass is negative
    for A in (model.components_, Z):
        assert np.abs(np.minimum(A, 0)).sum() < 0.02 * np.abs(A).sum()
    assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(data - Z @ model.components_), rel=1e-6)


def test_loss_decreases_with_paper_recipe(data):
    model = WNMF(4, lr=1e-3, lr_schedule="constant", max_epochs=30, n_iter_no_change=None, random_state=0)
    model.fit(data)
    curve = np.array(model.loss_curve_)
    assert curve[-1] < 0.9 * curve[0]
    assert curve[-5:].mean() < curve[5:10].mean() < curve[:5].mean()  # steady decrease (up to batch noise)


@pytest.mark.parametrize("kw", [{}, {"h_update": "dense"}, {"l2_mode": "penalty"}, {"eta_schedule": "cosine", "eta": 0.0}])
def test_same_seed_gives_identical_factors(data, kw):
    a = WNMF(3, **FAST, **kw).fit(data)
    b = WNMF(3, **FAST, **kw).fit(data)
    np.testing.assert_array_equal(a.params_["W"], b.params_["W"])
    np.testing.assert_array_equal(a.params_["H"], b.params_["H"])
    c = WNMF(3, **{**FAST, "random_state": 1}, **kw).fit(data)
    assert not np.array_equal(a.params_["W"], c.params_["W"])


def test_shapes_dtypes_and_attributes(data):
    for dtype in ("float32", "float64"):
        model = WNMF(3, dtype=dtype, **FAST)
        Z = model.fit_transform(data)
        assert Z.shape == (120, 3) and Z.dtype == np.dtype(dtype)
        assert model.components_.shape == (3, 20) and model.components_.dtype == np.dtype(dtype)
        assert model.params_["W"].shape == (20, 3) and model.params_["H"].shape == (120, 3)
        assert model.n_iter_ == 5 and len(model.loss_curve_) == 5
        assert model.n_features_in_ == 20
        assert model.inverse_transform(Z).shape == data.shape


def test_float32_close_to_float64(data):
    kw = dict(max_epochs=40, n_iter_no_change=None, random_state=0, lr=1e-2)
    a = WNMF(3, dtype="float32", **kw).fit(data)
    b = WNMF(3, dtype="float64", **kw).fit(data)
    assert a.loss_curve_[-1] == pytest.approx(b.loss_curve_[-1], rel=0.05)


def test_transform_on_training_data_is_close_to_fit_transform(data):
    model = WNMF(4, loss="l2", init="random_nonneg", lr=3e-2, lr_schedule="constant", max_epochs=300,
                 batch_size=16, n_iter_no_change=None, random_state=0, dtype="float64", l2=0.001)  # fmt: skip
    Z_fit = model.fit_transform(data)
    Z_new = model.transform(data)
    assert Z_new.shape == Z_fit.shape
    rel = np.linalg.norm(Z_new - Z_fit) / np.linalg.norm(Z_fit)
    assert rel < 0.1
    # and the reconstructions agree even more closely
    assert np.linalg.norm(model.inverse_transform(Z_new) - data) / np.linalg.norm(data) < 0.05


def test_transform_is_deterministic_given_the_seed(data):
    model = WNMF(3, **FAST).fit(data)
    np.testing.assert_array_equal(model.transform(data[:10]), model.transform(data[:10]))


def test_masked_entries_have_no_influence(data, rng):
    observed = rng.uniform(size=data.shape) > 0.2
    X1, X2 = data.copy(), data.copy()
    X2[~observed] = rng.uniform(5, 10, size=(~observed).sum())  # garbage where missing
    a = WNMF(3, **FAST).fit(X1, mask=observed)
    b = WNMF(3, **FAST).fit(X2, mask=observed)
    np.testing.assert_array_equal(a.params_["W"], b.params_["W"])
    # NaN with nan_policy="omit" is the same as the mask
    X3 = data.copy()
    X3[~observed] = np.nan
    c = WNMF(3, nan_policy="omit", **FAST).fit(X3)
    np.testing.assert_array_equal(a.params_["W"], c.params_["W"])


def test_input_is_not_modified_and_readonly_fortran_input_works(data):
    X = np.asfortranarray(data.copy())
    X[0, 0] = np.nan
    X.setflags(write=False)
    before = X.copy()
    WNMF(2, nan_policy="omit", **FAST).fit(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.nan], [0.5, 0.2]]), "nan_policy='omit'"),
        (np.array([[1.0, np.inf], [0.5, 0.2]]), "infinite"),
        (np.ones(5), "2D"),
        (np.ones((2, 2, 2)), "dim"),
        (np.ones((0, 3)), "sample"),
        (np.array([["a", "b"], ["c", "d"]]), "X"),
        (np.ones((2, 2), dtype=complex), "omplex"),
    ],
)
def test_bad_input_raises_clear_errors(X, match):
    with pytest.raises(ValueError, match=match):
        WNMF(2, **FAST).fit(X)


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 2.5}, TypeError, "n_components"),
        ({"eta": 1.5}, ValueError, "eta"),
        ({"l2": -1}, ValueError, "l2"),
        ({"l2_mode": "both"}, ValueError, "l2_mode"),
        ({"loss": "l3"}, ValueError, "loss"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_epochs": 0}, ValueError, "max_epochs"),
        ({"lr": 0}, ValueError, "lr"),
        ({"betas": (0.9,)}, ValueError, "betas"),
        ({"betas": (0.9, 1.0)}, ValueError, r"'betas'.*\(0\.9, 1\.0\)"),
        ({"eta_schedule": "exp"}, ValueError, "eta_schedule"),
        ({"h_update": "eager"}, ValueError, "h_update"),
        ({"init": "nndsvd"}, ValueError, "init"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"nan_policy": "drop"}, ValueError, "nan_policy"),
        ({"huber_delta": 0.0}, ValueError, "huber_delta"),
        ({"callback": 3}, TypeError, "callback"),
    ],
)
def test_bad_parameters_name_the_argument(data, kw, err, match):
    kw = {"n_components": 2, **FAST, **kw}
    with pytest.raises(err, match=match):
        WNMF(**kw).fit(data)


def test_kl_rejects_negative_data(data):
    X = data.copy()
    X[0, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        WNMF(2, loss="kl", **FAST).fit(X)


def test_transform_checks_feature_count_and_fitted(data):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        WNMF(2).transform(data)
    model = WNMF(2, **FAST).fit(data)
    with pytest.raises(ValueError, match="expecting 20 features"):
        model.transform(data[:, :5])


def test_divergence_stops_with_an_actionable_error(data):
    # an absurd learning rate throws the factors to ±1e30: their product overflows float32
    with pytest.raises(DivergenceError, match="learning rate"):
        WNMF(2, dtype="float32", lr=1e30, **FAST).fit(data)


def test_callback_sees_every_epoch_and_can_stop(data):
    seen = []

    def callback(epoch, info):
        seen.append((epoch, info["loss"], info["eta"]))
        return epoch == 3

    model = WNMF(2, callback=callback, max_epochs=10, random_state=0).fit(data)
    assert [e for e, _, _ in seen] == [1, 2, 3] and model.n_iter_ == 3
    assert [loss for _, loss, _ in seen] == model.loss_curve_


def test_early_stopping(data):
    model = WNMF(2, max_epochs=500, tol=0.5, n_iter_no_change=2, random_state=0).fit(data)
    assert model.n_iter_ < 500 and model.train_state_.stopped_early


def test_verbose_prints_progress(data, capsys):
    WNMF(2, verbose=2, max_epochs=3, random_state=0).fit(data)
    out = capsys.readouterr().out
    assert out.count("epoch") == 3 and "loss" in out


def test_eta_zero_relu_and_eta_one_linear_train(data):
    for eta in (0.0, 1.0):
        model = WNMF(3, eta=eta, max_epochs=20, random_state=0).fit(data)
        assert np.isfinite(model.loss_curve_).all() and model.loss_curve_[-1] < model.loss_curve_[0]
        if eta == 0.0:
            assert model.components_.min() >= 0  # ReLU factors are exactly non-negative


def test_functional_form_uses_the_paper_convention(data):
    W, H = wnmf(data.T, 3, **FAST)
    assert W.shape == (20, 3) and H.shape == (3, 120)
    model = WNMF(3, **FAST)
    Z = model.fit_transform(data)
    np.testing.assert_allclose(H, Z.T)
    np.testing.assert_allclose(W, model.components_.T)


def test_transform_of_a_subset_equals_the_rows_of_the_full_transform(data):
    model = WNMF(3, dtype="float64", **FAST).fit(data)
    full = model.transform(data)
    part = model.transform(data[10:25])
    np.testing.assert_allclose(part, full[10:25], rtol=1e-10, atol=1e-12)


def test_sum_reduction_matters_only_against_an_explicit_penalty(data):
    # batches of equal size (120 / 20), so that the two scalings differ by one constant
    kw = dict(max_epochs=5, batch_size=20, random_state=0, dtype="float64", adam_eps=1e-12, l2=0.1)
    mean = WNMF(3, l2_mode="decoupled", **kw).fit(data)
    total = WNMF(3, l2_mode="decoupled", loss_reduction="sum", **kw).fit(data)
    # Adam is invariant to the scale of the gradient (up to eps): same factors
    np.testing.assert_allclose(total.params_["W"], mean.params_["W"], rtol=1e-6, atol=1e-9)
    assert total.loss_curve_[0] == pytest.approx(mean.loss_curve_[0] * 20 * data.shape[1], rel=1e-9)
    pen_mean = WNMF(3, l2_mode="penalty", **kw).fit(data)
    pen_sum = WNMF(3, l2_mode="penalty", loss_reduction="sum", **kw).fit(data)
    assert not np.allclose(pen_sum.params_["W"], pen_mean.params_["W"], rtol=1e-3)
    with pytest.raises(ValueError, match="loss_reduction"):
        WNMF(3, loss_reduction="max", **kw).fit(data)
