"""λ as the mini-batch estimate of the objective (``l2_mode="objective"`` / ``"eq9"``).

Checks: the gradient the driver hands to AdamW (loss gradient plus penalty) against
finite differences of the step's objective, for every model; the mini-batch weighting
adds up to the objective over an epoch; the objective form is eq. (9) rescaled; the
per-step coefficients; early stopping; the negativity attributes; and that λ does what
the paper says it does (smaller negative parts).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_grad_close, away_from_zero, fd_grad, low_rank_nonneg

from wnmf_np import WNMF, DeconvWNMF, DeepWNMF
from wnmf_np.core.losses import LOSSES, LossSpec
from wnmf_np.core.optim import AdamWConfig
from wnmf_np.core.regularization import make_l2_weights, objective_value, objective_weights
from wnmf_np.kernels import KernelSet
from wnmf_np.kernels.dense import reference as ref
from wnmf_np.metrics import negativity
from wnmf_np.models.deconv import DeconvModel
from wnmf_np.models.deep import DeepModel
from wnmf_np.models.shallow import ShallowModel
from wnmf_np.training.driver import _early_stop, _step
from wnmf_np.training.state import TrainConfig, TrainState, init_train_state

LAM = 0.37


def _recording_kernels(record):
    """Reference losses and φη', and AdamW stand-ins that record the total gradient
    (gradient + 2·coefficient·param) they were given instead of stepping."""

    def adamw_(param, grad, m, v, step, lr, b1, b2, eps, wd, l2):
        record[id(param)] = grad + 2.0 * l2 * param

    def adamw_rows_(param, grad_rows, rows, m, v, steps, lr, b1, b2, eps, wd, l2):
        full = np.zeros_like(param)
        full[rows] = grad_rows + 2.0 * l2 * param[rows]
        record[id(param)] = full

    return KernelSet("recording", adamw_, adamw_rows_, ref.loss_grad_, ref.leaky_relu, ref.leaky_grad_mul_)


def _batch_objective(model, params, X_b, rows, loss, eta, alpha, n):
    """f_B = ℓ̄_B + Σ_{P≠H} α_P‖P‖² + α_H (n/b) ‖H_B‖², the step's objective, written out."""
    sample = model.sample_param
    Y, _ = model.forward(params, params[sample][rows], eta)
    value, _ = LOSSES[loss](X_b, np.asarray(Y).reshape(X_b.shape), None, 0.0)
    total = float(value)
    for name, a in alpha.items():
        P = params[name][rows] if name == sample else params[name]
        weight = a * n / len(rows) if name == sample else a
        total += weight * float((P * P).sum())
    return total


def _models(rng):
    """(model, n_features, data maker) for shallow, deep and deconvolutional WNMF."""
    return [
        (ShallowModel(3), 7),
        (DeepModel((2, 3)), 7),
        (DeconvModel(2, (4, 4), stride=2), 16),
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["shallow", "deep", "deconv"])
@pytest.mark.parametrize("mode", ["objective", "eq9"])
@pytest.mark.parametrize("h_update", ["lazy", "dense"])
@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_step_gradient_with_penalty_matches_finite_differences(rng, which, mode, h_update, loss):
    model, m = _models(rng)[which]
    n, eta = 6, 0.1
    shapes = model.param_shapes(n, m)
    params = {k: away_from_zero(rng, s, low=0.15, high=0.8) for k, s in shapes.items()}  # away from φη's kink
    rows = np.array([4, 1, 3])
    Y0, _ = model.forward(params, params[model.sample_param][rows], eta)
    Y0 = np.asarray(Y0).reshape(len(rows), -1)
    X = np.zeros((n, m))
    X[rows] = Y0 - away_from_zero(rng, Y0.shape, low=0.05, high=0.5)  # residuals away from L1's kink
    alpha = objective_weights(model, shapes, LAM, mode, n * m)
    l2 = make_l2_weights(mode, LAM, model, shapes, n * m)
    config = TrainConfig(LossSpec(loss), AdamWConfig(), batch_size=3, max_epochs=1, eta_schedule=lambda e: eta,
                         lr_schedule=lambda s: 1.0, h_update=h_update, l2=l2)  # fmt: skip
    record = {}
    state = init_train_state(params, tuple(params), model.sample_param, h_update)
    _step(model, params, X[rows].copy(), None, rows, eta, 1e-3, config, _recording_kernels(record), state,
          tuple(params), np)  # fmt: skip
    for name, P in params.items():

        def f(Q, name=name):
            return _batch_objective(model, {**params, name: Q}, X[rows], rows, loss, eta, alpha, n)

        assert_grad_close(fd_grad(f, P), record[id(P)])


