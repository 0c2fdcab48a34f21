"""``n_threads``: validated, honoured inside every estimator's fit, restored afterwards,
and without effect on the result beyond rounding."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from helpers import low_rank_nonneg
from threadpoolctl import threadpool_info

import wnmf_np.mu.shallow as mu_module
from wnmf_np import WNMF, DeconvWNMF, DeepMultiplicativeNMF, DeepWNMF, MultiplicativeNMF
from wnmf_np.cli import main
from wnmf_np.core.threads import limit_threads


def _pool_threads():
    return {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}, numba.get_num_threads()


@pytest.fixture
def X():
    return low_rank_nonneg(np.random.default_rng(0), 40, 16, 3)[0]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
@pytest.mark.parametrize("cls", [WNMF, MultiplicativeNMF])
def test_n_threads_is_validated(X, cls, bad):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        (cls(2, n_threads=bad, max_epochs=1) if cls is WNMF else cls(2, n_threads=bad, max_iter=1)).fit(X)


@pytest.mark.parametrize(
    "make",
    [
        lambda cb: WNMF(2, max_epochs=2, n_threads=1, callback=cb),
        lambda cb: DeepWNMF((2, 3), max_epochs=2, n_threads=1, callback=cb),
        lambda cb: DeconvWNMF(2, image_shape=(4, 4), max_epochs=2, n_threads=1, callback=cb),
    ],
    ids=["WNMF", "DeepWNMF", "DeconvWNMF"],
)
def test_fit_runs_inside_the_thread_limit_and_restores_it(X, make):
    seen = []
    before = _pool_threads()
    model = make(lambda epoch, info: seen.append(_pool_threads()))
    model.fit(X)
    assert seen and all(set(blas.values()) <= {1} and nb == 1 for blas, nb in seen)
    model.transform(X[:5])
    model.partial_fit(X[:8])
    assert _pool_threads() == before


@pytest.mark.parametrize("cls", [MultiplicativeNMF, DeepMultiplicativeNMF])
def test_multiplicative_fits_run_inside_the_thread_limit(X, cls, monkeypatch):
    seen = []
    original = mu_module.run_mu

    def recording(*args, **kwargs):
        seen.append(_pool_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(mu_module, "run_mu", recording)
    import wnmf_np.mu.deep as deep_module

    monkeypatch.setattr(deep_module, "run_mu", recording)
    before = _pool_threads()
    model = cls(2, max_iter=5, n_threads=1) if cls is MultiplicativeNMF else cls((2, 3), max_iter=5, pretrain_iter=5, n_threads=1)
    model.fit(X)
    model.transform(X[:5])
    assert seen and all(set(blas.values()) <= {1} and nb == 1 for blas, nb in seen)
    assert _pool_threads() == before


def test_limit_threads_restores_after_an_error():
    before = _pool_threads()
    with pytest.raises(RuntimeError), limit_threads(1):
        raise RuntimeError("boom")
    assert _pool_threads() == before


def test_results_do_not_depend_on_the_thread_count(X):
    one = WNMF(3, max_epochs=20, random_state=0, n_threads=1).fit(X)
    two = WNMF(3, max_epochs=20, random_state=0, n_threads=2).fit(X)
    np.testing.assert_allclose(one.components_, two.components_, rtol=1e-4, atol=1e-6)
    mu1 = MultiplicativeNMF(3, max_iter=50, random_state=0, n_threads=1).fit(X)
    mu2 = MultiplicativeNMF(3, max_iter=50, random_state=0, n_threads=2).fit(X)
    np.testing.assert_allclose(mu1.components_, mu2.components_, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_cli_takes_threads(capsys):
    assert main(["fit", "--dataset", "digits", "-r", "4", "--max-epochs", "2", "--threads", "1", "-q"]) == 0
    assert "k-means NMI" in capsys.readouterr().out
    assert main(["fit", "--dataset", "digits", "--max-epochs", "1", "--threads", "0", "-q"]) == 2


# ---------------------------------------------------------------- load-aware default (None)
import wnmf_np.core.threads as threads_module  # noqa: E402
from wnmf_np import UnfoldedNMF  # noqa: E402


def _blas_sizes():
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_busy_cpus_elsewhere_excludes_this_process(monkeypatch):
    monkeypatch.setattr(threads_module, "_runnable_tasks", lambda: 5)
    monkeypatch.setattr(threads_module, "_own_runnable_threads", lambda: 2)
    assert threads_module.busy_cpus_elsewhere() == 3
    readings = iter([4, 9, 7, 8])  # a passing process in one sample is not load: the minimum counts
    monkeypatch.setattr(threads_module, "_runnable_tasks", lambda: next(readings))
    assert threads_module.busy_cpus_elsewhere() == 2


def test_idle_cpus_is_at_least_one_and_at_most_the_affinity(monkeypatch):
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 50)
    assert threads_module.idle_cpus() == 1
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 0)
    assert threads_module.idle_cpus() == threads_module._usable_cpus()
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: None)
    assert threads_module.idle_cpus() is None


def test_idle_cpus_reads_this_machine():
    idle = threads_module.idle_cpus()
    assert idle is None or 1 <= idle <= threads_module._usable_cpus()


@pytest.mark.parametrize(
    "make",
    [
        lambda cb: WNMF(2, max_epochs=2, callback=cb),
        lambda cb: DeepWNMF((2, 3), max_epochs=2, callback=cb),
        lambda cb: DeconvWNMF(2, image_shape=(4, 4), max_epochs=2, callback=cb),
    ],
    ids=["WNMF", "DeepWNMF", "DeconvWNMF"],
)
def test_default_shrinks_the_pools_when_the_machine_is_busy(X, make, monkeypatch):
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 64)
    seen = []
    before = _pool_threads()
    make(lambda epoch, info: seen.append(_pool_threads())).fit(X)
    assert seen and all(set(blas.values()) <= {1} and nb == 1 for blas, nb in seen)
    assert _pool_threads() == before


def test_default_leaves_the_blas_pools_on_an_idle_machine(X, monkeypatch):
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 0)
    seen = []
    before = _pool_threads()
    WNMF(2, max_epochs=2, callback=lambda e, i: seen.append(_pool_threads())).fit(X)
    assert seen and all(blas == before[0] for blas, _ in seen)
    assert _pool_threads() == before


@pytest.mark.parametrize("n_threads", [None, 2])
def test_numba_runs_on_one_thread_inside_a_fit_whatever_the_blas_pool(X, n_threads, monkeypatch):
    """numba's loops never share the cores with OpenBLAS's spinning workers (core/threads.py)."""
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 0)
    numba_before = numba.get_num_threads()
    seen = []
    WNMF(2, max_epochs=2, n_threads=n_threads, callback=lambda e, i: seen.append(numba.get_num_threads())).fit(X)
    assert seen and set(seen) == {threads_module.NUMBA_THREADS_IN_FITS}
    assert numba.get_num_threads() == numba_before


@pytest.mark.parametrize("fit", [
    lambda X: MultiplicativeNMF(2, max_iter=3).fit(X),
    lambda X: DeepMultiplicativeNMF((2, 3), max_iter=3, pretrain_iter=2).fit(X),
    lambda X: UnfoldedNMF(2, n_layers=2, max_iter=2).fit(X),
], ids=["MU", "DeepMU", "Unfolded"])
def test_default_is_load_aware_in_the_multiplicative_fits(X, fit, monkeypatch):
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 64)
    seen = []
    original = threads_module._LoadAwareBudget.refresh

    def recording(self, force=False):
        original(self, force)
        seen.append((self.current, _blas_sizes(), numba.get_num_threads()))

    monkeypatch.setattr(threads_module._LoadAwareBudget, "refresh", recording)
    fit(X)
    assert len(seen) >= 2  # the start, then the loop's refreshes
    assert all(cur == 1 and sizes <= {1} and nb == 1 for cur, sizes, nb in seen)


def test_a_long_fit_follows_the_load_both_ways(monkeypatch):
    """The budget shrinks when load appears and regrows (to its start size) when it goes."""
    load = {"busy": 0}
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: load["busy"])
    monkeypatch.setattr(threads_module, "REFRESH_SECONDS", 0.0)
    with limit_threads(None):
        start = threads_module.current_thread_limit()
        load["busy"] = 64
        threads_module.refresh_threads()
        assert threads_module.current_thread_limit() == 1 and _blas_sizes() <= {1}
        load["busy"] = 0
        threads_module.refresh_threads()
        assert threads_module.current_thread_limit() == start
    assert threads_module.current_thread_limit() is None


def test_refresh_is_rate_limited(monkeypatch):
    calls = []
    monkeypatch.setattr(threads_module, "idle_cpus", lambda: calls.append(1) or 1)
    with limit_threads(None):
        for _ in range(50):
            threads_module.refresh_threads()
    assert len(calls) == 1  # the start only: the loop ran well within REFRESH_SECONDS


def test_an_explicit_count_wins_over_an_enclosing_load_aware_block(monkeypatch):
    monkeypatch.setattr(threads_module, "busy_cpus_elsewhere", lambda: 0)
    with limit_threads(None):
        with limit_threads(1):
            threads_module.refresh_threads()  # no budget inside: must not regrow the pools
            assert _blas_sizes() <= {1} and numba.get_num_threads() == 1
