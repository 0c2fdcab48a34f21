"""Out-of-core fitting: memmaps (and h5py/zarr/Dask when installed) are never loaded whole."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import traced_peak

from wnmf_np import WNMF
from wnmf_np.core.backend import resolve_backend
from wnmf_np.mu.chunked import ChunkedMatrix
from wnmf_np.training.blocks import BlockReader, stream
from wnmf_np.training.data import OutOfCoreData, _next_first_group, is_out_of_core


def _memmap(tmp_path, n, m, rank=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    H = rng.uniform(0, 1, size=(rank, m)).astype(dtype)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=dtype, shape=(n, m))
    for start in range(0, n, 5000):  # written block by block, never whole in memory
        stop = min(start + 5000, n)
        X[start:stop] = rng.uniform(0, 1, size=(stop - start, rank)).astype(dtype) @ H / rank
    X.flush()
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def test_memmap_fit_stays_within_a_memory_cap_several_times_smaller_than_the_data(tmp_path):
    n, m = 50_000, 500
    X = _memmap(tmp_path, n, m)
    data_bytes = X.nbytes  # 100 MB on disk
    cap = 30 * 2**20
    assert data_bytes > 3 * cap
    model = WNMF(4, max_epochs=1, batch_size=256, random_state=0)
    WNMF(4, max_epochs=1, batch_size=256, random_state=0).fit(X[:600])  # compile the kernels outside the count
    peak = traced_peak(lambda: model.fit(X))
    print(f"out-of-core peak {peak / 2**20:.1f} MiB for {data_bytes / 2**20:.0f} MiB of data")
    assert peak < cap
    assert model.latents_.shape == (n, 4) and np.isfinite(model.loss_curve_).all()
    assert model.loss_curve_[0] > 0


def test_memmap_fit_learns_like_in_memory(tmp_path):
    X = _memmap(tmp_path, 600, 30)
    kw = dict(max_epochs=40, batch_size=32, random_state=0, lr=2e-2, init="random_nonneg")
    a = WNMF(4, **kw).fit(X)
    b = WNMF(4, **kw).fit(np.asarray(X))
    assert a.reconstruction_err_ == pytest.approx(b.reconstruction_err_, rel=0.2)
    rel = a.reconstruction_err_ / np.linalg.norm(np.asarray(X))
    assert rel < 0.1


def test_chunk_aware_order_visits_every_row_once_and_keeps_chunk_groups_together(tmp_path):
    X = _memmap(tmp_path, 1000, 10)
    src = OutOfCoreData(stream(X, chunk_budget=200 * 10 * 4), resolve_backend("numpy"), np.float32)
    assert src.groups == [(k, k + 100) for k in range(0, 1000, 100)]  # groups of half the budget
    order = src.permutation(np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(1000))
    blocks = order.reshape(10, 100) // 100
    assert (blocks == blocks[:, :1]).all()  # each run of 100 comes from one group
    # the scheme stated in the module docstring, drawn from the same generator
    rng = np.random.default_rng(0)
    expected = np.concatenate([100 * g + rng.permutation(100) for g in rng.permutation(10)])
    np.testing.assert_array_equal(order, expected)


def test_out_of_core_batches_equal_in_memory_rows_and_prefetch(tmp_path):
    X = _memmap(tmp_path, 300, 7, dtype=np.float64)
    src = OutOfCoreData(X, resolve_backend("numpy"), np.float64)
    rows = np.array([5, 250, 3, 17])
    nxt = np.array([1, 2])
    X_b, obs = src.take(rows, nxt)
    np.testing.assert_array_equal(X_b, np.asarray(X)[rows])
    assert obs is None
    X_n, _ = src.take(nxt)  # served from the prefetch
    np.testing.assert_array_equal(X_n, np.asarray(X)[nxt])


def test_out_of_core_validation_streams_and_rejects_bad_values(tmp_path):
    X = np.lib.format.open_memmap(tmp_path / "bad.npy", mode="w+", dtype=np.float64, shape=(50, 4))
    X[:] = 1.0
    X[40, 2] = np.inf
    X.flush()
    with pytest.raises(ValueError, match="infinite"):
        WNMF(2, max_epochs=1).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"))
    X[40, 2] = np.nan
    X.flush()
    mm = np.load(tmp_path / "bad.npy", mmap_mode="r")
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        WNMF(2, max_epochs=1).fit(mm)
    model = WNMF(2, max_epochs=2, nan_policy="omit", random_state=0).fit(mm)
    assert np.isfinite(model.components_).all()
    with pytest.raises(ValueError, match="mask"):
        WNMF(2, max_epochs=1).fit(mm, mask=np.ones((50, 4), bool))


def test_block_reader_gathers_rows_in_the_order_asked_and_converts(tmp_path):
    X = _memmap(tmp_path, 50, 6, dtype=np.float64)
    reader = BlockReader(X)
    rows = np.array([40, 3, 17, 4])
    out = reader.gather(rows, np.float32)
    assert out.dtype == np.float32 and out.shape == (4, 6)
    np.testing.assert_array_equal(out, np.asarray(X)[rows].astype(np.float32))
    blocks = list(reader.blocks(16, np.float64))
    assert [(a, b) for a, b, _ in blocks] == [(0, 16), (16, 32), (32, 48), (48, 50)]
    np.testing.assert_array_equal(np.concatenate([blk for _, _, blk in blocks]), np.asarray(X))
    with pytest.raises(ValueError, match="2-D"):
        BlockReader(np.zeros(3))


def test_one_block_reader_serves_the_wnmf_source_and_the_mu_products(tmp_path, monkeypatch):
    """Both out-of-core consumers read storage through :class:`BlockReader` (and nothing
    else): the WNMF data source for validation and batches, ChunkedMatrix for products."""
    X = _memmap(tmp_path, 120, 8, dtype=np.float64)
    dense = np.asarray(X)
    counts = {"read": 0}
    for name in counts:
        original = getattr(BlockReader, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(BlockReader, name, counted)
    source = OutOfCoreData(X, resolve_backend("numpy"), np.float64)
    assert counts["read"] >= 1  # the validation pass
    before = counts["read"]
    X_b, _ = source.take(np.array([7, 2]))
    np.testing.assert_array_equal(X_b, dense[[7, 2]])
    assert counts["read"] - before == 1  # the batch's chunk group, read whole
    before = counts["read"]
    chunked = ChunkedMatrix(X, np.float64)
    chunked.block = 50  # three row blocks
    B, A = np.random.default_rng(0).uniform(size=(8, 3)), np.random.default_rng(1).uniform(size=(3, 120))
    np.testing.assert_allclose(chunked @ B, dense @ B, rtol=1e-12)
    np.testing.assert_allclose(A @ chunked, A @ dense, rtol=1e-12)
    assert chunked.sum() == pytest.approx(dense.sum(), rel=1e-12)
    assert counts["read"] - before == 9  # three blocks for each of the three passes


def test_is_out_of_core_detection(tmp_path):
    assert is_out_of_core(_memmap(tmp_path, 10, 3))
    assert not is_out_of_core(np.ones((2, 2)))


def test_h5py_dataset(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("X", data=np.random.default_rng(0).uniform(size=(200, 8)), chunks=(50, 8))
    with h5py.File(tmp_path / "x.h5", "r") as f:
        model = WNMF(2, max_epochs=3, random_state=0).fit(f["X"])
    assert model.latents_.shape == (200, 2)


def test_dask_array():
    da = pytest.importorskip("dask.array")
    X = da.random.random((300, 6), chunks=(100, 6))
    model = WNMF(2, max_epochs=3, random_state=0).fit(X)
    assert model.latents_.shape == (300, 2)


def test_zarr_array(tmp_path):
    zarr = pytest.importorskip("zarr")
    data = np.random.default_rng(0).uniform(size=(200, 8))
    store = zarr.open(str(tmp_path / "x.zarr"), mode="w", shape=data.shape, chunks=(64, 8), dtype="f8")
    store[:] = data
    model = WNMF(2, max_epochs=3, random_state=0).fit(zarr.open(str(tmp_path / "x.zarr"), mode="r"))
    assert model.latents_.shape == (200, 2) and np.isfinite(model.components_).all()


def test_multiplicative_nmf_chunkwise_on_a_dask_array_equals_in_memory():
    da = pytest.importorskip("dask.array")
    from wnmf_np import MultiplicativeNMF

    X = np.random.default_rng(0).uniform(size=(300, 40))
    kw = dict(max_iter=30, tol=0, random_state=0, dtype="float64")
    ref = MultiplicativeNMF(4, **kw).fit(X)
    chunked = MultiplicativeNMF(4, **kw).fit(da.from_array(X, chunks=(64, 40)))
    np.testing.assert_allclose(chunked.components_, ref.components_, rtol=1e-10, atol=1e-12)
    assert chunked.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=1e-10)
    Z = chunked.transform(da.from_array(X[:50], chunks=(16, 40)))
    np.testing.assert_allclose(Z, ref.transform(X[:50]), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="frobenius"):
        MultiplicativeNMF(4, beta_loss="kullback-leibler", **kw).fit(da.from_array(X, chunks=(64, 40)))
    with pytest.raises(ValueError, match="init='random'"):
        MultiplicativeNMF(4, init="nndsvd", **kw).fit(da.from_array(X, chunks=(64, 40)))


def test_memmap_multiplicative_nmf_equals_in_memory(tmp_path):
    from wnmf_np import MultiplicativeNMF

    X = _memmap(tmp_path, 2000, 30, dtype=np.float64)
    kw = dict(max_iter=20, tol=0, random_state=0, dtype="float64")
    np.testing.assert_allclose(
        MultiplicativeNMF(3, **kw).fit(X).components_, MultiplicativeNMF(3, **kw).fit(np.asarray(X)).components_, rtol=1e-10
    )


def test_dask_distributed_local_cluster_serves_both_estimators():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    from wnmf_np import MultiplicativeNMF

    X = np.random.default_rng(1).uniform(size=(240, 12))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        dX = da.from_array(X, chunks=(60, 12))
        mu = MultiplicativeNMF(3, max_iter=20, tol=0, random_state=0, dtype="float64").fit(dX)
        wnmf = WNMF(3, max_epochs=3, batch_size=32, random_state=0).fit(dX)
    ref = MultiplicativeNMF(3, max_iter=20, tol=0, random_state=0, dtype="float64").fit(X)
    np.testing.assert_allclose(mu.components_, ref.components_, rtol=1e-10)
    assert wnmf.latents_.shape == (240, 3) and np.isfinite(wnmf.loss_curve_).all()


@pytest.mark.parametrize("l2_mode", ["penalty", "objective"])
def test_missing_entries_weigh_the_penalty_as_in_memory(tmp_path, l2_mode):
    """Out of core the λ weights of the objective count the observed entries, as in memory
    (they counted the NaN entries too): a memmap with NaN fits exactly like the array."""
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(60, 9)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = np.nan
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    reader = OutOfCoreData(mm, resolve_backend("numpy"), np.float32, nan_policy="omit")
    assert reader.n_observed == int((~np.isnan(X)).sum())
    kw = dict(max_epochs=3, batch_size=16, nan_policy="omit", l2=0.05, l2_mode=l2_mode, random_state=0)
    in_memory, streamed = WNMF(2, **kw).fit(X), WNMF(2, **kw).fit(mm)
    np.testing.assert_array_equal(streamed.components_, in_memory.components_)
    np.testing.assert_array_equal(streamed.latents_, in_memory.latents_)


def test_the_next_epochs_first_group_is_read_ahead_and_a_wrong_guess_stays_exact(tmp_path):
    X = _memmap(tmp_path, 1000, 10)
    dense = np.asarray(X)
    src = OutOfCoreData(stream(X, chunk_budget=200 * 10 * 4), resolve_backend("numpy"), np.float32)  # 10 groups
    rng = np.random.default_rng(0)

    def run_epoch():
        order = src.permutation(rng)
        for k in range(0, 1000, 50):
            X_b, _ = src.take(order[k : k + 50], order[k + 50 : k + 100])
            np.testing.assert_array_equal(X_b, dense[order[k : k + 50]])
            assert len(src._loaded) <= 2
        return order

    run_epoch()
    for _ in range(4):  # during each epoch's last group, the next epoch's first is on its way
        ahead = src._pending[0] if src._pending is not None else None
        loaded = set(src._loaded)
        first = int(run_epoch()[0] // 100)
        assert first == ahead or (ahead is None and first in loaded)
    # draws the guess does not know of (until it is wrong): the read-ahead is wasted, the batches still exact
    ahead = src._pending[0] if src._pending is not None else None
    rng.random()
    while _next_first_group(rng, 10) == ahead:
        rng.random()
    assert int(run_epoch()[0] // 100) != ahead
