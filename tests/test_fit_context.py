"""The flow of one fit: the data prepared once into a fit context, one object handed to
the driver, the final state (η included) handed back, and the models' layout protocol."""

from __future__ import annotations

import numpy as np
import pytest

import wnmf_np.estimators.base
import wnmf_np.estimators.streaming
from wnmf_np import WNMF, DeconvWNMF, DeepWNMF
from wnmf_np.core.backend import resolve_backend
from wnmf_np.core.losses import LossSpec
from wnmf_np.kernels import get_kernels
from wnmf_np.models.deconv import DeconvModel
from wnmf_np.models.deep import DeepModel
from wnmf_np.models.layout import LossNormalisation
from wnmf_np.models.shallow import ShallowModel
from wnmf_np.training.context import FitContext
from wnmf_np.training.data import InMemoryData, OutOfCoreData

KW = dict(max_epochs=4, batch_size=8, random_state=0, n_threads=1)


@pytest.fixture
def X():
    return np.random.default_rng(0).uniform(0.1, 1.0, (24, 6))


def _spy(monkeypatch, module, name):
    """Record the calls of ``module.name`` (args and result), calling through."""
    calls = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append((args, kwargs, result))
        return result

    monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_the_data_is_prepared_once_and_the_driver_gets_one_context(monkeypatch, X, method):
    model = WNMF(3, **KW)
    if method == "transform":
        model.fit(X)
    prepared = _spy(monkeypatch, wnmf_np.estimators.base, "data_source")
    by_fit = _spy(monkeypatch, wnmf_np.estimators.base, "train")
    by_partial_fit = _spy(monkeypatch, wnmf_np.estimators.streaming, "train")
    getattr(model, method)(X)
    trained = by_fit + by_partial_fit
    assert len(prepared) == 1 and len(trained) == 1
    (ctx, params, state, _), _, returned = trained[0]
    assert isinstance(ctx, FitContext) and ctx.data is prepared[0][2]
    assert isinstance(ctx.data, InMemoryData) and ctx.shape == X.shape and ctx.n_observed == X.size
    assert returned is state  # the driver hands back the state it was given, updated


def test_out_of_core_data_reaches_the_driver_as_its_data_source(monkeypatch, tmp_path, X):
    path = tmp_path / "X.npy"
    np.save(path, X)
    trained = _spy(monkeypatch, wnmf_np.estimators.base, "train")
    WNMF(3, **KW).fit(np.load(path, mmap_mode="r"))
    ctx = trained[0][0][0]
    assert isinstance(ctx.data, OutOfCoreData) and ctx.dtype == np.float64


@pytest.mark.parametrize("stop_at", [2, 4])
def test_the_driver_returns_the_eta_of_the_last_finished_epoch(X, stop_at):
    """η linear from 1 to 0.2 over 4 epochs: a fit stopped after epoch ``stop_at`` is read
    at the η of that epoch, η_{stop_at − 1} (its state says so, and ``final_eta_``)."""
    model = WNMF(3, eta=0.2, eta_schedule="linear", callback=lambda epoch, info: epoch == stop_at, **KW).fit(X)
    expected = 1.0 + (0.2 - 1.0) * (stop_at - 1) / 3
    assert model.n_iter_ == stop_at
    assert model.train_state_.eta == pytest.approx(expected) and model.final_eta_ == model.train_state_.eta


def test_partial_fit_builds_a_streaming_config(monkeypatch, X):
    """One epoch at the schedule's final η, a constant learning rate, no early stopping;
    the configuration the driver gets is the one built (not changed afterwards)."""
    trained = _spy(monkeypatch, wnmf_np.estimators.streaming, "train")
    model = WNMF(3, eta=0.3, eta_schedule="linear", lr_schedule="cosine", **KW)
    model.partial_fit(X)
    config = trained[0][0][0].config
    assert config.max_epochs == 1 and config.n_iter_no_change is None and config.label == "partial_fit"
    assert [config.lr_schedule(s) for s in (0, 1, 10)] == [1.0, 1.0, 1.0]
    assert config.eta_schedule(0) == pytest.approx(0.3) and model.final_eta_ == pytest.approx(0.3)


