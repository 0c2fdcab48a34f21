"""WNMF and MultiplicativeNMF on Dask arrays: chunk-group streaming and chunk-wise products.

Small data throughout; one in-process ``distributed`` cluster for the module.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from dask.callbacks import Callback  # noqa: E402
from helpers import traced_peak  # noqa: E402

from wnmf_np import WNMF, MultiplicativeNMF  # noqa: E402
from wnmf_np.core.backend import resolve_backend  # noqa: E402
from wnmf_np.training.blocks import stream  # noqa: E402
from wnmf_np.training.data import OutOfCoreData  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        yield c


def _low_rank(n, m, rank=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n, rank)) @ rng.uniform(size=(rank, m)) / rank).astype(dtype)


class _CountComputes(Callback):
    """Counts Dask computations run by the local schedulers."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


KW = dict(batch_size=32, random_state=0, init="random_nonneg", lr=2e-2)


def test_single_group_stream_equals_the_in_memory_fit_bit_for_bit():
    X = _low_rank(600, 20)
    # (the default init: "random_nonneg" scales by the mean, summed in float64 out of core)
    kw = dict(batch_size=32, random_state=0, lr=2e-2)
    ref = WNMF(3, max_epochs=4, **kw).fit(X)
    with dask.config.set(scheduler="threads"):
        got = WNMF(3, max_epochs=4, **kw).fit(da.from_array(X, chunks=(100, 20)))  # 48 KB: one group
    np.testing.assert_array_equal(got.components_, ref.components_)
    np.testing.assert_array_equal(got.latents_, ref.latents_)
    assert got.loss_curve_ == ref.loss_curve_


def test_multi_group_stream_is_deterministic_and_learns_like_in_memory():
    X = _low_rank(600, 20)
    budget = 2 * 100 * 20 * 4  # two chunks of 100 rows: six groups
    fits = []
    with dask.config.set(scheduler="threads"):
        for _ in range(2):
            fits.append(WNMF(3, max_epochs=30, **KW).fit(stream(da.from_array(X, chunks=(100, 20)), chunk_budget=budget)))
    np.testing.assert_array_equal(fits[0].components_, fits[1].components_)
    ref = WNMF(3, max_epochs=30, **KW).fit(X)
    # the group-wise order differs from the full shuffle by design: same quality within 10 %
    assert fits[0].reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=0.1)


def test_dask_computations_per_epoch_are_bounded_by_the_chunk_groups():
    X = _low_rank(800, 16)
    dX = stream(da.from_array(X, chunks=(100, 16)), chunk_budget=2 * 200 * 16 * 4)  # groups of 2 chunks
    n_groups = len(OutOfCoreData(dX, resolve_backend("numpy"), np.float32).groups)
    assert n_groups == 4
    counts = []
    for epochs in (2, 5):
        counter = _CountComputes()
        with dask.config.set(scheduler="threads"), counter:
            WNMF(2, max_epochs=epochs, n_iter_no_change=None, **KW).fit(dX)
        counts.append(counter.n)
    # one computation per group and epoch, plus one pass each for validation and the error
    assert counts[0] <= n_groups * (2 + 2) and counts[1] <= n_groups * (5 + 2)
    assert counts[1] - counts[0] >= 3 * (n_groups - 1)  # the epochs do read the groups (not once for all)


def test_driver_memory_is_bounded_by_the_chunk_budget():
    X = _low_rank(80_000, 128)  # 40 MB, already in memory: only what the fit allocates is counted
    budget = 2 * 2**20
    dX = stream(da.from_array(X, chunks=(2000, 128)), chunk_budget=budget)  # 1 MB chunks, one per group
    with dask.config.set(scheduler="sync"):
        WNMF(4, max_epochs=1, batch_size=256, random_state=0).fit(stream(da.from_array(X[:2000], chunks=(500, 128))))
        model = WNMF(4, max_epochs=1, batch_size=256, random_state=0)
        peak = traced_peak(lambda: model.fit(dX))
    params = 6 * model.latents_.nbytes  # latents: init, working copy, two Adam moments, step counts, result
    print(f"dask streamed peak {peak / 2**20:.1f} MiB, budget {budget / 2**20:.0f} MiB, data {X.nbytes / 2**20:.0f} MiB")
    # the budget's two groups, a batch, and the float64 residual blocks of the error pass
    assert peak < 2 * budget + params + 3 * 2**20
    assert peak < X.nbytes / 2


@pytest.mark.parametrize(
    "budget, message",
    [(0, "must be positive"), (-5, "must be positive"), ("1GB", "whole number of bytes"), (1.5e6, "whole number of bytes"),
     (1000, "cannot hold two chunks")],  # fmt: skip
)
def test_bad_chunk_budgets_give_one_line_errors(budget, message):
    dX = da.from_array(_low_rank(200, 10), chunks=(50, 10))
    with pytest.raises(ValueError, match=message) as info:
        WNMF(2, max_epochs=1).fit(stream(dX, chunk_budget=budget))
    assert "\n" not in str(info.value)


def test_stream_refuses_in_memory_data():
    with pytest.raises(TypeError, match="out-of-core"):
        stream(np.ones((3, 3)))


def test_streamed_fit_on_a_distributed_cluster_equals_the_threaded_fit(client):
    X = _low_rank(400, 12)
    dX = stream(da.from_array(X, chunks=(50, 12)), chunk_budget=2 * 100 * 12 * 4)
    on_cluster = WNMF(3, max_epochs=3, **KW).fit(dX)
    with dask.config.set(scheduler="threads"):
        threaded = WNMF(3, max_epochs=3, **KW).fit(dX)
    np.testing.assert_array_equal(on_cluster.components_, threaded.components_)
    Z = on_cluster.transform(dX)
    assert Z.shape == (400, 3) and np.isfinite(Z).all()


