"""Finite-difference checks of the shallow model's hand-written backward, every loss."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_grad_close, away_from_zero, fd_grad

from wnmf_np.core.losses import KL_EPS, LOSSES
from wnmf_np.models.shallow import ShallowModel

PARAMS = {"l1": 0.0, "l2": 0.0, "huber": 0.2, "kl": KL_EPS}


def _objective(model, W, H_rows, X, observed, name, eta):
    Y, cache = model.forward({"W": W}, H_rows, eta)
    value, G = LOSSES[name](X, Y, observed, PARAMS[name])
    return float(value), G, cache


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("eta", [0.1, 1.0])
@pytest.mark.parametrize("masked", [False, True])
def test_backward_matches_finite_differences(rng, name, eta, masked):
    b, r, m = 5, 3, 7
    model = ShallowModel(r)
    W = away_from_zero(rng, (m, r), low=0.1)  # entries away from the kink of φη at 0
    H = away_from_zero(rng, (b, r), low=0.1)
    if name == "kl":  # KL wants a positive reconstruction away from its ε region
        W, H = np.abs(W), np.abs(H)
        X = rng.uniform(0, 1, size=(b, m))
    else:
        Y0 = model.reconstruct({"W": W}, H, eta)
        X = Y0 - away_from_zero(rng, (b, m), low=0.05, high=0.5)  # residuals away from 0
        if name == "huber":  # and away from ±δ
            R = Y0 - X
            X[np.abs(np.abs(R) - 0.2) < 0.03] -= 0.07
    observed = rng.uniform(size=(b, m)) > 0.3 if masked else None
    _, G, cache = _objective(model, W, H, X, observed, name, eta)
    grads = model.backward(G, cache)
    fd_W = fd_grad(lambda P: _objective(model, P, H, X, observed, name, eta)[0], W)
    fd_H = fd_grad(lambda P: _objective(model, W, P, X, observed, name, eta)[0], H)
    assert_grad_close(fd_W, grads["W"])
    assert_grad_close(fd_H, grads["H"])


def test_backward_skips_frozen_parameters(rng):
    model = ShallowModel(2)
    W, H = rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    Y, cache = model.forward({"W": W}, H, 0.1)
    assert set(model.backward(Y, cache, need=("H",))) == {"H"}


def test_backward_with_fused_kernels_equals_plain_formula(rng):
    from wnmf_np.kernels import get_kernels

    model = ShallowModel(3)
    W, H = rng.standard_normal((8, 3)), rng.standard_normal((4, 3))
    G = rng.standard_normal((4, 8))
    _, cache = model.forward({"W": W}, H, 0.1)
    plain = model.backward(G.copy(), cache)
    fused = model.backward(G.copy(), cache, kernels=get_kernels("numpy"))
    for name in ("W", "H"):
        np.testing.assert_allclose(fused[name], plain[name], rtol=1e-14)
