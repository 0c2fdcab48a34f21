"""AdamW: the reference against the published equations, the fused kernels against the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import backend_name, to_np

from wnmf_np.core.optim import AdamWConfig, AdamWState, adamw_reference, adamw_rows_reference, init_state
from wnmf_np.kernels import get_kernels


def _published_adamw(p, grads, lr, b1, b2, eps, wd, l2):
    """Loshchilov & Hutter's AdamW (torch.optim.AdamW form) written as scalar loops."""
    p = np.array(p, dtype=np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    out = []
    for t, g in enumerate(grads, start=1):
        for i in range(p.size):
            gi = g.flat[i] + 2 * l2 * p.flat[i]
            p.flat[i] *= 1 - lr * wd
            m.flat[i] = b1 * m.flat[i] + (1 - b1) * gi
            v.flat[i] = b2 * v.flat[i] + (1 - b2) * gi * gi
            m_hat = m.flat[i] / (1 - b1**t)
            v_hat = v.flat[i] / (1 - b2**t)
            p.flat[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(p.copy())
    return out


@pytest.mark.parametrize("wd,l2", [(0.0, 0.0), (0.1, 0.0), (0.0, 0.05)])
def test_reference_matches_published_equations_step_by_step(rng, wd, l2):
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    cfg = AdamWConfig(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=wd, l2_penalty=l2)
    expected = _published_adamw(p0, grads, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, wd, l2)
    p, state = p0.copy(), init_state(p0)
    for t, g in enumerate(grads):
        p, state = adamw_reference(p, g, state, cfg, cfg.lr)
        assert state.step == t + 1
        np.testing.assert_allclose(p, expected[t], rtol=1e-13, atol=1e-15)


def test_first_step_moves_each_entry_by_lr_against_the_gradient_sign(rng):
    # with bias correction the first Adam step is -lr * g / (|g| + eps)
    p0 = rng.standard_normal(10)
    g = rng.standard_normal(10)
    p, _ = adamw_reference(p0, g, init_state(p0), AdamWConfig(lr=0.01), 0.01)
    np.testing.assert_allclose(p0 - p, 0.01 * np.sign(g), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wd,l2", [(0.0, 0.0), (0.1, 0.0), (0.0, 0.05)])
def test_fused_dense_kernel_equals_reference(rng, xp, dtype, wd, l2):
    kernels = get_kernels(backend_name(xp))
    cfg = AdamWConfig(lr=3e-3, weight_decay=wd, l2_penalty=l2)
    p_ref = rng.standard_normal((7, 5)).astype(dtype)
    state = init_state(p_ref)
    p, m, v = xp.asarray(p_ref), xp.zeros((7, 5), dtype), xp.zeros((7, 5), dtype)
    for t in range(1, 6):
        g = rng.standard_normal((7, 5)).astype(dtype)
        p_ref, state = adamw_reference(p_ref, g, state, cfg, cfg.lr)
        kernels.adamw_(p, xp.asarray(g), m, v, t, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, wd, l2)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(to_np(p), p_ref, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(to_np(m), state.m, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(to_np(v), state.v, rtol=rtol, atol=rtol)
    assert p.dtype == dtype


@pytest.mark.parametrize("loop", ["by-size", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_row_kernel_equals_reference_and_leaves_other_rows(rng, xp, dtype, loop, monkeypatch):
    """``parallel`` forces numba's one-row-per-thread loop at this small size."""
    if loop == "parallel":
        if xp is not np:
            pytest.skip("the loop choice is numba's")
        from wnmf_np.kernels.dense import numba as _numba

        monkeypatch.setattr(_numba, "PARALLEL_MIN_SIZE", 1)
    kernels = get_kernels(backend_name(xp))
    cfg = AdamWConfig(lr=1e-2, weight_decay=0.1, l2_penalty=0.02)
    n, k = 9, 4
    p_ref = rng.standard_normal((n, k)).astype(dtype)
    state = init_state(p_ref, per_row=True)
    p, m, v = xp.asarray(p_ref), xp.zeros((n, k), dtype), xp.zeros((n, k), dtype)
    steps = xp.zeros(n, dtype=np.int64)
    for _ in range(6):
        rows = rng.choice(n, size=3, replace=False)
        g = rng.standard_normal((3, k)).astype(dtype)
        before = to_np(p).copy()
        p_ref, state = adamw_rows_reference(p_ref, g, rows, state, cfg, cfg.lr)
        kernels.adamw_rows_(p, xp.asarray(g), xp.asarray(rows), m, v, steps, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, 0.1, 0.02)
        others = np.setdiff1d(np.arange(n), rows)
        np.testing.assert_array_equal(to_np(p)[others], before[others])
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(to_np(p), p_ref, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(to_np(steps), state.step)


def test_row_updates_equal_an_independent_adam_per_row(rng):
    """Lazy rows: each row evolves exactly like a dense AdamW that saw only its own gradients."""
    cfg = AdamWConfig(lr=1e-2, weight_decay=0.1)
    n, k = 5, 3
    p0 = rng.standard_normal((n, k))
    p, state = p0.copy(), init_state(p0, per_row=True)
    seen = {i: [] for i in range(n)}
    for _ in range(8):
        rows = rng.choice(n, size=2, replace=False)
        g = rng.standard_normal((2, k))
        p, state = adamw_rows_reference(p, g, rows, state, cfg, cfg.lr)
        for j, i in enumerate(rows):
            seen[i].append(g[j])
    for i in range(n):
        q, st = p0[i].copy(), AdamWState(0, np.zeros(k), np.zeros(k))
        for g in seen[i]:
            q, st = adamw_reference(q, g, st, cfg, cfg.lr)
        np.testing.assert_allclose(p[i], q, rtol=1e-12)


def test_reference_kernel_set_matches_numba_kernel_set(rng):
    ref, fast = get_kernels("numpy", "reference"), get_kernels("numpy")
    p0 = rng.standard_normal((4, 6)).astype(np.float64)
    g = rng.standard_normal((4, 6))
    arrays = [[p0.copy(), np.zeros_like(p0), np.zeros_like(p0)] for _ in range(2)]
    for ks, (p, m, v) in zip((ref, fast), arrays):
        for t in (1, 2, 3):
            ks.adamw_(p, g, m, v, t, 1e-2, 0.9, 0.999, 1e-8, 0.1, 0.0)
    np.testing.assert_allclose(arrays[0][0], arrays[1][0], rtol=1e-12)
    with pytest.raises(ValueError, match="impl"):
        get_kernels("numpy", "turbo")


@pytest.fixture(params=["serial", "parallel"])
def loop_kind(request, monkeypatch):
    """Run the numba kernels through both their serial and their prange loops."""
    from wnmf_np.kernels.dense import numba as _numba

    if request.param == "parallel":
        monkeypatch.setattr(_numba, "PARALLEL_MIN_SIZE", 1)
    return request.param


def test_numba_serial_and_parallel_loops_equal_reference(rng, loop_kind):
    ref, fast = get_kernels("numpy", "reference"), get_kernels("numpy")
    p0 = rng.standard_normal((50, 7)).astype(np.float32)
    g = rng.standard_normal((50, 7)).astype(np.float32)
    arrays = [[p0.copy(), np.zeros_like(p0), np.zeros_like(p0)] for _ in range(2)]
    for ks, (p, m, v) in zip((ref, fast), arrays):
        for t in (1, 2, 3):
            ks.adamw_(p, g, m, v, t, 1e-2, 0.9, 0.999, 1e-8, 0.1, 0.01)
    np.testing.assert_allclose(arrays[1][0], arrays[0][0], rtol=2e-5, atol=2e-6)
    g1, g2 = g.copy(), g.copy()
    ref.leaky_grad_mul_(g1, p0, 0.1)
    fast.leaky_grad_mul_(g2, p0, 0.1)
    np.testing.assert_allclose(g2, g1, rtol=1e-6)
    X = rng.uniform(size=(50, 7)).astype(np.float32)
    for name, param in (("l1", 0.0), ("l2", 0.0), ("huber", 0.3), ("kl", 1e-6)):
        Y1, Y2 = X + g1, X + g1
        v1 = ref.loss_grad_(name, X, Y1, None, param)
        v2 = fast.loss_grad_(name, X, Y2, None, param)
        assert float(v2) == pytest.approx(float(v1), rel=1e-5)
        np.testing.assert_allclose(Y2, Y1, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eta", [0.0, 0.1, 1.0])
def test_numba_leaky_relu_equals_the_reference_bit_for_bit(rng, dtype, eta):
    """The one-pass φη of the forward against ``max(a, η a)``: same bits, special values
    included (NaN propagates, the sign of zero is kept), any layout, input untouched."""
    ref, fast = get_kernels("numpy", "reference"), get_kernels("numpy")
    a = rng.standard_normal((40, 33)).astype(dtype)
    a.flat[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, np.finfo(dtype).tiny]
    for arr in (a, a.T, a[::2, 1::3]):  # C-contiguous, Fortran-ordered, strided
        before = arr.copy()
        expected, got = ref.leaky_relu(arr, eta), fast.leaky_relu(arr, eta)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(got.view(np.uint8), np.ascontiguousarray(expected).view(np.uint8))
        assert np.array_equal(arr, before, equal_nan=True)