def test_dask_validation_is_one_reduction_and_rejects_bad_values():
    X = _low_rank(200, 10).astype(np.float64)
    counter = _CountComputes()
    with dask.config.set(scheduler="threads"), counter:
        OutOfCoreData(da.from_array(X, chunks=(50, 10)), resolve_backend("numpy"), np.float64)
    assert counter.n == 1
    bad = X.copy()
    bad[120, 3] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        WNMF(2, max_epochs=1).fit(da.from_array(bad, chunks=(50, 10)))
    bad[120, 3] = np.nan
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        WNMF(2, max_epochs=1).fit(da.from_array(bad, chunks=(50, 10)))
    model = WNMF(2, max_epochs=2, nan_policy="omit", random_state=0).fit(da.from_array(bad, chunks=(50, 10)))
    assert np.isfinite(model.components_).all()
    bad[120, 3] = -1.0
    with pytest.raises(ValueError, match="Negative values"):
        WNMF(2, max_epochs=1, loss="kl").fit(da.from_array(bad, chunks=(50, 10)))


def test_multiplicative_nmf_on_a_cluster_equals_in_memory_without_embedding_data(client):
    X = np.random.default_rng(0).uniform(size=(3000, 40))  # W: 96 kB, beyond the threshold below
    kw = dict(max_iter=30, tol=0, random_state=0, dtype="float64")
    ref = MultiplicativeNMF(4, **kw).fit(X)
    dX = client.persist(da.from_array(X, chunks=(500, 40)))  # the data on the workers, as a user would have it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Sending large graph ..." (data embedded in a graph) fails the test
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "50kB"}):
            got = MultiplicativeNMF(4, **kw).fit(dX)
            Z = got.transform(dX[:120])
    np.testing.assert_allclose(got.components_, ref.components_, rtol=1e-10, atol=1e-12)
    assert got.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-10)
    np.testing.assert_allclose(Z, ref.transform(X[:120]), rtol=1e-8, atol=1e-10)


def test_cluster_products_equal_dense_products(client):
    from wnmf_np.mu.chunked import ChunkedMatrix

    X = np.random.default_rng(2).uniform(size=(90, 7))
    chunked = ChunkedMatrix(client.persist(da.from_array(X, chunks=(25, 7))), np.float64)
    B, A = np.random.default_rng(3).uniform(size=(7, 3)), np.random.default_rng(4).uniform(size=(3, 90))
    np.testing.assert_allclose(chunked @ B, X @ B, rtol=1e-12)
    np.testing.assert_allclose(A @ chunked, A @ X, rtol=1e-12)
    assert chunked.sum() == pytest.approx(X.sum(), rel=1e-12)
    np.testing.assert_array_equal(chunked[10:40], X[10:40])
    assert chunked._cluster is not None  # served by the cluster path


def test_batches_of_any_order_equal_the_rows_and_hold_at_most_two_groups():
    """Any order is served correctly (e.g. one from a checkpoint written with another
    scheme); a batch never keeps more than its own groups loaded."""
    X = _low_rank(500, 6, dtype=np.float64)
    X[7, 2] = np.nan
    src = OutOfCoreData(stream(da.from_array(X, chunks=(50, 6)), chunk_budget=2 * 100 * 6 * 8),
                        resolve_backend("numpy"), np.float64, nan_policy="omit")  # fmt: skip
    assert len(src.groups) == 5
    order = np.random.default_rng(0).permutation(500)
    with dask.config.set(scheduler="sync"):
        for k in range(0, 500, 40):
            rows = order[k : k + 40]
            X_b, obs_b = src.take(rows, order[k + 40 : k + 80])
            np.testing.assert_array_equal(X_b, np.nan_to_num(X[rows]))
            np.testing.assert_array_equal(obs_b, ~np.isnan(X[rows]))
            assert len(src._loaded) <= len(np.unique(rows // 100)) + 1  # its groups (+ a finished read-ahead)
        for rows, X_b, _ in src.row_blocks(64):
            np.testing.assert_array_equal(X_b, np.nan_to_num(X[rows]))
            assert len(src._loaded) <= 2


def test_persisted_groups_on_a_cluster_are_gathered_without_computing_and_fit_bit_for_bit(client, monkeypatch):
    X = _low_rank(400, 12)
    budget = 2 * 100 * 12 * 4  # groups of two chunks of 50 rows
    lazy = da.from_array(X, chunks=(50, 12))
    persisted = client.persist(lazy)
    distributed.wait(persisted)
    numpy = resolve_backend("numpy")
    assert OutOfCoreData(stream(persisted, chunk_budget=budget), numpy, np.float32)._cluster.persisted
    assert not OutOfCoreData(stream(lazy, chunk_budget=budget), numpy, np.float32)._cluster.persisted
    with dask.config.set(scheduler="threads"):
        threaded = WNMF(3, max_epochs=3, **KW).fit(stream(lazy, chunk_budget=budget))

    def no_compute(*args, **kwargs):
        raise AssertionError("a persisted group was computed")

    monkeypatch.setattr(client, "compute", no_compute)  # the groups come from the chunks' own futures
    on_cluster = WNMF(3, max_epochs=3, **KW).fit(stream(persisted, chunk_budget=budget))
    np.testing.assert_array_equal(on_cluster.components_, threaded.components_)
    np.testing.assert_array_equal(on_cluster.latents_, threaded.latents_)
    assert on_cluster.reconstruction_err_ == threaded.reconstruction_err_