def test_shallow_and_deep_models_train_on_the_data_as_it_is(X):
    data = InMemoryData(X)
    for model in (ShallowModel(3), DeepModel((3, 2))):
        assert model.training_layout(X, None, "l1") is None
        step, source, normalisation = data.layout_for(model, "l1")
        assert step is model and source is data and normalisation.entries_per_row is None


def test_the_phase_layout_is_the_models_and_stays_in_memory(tmp_path):
    X = np.random.default_rng(1).uniform(0.1, 1.0, (5, 20))
    model = DeconvModel(2, (5, 4), 2, train_layout="phase")
    step, source, normalisation = InMemoryData(X).layout_for(model, "l1")
    assert step is not model and source.shape == (5, 2 * 2 * 4 * 3) and normalisation.entries_per_row == 20
    np.save(tmp_path / "X.npy", X)
    stored = OutOfCoreData(np.load(tmp_path / "X.npy", mmap_mode="r"), resolve_backend("numpy"), np.float64)
    step, source, normalisation = stored.layout_for(model, "l1")
    assert step is model and source is stored and normalisation.entries_per_row is None


@pytest.mark.parametrize("reduction,per_row", [("mean", False), ("mean", True), ("sum", False)])
@pytest.mark.parametrize("masked", [False, True])
def test_loss_normalisation_counts_only_the_true_entries(reduction, per_row, masked):
    """Zero padding (X = Y = 0, unobserved under a mask) normalised with the true count per
    row gives the unpadded loss and gradient; "sum" scales the mean loss and its gradient
    by the observed entries, the per-row mean only the gradient, by the batch size."""
    rng = np.random.default_rng(2)
    X, Y = rng.uniform(size=(4, 6)), rng.uniform(size=(4, 6))
    obs = rng.random((4, 6)) > 0.3 if masked else None
    pad = np.zeros((4, 3))
    kernels, loss = get_kernels("numpy", "reference"), LossSpec("l1")

    def run(norm, X, Y, obs, reduction=reduction, per_row=per_row):
        G = Y.copy()
        return float(norm.loss_grad_(kernels, loss, X, G, obs, reduction, per_row)), G

    value, G = run(LossNormalisation(), X, Y, obs)
    padded_obs = None if obs is None else np.hstack([obs, pad.astype(bool)])
    padded, G_padded = run(LossNormalisation(6), np.hstack([X, pad]), np.hstack([Y, pad]), padded_obs)
    assert padded == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(G_padded[:, :6], G, rtol=1e-12)
    assert not G_padded[:, 6:].any()
    mean, G_mean = run(LossNormalisation(), X, Y, obs, "mean", False)
    n_true = X.size if obs is None else int(obs.sum())
    value_factor = n_true if reduction == "sum" else 1
    grad_factor = n_true if reduction == "sum" else (X.shape[0] if per_row else 1)
    assert value == pytest.approx(mean * value_factor, rel=1e-12)
    np.testing.assert_allclose(G, G_mean * grad_factor, rtol=1e-12)


@pytest.mark.parametrize("cls,arg", [(WNMF, 3), (DeepWNMF, (3, 2)), (DeconvWNMF, 2)])
def test_an_interrupted_fit_keeps_the_state_the_driver_reached(monkeypatch, X, cls, arg):
    """No side channel: the estimator holds the state it handed the driver, so after a
    KeyboardInterrupt (here from the callback in epoch 3) the fitted attributes show it."""
    extra = dict(image_shape=(3, 2), stride=1) if cls is DeconvWNMF else {}

    def interrupt(epoch, info):
        if epoch == 3:
            raise KeyboardInterrupt

    model = cls(arg, callback=interrupt, **extra, **KW)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3 and model.train_state_.epoch == 3
    assert np.isfinite(model.reconstruction_err_)