@pytest.mark.parametrize("mode", ["objective", "eq9"])
def test_minibatch_weighting_sums_to_the_objective_over_an_epoch(rng, mode):
    model, n, m = ShallowModel(3), 10, 7
    shapes = model.param_shapes(n, m)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    X = rng.uniform(size=(n, m))
    alpha = objective_weights(model, shapes, LAM, mode, n * m)
    l2 = make_l2_weights(mode, LAM, model, shapes, n * m)
    batches = np.split(rng.permutation(n), [4, 8])  # 4, 4 and a short last batch of 2
    epoch_total = 0.0
    for rows in batches:
        Y = model.reconstruct(params, params["H"][rows], 0.1)
        loss_sum = np.abs(Y - X[rows]).sum()  # the batch's summed loss: (b m) ℓ̄_B
        f_b = loss_sum / (len(rows) * m) + l2.coefficient("W") * (params["W"] ** 2).sum()
        f_b += l2.sample_coefficient(len(rows)) * (params["H"][rows] ** 2).sum()
        epoch_total += len(rows) / n * f_b
    full_loss = np.abs(model.reconstruct(params, params["H"], 0.1) - X).mean()
    assert epoch_total == pytest.approx(objective_value(full_loss, params, alpha), rel=1e-12)


def test_objective_form_is_eq9_with_per_factor_weights(rng):
    """n·m·F = Σℓ + λn‖W‖² + λm‖H‖²; its minimisers are eq. (9)'s with λ√(nm), rescaled."""
    model, n, m = ShallowModel(3), 10, 7
    shapes = model.param_shapes(n, m)
    alpha = objective_weights(model, shapes, LAM, "objective", n * m)
    assert alpha["W"] * n * m == pytest.approx(LAM * n)
    assert alpha["H"] * n * m == pytest.approx(LAM * m)
    eq9 = objective_weights(model, shapes, LAM, "eq9", n * m)
    assert eq9["W"] * n * m == pytest.approx(LAM) and eq9["H"] * n * m == pytest.approx(LAM)
    # the rescaling W → αW, H → H/α with α = (n/m)^(1/4) turns the two weights into one
    W, H = rng.standard_normal(shapes["W"]), rng.standard_normal(shapes["H"])
    a = (n / m) ** 0.25
    per_factor = LAM * n * (W**2).sum() + LAM * m * (H**2).sum()
    single = LAM * math.sqrt(n * m) * (((a * W) ** 2).sum() + ((H / a) ** 2).sum())
    assert per_factor == pytest.approx(single)


def test_per_step_coefficients_of_the_shallow_objective_form():
    model, n, m, b = ShallowModel(5), 400, 10304, 64
    l2 = make_l2_weights("objective", LAM, model, model.param_shapes(n, m), n * m)
    assert l2.coefficient("W") == pytest.approx(LAM / m)
    assert l2.sample_coefficient(b) == pytest.approx(LAM / b)
    assert l2.sample_coefficient(b, row_independent=True) == pytest.approx(LAM)  # transform: per-row objective
    legacy = make_l2_weights("penalty", LAM, model, model.param_shapes(n, m), n * m)
    assert legacy.coefficient("W") == LAM and legacy.sample_coefficient(b) == LAM
    decoupled = make_l2_weights("decoupled", LAM, model, model.param_shapes(n, m), n * m)
    assert decoupled.weight_decay == LAM and decoupled.coefficient("W") == 0 and decoupled.sample_coefficient(b) == 0


