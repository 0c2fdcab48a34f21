"""The Frobenius objective of the MU driver by the trace identity (issue 14: a whole fit
pays no pass over X for its objective) — accurate where its bound says so, entry-wise
where not, and without any effect on the factors."""

import numpy as np
import pytest

from wnmf_np.mu import updates
from wnmf_np.mu.shallow import run_mu
from wnmf_np.mu.updates import Penalty, Problem, divergence, frobenius_trace, squared_norm, update_H, update_Wt


def _problem(X, l2=0.0):
    eps = float(np.finfo(X.dtype).eps)
    return Problem(np, X, None, 2.0, 1.0, eps, Penalty(l2_H=l2, l2_W=l2), True)


def _factors(rng, n, m, r, dtype):
    return (rng.random((n, r)) + 0.1).astype(dtype), (rng.random((r, m)) + 0.1).astype(dtype)


def test_squared_norm_is_the_float64_sum_of_squares():
    X = np.random.default_rng(0).random((300, 70)).astype(np.float32)
    exact = float(np.sum(X.astype(np.float64) ** 2))
    assert squared_norm(_problem(X)) == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-11), (np.float32, None)])
def test_trace_form_matches_the_entrywise_divergence_within_its_bound(dtype, rel):
    rng = np.random.default_rng(1)
    X = rng.random((200, 500)).astype(dtype)
    H, Wt = _factors(rng, 200, 500, 8, dtype)
    H *= 0.3
    prob = _problem(X)
    exact = divergence(prob, H, Wt)
    value, bound = frobenius_trace(squared_norm(prob), X @ Wt.T, H, Wt)
    assert abs(value - exact) <= bound
    if rel is not None:
        assert value == pytest.approx(exact, rel=rel)


def test_run_mu_factors_are_those_of_plain_alternating_updates():
    """Reusing the objective's XW = X Wtᵀ in the next H-update changes no bit of the factors."""
    rng = np.random.default_rng(2)
    X = rng.random((120, 90))
    H0, Wt0 = _factors(rng, 120, 90, 5, np.float64)
    prob = _problem(X, l2=0.01)
    H, Wt = H0.copy(), Wt0.copy()
    res = run_mu(prob, H0.copy(), Wt0.copy(), max_iter=25, tol=1e-12)
    for _ in range(res.n_iter):
        update_H(prob, H, Wt)
        update_Wt(prob, H, Wt)
    np.testing.assert_array_equal(res.H, H)
    np.testing.assert_array_equal(res.Wt, Wt)
    assert res.n_iter == 25  # tol=1e-12 never stops 25 iterations; the checks ran and were reused


def test_reported_objective_is_the_entrywise_one_to_the_stated_accuracy():
    rng = np.random.default_rng(3)
    X = rng.random((150, 400)).astype(np.float32)
    H0, Wt0 = _factors(rng, 150, 400, 6, np.float32)
    prob = _problem(X, l2=0.05)
    res = run_mu(prob, H0, Wt0, max_iter=30, tol=0)
    exact = divergence(prob, res.H, res.Wt)
    assert res.divergence == pytest.approx(exact, rel=updates.TRACE_MAX_REL_ERROR)
    assert res.losses[-1] == pytest.approx(exact + updates.penalty_value(prob, res.H, res.Wt), rel=1e-4)


def test_near_exact_fit_falls_back_to_the_entrywise_divergence(monkeypatch):
    """X = H Wt exactly (float32): the trace form would be all cancellation."""
    rng = np.random.default_rng(4)
    H_true, Wt_true = _factors(rng, 100, 300, 4, np.float32)
    X = H_true @ Wt_true
    calls = []
    real = updates.divergence

    def counting(prob, H, Wt):
        calls.append(1)
        return real(prob, H, Wt)

    monkeypatch.setattr("wnmf_np.mu.shallow.divergence", counting)
    prob = _problem(X)
    res = run_mu(prob, H_true.copy(), Wt_true.copy(), max_iter=3, tol=0)
    assert len(calls) == 2  # the start and the end, each entry-wise
    assert res.divergence == real(prob, res.H, res.Wt)


def test_ordinary_fit_evaluates_no_entrywise_divergence(monkeypatch):
    rng = np.random.default_rng(5)
    X = rng.random((100, 300))
    H0, Wt0 = _factors(rng, 100, 300, 4, np.float64)

    def refuse(*args):
        raise AssertionError("entry-wise divergence evaluated")

    monkeypatch.setattr("wnmf_np.mu.shallow.divergence", refuse)
    monkeypatch.setattr("wnmf_np.mu.shallow.objective", refuse)
    res = run_mu(_problem(X), H0, Wt0, max_iter=20, tol=1e-3)
    assert len(res.losses) >= 2


def test_sparse_data_take_the_same_trace_form(monkeypatch):
    """CSR X: the driver's own trace form (no call of ``divergence``), accurate to the stated bound."""
    import scipy.sparse as sp

    calls = []
    monkeypatch.setattr("wnmf_np.mu.shallow.divergence", lambda *a: calls.append(1) or divergence(*a))

    rng = np.random.default_rng(6)
    dense = rng.random((120, 200)).astype(np.float32)
    dense[dense < 0.6] = 0.0
    X = sp.csr_matrix(dense)
    H0, Wt0 = _factors(rng, 120, 200, 4, np.float32)
    prob = _problem(X)
    res = run_mu(prob, H0, Wt0, max_iter=15, tol=0)
    assert calls == []
    exact = 0.5 * float(np.sum((dense.astype(np.float64) - res.H.astype(np.float64) @ res.Wt.astype(np.float64)) ** 2))
    assert squared_norm(prob) == pytest.approx(float(np.sum(dense.astype(np.float64) ** 2)), rel=1e-12)
    assert divergence(prob, res.H, res.Wt) == pytest.approx(exact, rel=1e-10)
    assert res.divergence == pytest.approx(exact, rel=updates.TRACE_MAX_REL_ERROR)


def test_squared_norm_reads_out_of_core_x_in_large_blocks(tmp_path, monkeypatch):
    """In memory ‖X‖² runs over cache-sized blocks; an out-of-core X (each slice one read,
    one Dask computation) is read in the large blocks of the other passes: here once."""
    from wnmf_np.mu.chunked import ChunkedMatrix

    X = np.random.default_rng(0).random((3000, 512)).astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    chunked = ChunkedMatrix(np.load(path, mmap_mode="r"), np.float32)
    reads = []
    rows = ChunkedMatrix._rows
    monkeypatch.setattr(ChunkedMatrix, "_rows", lambda self, a, b: reads.append((a, b)) or rows(self, a, b))
    exact = float(np.sum(X.astype(np.float64) ** 2))
    assert squared_norm(_problem(chunked)) == pytest.approx(exact, rel=1e-13)
    assert reads == [(0, 3000)]
    assert squared_norm(_problem(X)) == pytest.approx(exact, rel=1e-13)
