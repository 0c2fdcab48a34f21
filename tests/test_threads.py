"""``n_threads``: validated, honoured inside every estimator's fit, restored afterwards,
and without effect on the result beyond rounding."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from helpers import low_rank_nonneg
from threadpoolctl import threadpool_info

import wnmf_np._mu as mu_module
from wnmf_np import WNMF, DeconvWNMF, DeepMultiplicativeNMF, DeepWNMF, MultiplicativeNMF
from wnmf_np._threads import limit_threads
from wnmf_np.cli import main


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
    import wnmf_np._mu_deep as deep_module

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


def test_cli_takes_threads(capsys):
    assert main(["fit", "--dataset", "digits", "-r", "4", "--max-epochs", "2", "--threads", "1", "-q"]) == 0
    assert "k-means NMI" in capsys.readouterr().out
    assert main(["fit", "--dataset", "digits", "--max-epochs", "1", "--threads", "0", "-q"]) == 2
