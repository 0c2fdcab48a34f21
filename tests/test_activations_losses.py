"""φη and the losses: values against direct formulas, gradients by finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import away_from_zero, backend_name, to_np

from wnmf_np.core.activations import inverse_leaky_relu, leaky_relu, leaky_relu_grad
from wnmf_np.core.losses import KL_EPS, LOSSES
from wnmf_np.kernels import get_kernels


@pytest.mark.parametrize("eta", [0.0, 0.1, 1.0])
def test_leaky_relu_matches_definition(xp, eta):
    a = xp.asarray(np.linspace(-2, 2, 41))
    expected = np.where(to_np(a) >= 0, to_np(a), eta * to_np(a))
    np.testing.assert_array_equal(to_np(leaky_relu(a, eta)), expected)
    out = xp.empty_like(a)
    leaky_relu(a, eta, out=out)
    np.testing.assert_array_equal(to_np(out), expected)
    grad = to_np(leaky_relu_grad(a, eta))
    np.testing.assert_array_equal(grad, np.where(to_np(a) >= 0, 1.0, eta))


def test_leaky_relu_keeps_float32(xp):
    a = xp.asarray(np.array([-1.0, 2.0], dtype=np.float32))
    assert leaky_relu(a, 0.1).dtype == np.float32
    assert leaky_relu_grad(a, 0.1).dtype == np.float32


@pytest.mark.parametrize("eta", [0.0, 0.1, 1.0])
def test_inverse_leaky_relu_is_a_preimage(rng, eta):
    y = rng.standard_normal(50)
    a = inverse_leaky_relu(y, eta)
    expected = np.maximum(y, 0) if eta == 0 else y
    np.testing.assert_allclose(leaky_relu(a, eta), expected, rtol=1e-12)


def _direct_loss(name, X, Y, w, param):
    """The losses written out independently of wnmf_np.core.losses (float64)."""
    R = Y - X
    if name == "l1":
        f = np.abs(R)
    elif name == "l2":
        f = 0.5 * R**2
    elif name == "huber":
        f = np.where(np.abs(R) <= param, 0.5 * R**2, param * (np.abs(R) - 0.5 * param))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(X > 0, X * np.log(X / np.maximum(Y, param)), 0.0) - X + np.maximum(Y, param)
        assert (Y >= param).all()
    return float((f * w).sum() / w.sum())


PARAMS = {"l1": 0.0, "l2": 0.0, "huber": 0.3, "kl": KL_EPS}


def _loss_data(rng, name, shape=(6, 9), masked=False):
    X = rng.uniform(0.0, 1.0, size=shape)
    if name == "kl":
        X[0, :3] = 0.0  # zeros in the data are legal for KL
        Y = rng.uniform(0.1, 1.2, size=shape)
    else:
        # residuals of both signs, away from 0 and from ±δ (the kinks of L1 and Huber)
        R = away_from_zero(rng, shape, low=0.05, high=0.8)
        R[np.abs(np.abs(R) - 0.3) < 0.02] *= 1.2
        Y = X + R
    observed = rng.uniform(size=shape) > 0.3 if masked else None
    return X, Y, observed


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("masked", [False, True])
def test_loss_value_matches_direct_formula(rng, name, masked):
    X, Y, observed = _loss_data(rng, name, masked=masked)
    value, _ = LOSSES[name](X, Y, observed, PARAMS[name])
    w = np.ones_like(X) if observed is None else observed.astype(float)
    assert float(value) == pytest.approx(_direct_loss(name, X, Y, w, PARAMS[name]), rel=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("masked", [False, True])
def test_loss_gradient_finite_differences(rng, name, masked):
    X, Y, observed = _loss_data(rng, name, masked=masked)
    param = PARAMS[name]
    _, grad = LOSSES[name](X, Y, observed, param)
    h = 1e-6
    fd = np.zeros_like(Y)
    for idx in np.ndindex(Y.shape):
        Yp, Ym = Y.copy(), Y.copy()
        Yp[idx] += h
        Ym[idx] -= h
        fd[idx] = (float(LOSSES[name](X, Yp, observed, param)[0]) - float(LOSSES[name](X, Ym, observed, param)[0])) / (2 * h)
    err = np.abs(fd - grad)
    scale = np.abs(grad).max()
    assert err.max() <= 1e-6 * scale
    assert err.mean() <= 1e-7 * scale
    if observed is not None:
        assert (grad[~observed] == 0).all()


def test_kl_continuation_below_eps_pushes_up_and_is_continuous(rng):
    eps = 1e-3
    x = np.array([[0.0, 0.5, 2e-4]])
    for y0 in (-0.5, -1e-4, eps / 2):
        _, g = LOSSES["kl"](x, np.full_like(x, y0), None, eps)
        # x >= eps: below eps every y is pushed up; x < eps: y is pulled towards x
        assert g[0, 1] < 0
        assert np.sign(g[0, 0]) == np.sign(y0 - x[0, 0])
        assert np.sign(g[0, 2]) == np.sign(y0 - x[0, 2])
    # ... and the loss is continuous at y = eps
    below = float(LOSSES["kl"](x, np.full_like(x, eps * (1 - 1e-9)), None, eps)[0])
    above = float(LOSSES["kl"](x, np.full_like(x, eps * (1 + 1e-9)), None, eps)[0])
    assert below == pytest.approx(above, rel=1e-6)
    # for x = 0 the minimiser is y = 0 (not -inf: the continuation is bounded below)
    ys = np.linspace(-1, 1, 2001)[:, None]
    vals = [float(LOSSES["kl"](np.zeros((1, 1)), y[None], None, eps)[0]) for y in ys]
    assert abs(ys[int(np.argmin(vals)), 0]) < 2e-3


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_loss_kernels_propagate_a_nan_reconstruction(xp, name, impl):
    """A NaN in Y makes the loss NaN (so the driver reports divergence), never finite."""
    kernels = get_kernels(backend_name(xp), impl)
    X = xp.asarray(np.full((2, 3), 0.5))
    Y = xp.asarray(np.full((2, 3), 0.4))
    Y[0, 1] = np.nan
    assert np.isnan(float(kernels.loss_grad_(name, X, Y, None, PARAMS[name])))


@pytest.mark.parametrize("name", ["l1", "l2", "huber"])
@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_loss_kernel_n_entries_averages_over_the_true_entries(rng, xp, name, impl):
    """Zero padding (X = Y = 0) with ``n_entries`` = the unpadded count gives the unpadded
    loss and gradient (the padded training layout of the deconvolutional model); with a
    mask ``n_entries`` is ignored (the mask's count is exact)."""
    X, Y, _ = _loss_data(rng, name, shape=(6, 11))
    kernels = get_kernels(backend_name(xp), impl)

    def padded(A):
        return np.concatenate([A, np.zeros((6, 4))], axis=1)

    want_grad = xp.asarray(Y.copy())
    want = kernels.loss_grad_(name, xp.asarray(X), want_grad, None, PARAMS[name])
    got_grad = xp.asarray(padded(Y))
    got = kernels.loss_grad_(name, xp.asarray(padded(X)), got_grad, None, PARAMS[name], X.size)
    assert float(got) == pytest.approx(float(want), rel=1e-12)
    np.testing.assert_allclose(to_np(got_grad)[:, :11], to_np(want_grad), rtol=1e-12)
    assert not to_np(got_grad)[:, 11:].any()
    observed = xp.asarray(padded(np.ones_like(X)) > 0)
    masked_grad = xp.asarray(padded(Y))
    masked = kernels.loss_grad_(name, xp.asarray(padded(X)), masked_grad, observed, PARAMS[name], 1)
    assert float(masked) == pytest.approx(float(want), rel=1e-12)  # the mean over the mask, not over 1
    np.testing.assert_allclose(to_np(masked_grad), to_np(got_grad), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_loss_kernel_equals_reference(rng, xp, name, masked, dtype):
    X, Y, observed = _loss_data(rng, name, shape=(17, 23), masked=masked)
    if name == "kl":
        Y[0, 0], Y[1, 1] = -0.2, 1e-8  # exercise the continuation below eps
    X, Y = xp.asarray(X.astype(dtype)), xp.asarray(Y.astype(dtype))
    obs = None if observed is None else xp.asarray(observed)
    ref_value, ref_grad = LOSSES[name](X, Y, obs, PARAMS[name])
    fused = get_kernels(backend_name(xp))
    Yf = Y.copy()
    value = fused.loss_grad_(name, X, Yf, obs, PARAMS[name])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert float(value) == pytest.approx(float(ref_value), rel=rtol)
    np.testing.assert_allclose(to_np(Yf), to_np(ref_grad), rtol=rtol, atol=rtol * float(abs(ref_grad).max()))


_LOSS_KERNELS_WITHOUT_JIT = """
import numpy as np
from wnmf_np.core.losses import LOSSES
from wnmf_np.kernels.dense import numba as nbk
assert not hasattr(nbk._LOSS_LOOPS["l1"], "py_func")  # plain Python, not a dispatcher
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    X = rng.uniform(0.1, 1.0, size=(6, 5)).astype(dtype)
    Y = (X + rng.normal(size=X.shape)).astype(dtype)
    Y[0, 0] = X[0, 0]  # a zero residual: sign 0
    for observed in (None, rng.random(X.shape) < 0.7):
        for name, param in {"l1": 0.0, "l2": 0.0, "huber": 0.3, "kl": 1e-3}.items():
            want, want_grad = LOSSES[name](X, Y.copy(), observed, param)
            got_grad = Y.copy()
            got = nbk.loss_grad_(name, X, got_grad, observed, param)
            np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=name)
            np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-7, err_msg=name)
"""


def test_numba_loss_kernels_run_as_python_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the numba loss loops run as plain Python (the L1 sign of
    NumPy booleans once raised a TypeError there) and equal the reference."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", _LOSS_KERNELS_WITHOUT_JIT], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": repo, "NUMBA_DISABLE_JIT": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