def test_sum_reduction_is_refused_with_the_objective_forms():
    X = np.random.default_rng(0).random((12, 6))
    with pytest.raises(ValueError, match="loss_reduction='sum' cannot be combined"):
        WNMF(2, l2_mode="objective", loss_reduction="sum", max_epochs=1).fit(X)


# ------------------------------------------------------------------ early stopping
def _config(n_iter_no_change, tol=1e-3):
    return TrainConfig(LossSpec("l1"), AdamWConfig(), 1, 100, lambda e: 0.1, lambda s: 1.0, tol=tol,
                       n_iter_no_change=n_iter_no_change)  # fmt: skip


def test_early_stop_counts_from_the_first_epoch():
    state, config = TrainState(), _config(3)
    losses = [10.0, 9.0, 8.0, 7.999, 7.9985, 7.998]  # epochs 4-6 improve on 8.0 by < tol
    stops = [_early_stop(state, loss, config) for loss in losses]
    assert stops == [False, False, False, False, False, True]
    assert state.best_loss == 8.0
    assert not _early_stop(state, 7.0, config) and state.epochs_no_improve == 0  # an improvement resets


def test_early_stop_never_stops_while_the_loss_falls():
    state, config = TrainState(), _config(2)
    assert not any(_early_stop(state, 10.0 * 0.9**k, config) for k in range(50))


def test_fit_stops_early_at_the_right_epoch():
    X = low_rank_nonneg(np.random.default_rng(1), 40, 20, 3)[0]
    falling = WNMF(3, max_epochs=40, n_iter_no_change=3, random_state=0).fit(X)
    assert falling.n_iter_ == 40  # the loss falls all along: no early stop (the old code stopped at 3)
    stalled = WNMF(3, max_epochs=40, n_iter_no_change=3, lr=1e-12, latent_lr=1e-12, random_state=0).fit(X)
    assert stalled.n_iter_ == 4  # epoch 1 sets the best loss, epochs 2-4 do not improve on it


# ------------------------------------------------------------------ negativity
def test_negativity_of_a_constructed_factor():
    A = np.array([[1.0, -0.5, 0.0], [2.0, 0.5, -1.0]])
    s = negativity(A)
    assert s == {"frac_negative": 2 / 6, "negative_mass": 1.5 / 5.0, "min": -1.0, "max": 2.0}
    assert negativity(np.abs(A))["negative_mass"] == 0.0
    assert negativity(A.reshape(2, 3, 1))["frac_negative"] == 2 / 6  # images: flattened per sample


@pytest.mark.parametrize(
    "make, names",
    [
        (lambda: WNMF(3, max_epochs=3, random_state=0), ("components", "latents")),
        (lambda: DeepWNMF((2, 3), max_epochs=3, random_state=0), ("W1", "W2", "latents")),
        (lambda: DeconvWNMF(2, image_shape=(4, 4), max_epochs=3, random_state=0), ("components", "kernels")),
    ],
)
def test_negativity_attribute_describes_every_factor(make, names):
    X = low_rank_nonneg(np.random.default_rng(2), 30, 16, 3)[0]
    model = make().fit(X)
    assert tuple(model.negativity_) == names
    factors = model._factors()
    for name in names:
        assert model.negativity_[name] == negativity(factors[name])
    assert model.negativity_[names[-1]]["min"] == pytest.approx(float(np.min(factors[names[-1]])))


def test_lambda_makes_the_factors_weakly_non_negative():
    """The paper's claim (Sec. 3.1, Fig. 2): λ is what keeps the negative parts small."""
    X = low_rank_nonneg(np.random.default_rng(3), 300, 80, 6, noise=0.05)[0]
    masses = {}
    for lam in (0.0, 0.03):
        m = WNMF(6, l2=lam, l2_mode="objective", max_epochs=60, random_state=0).fit(X)
        masses[lam] = max(s["negative_mass"] for s in m.negativity_.values())
    assert masses[0.03] * 3 <= masses[0.0]
    assert masses[0.03] < 0.01
