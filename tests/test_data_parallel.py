"""Data-parallel WNMF on an in-process dask.distributed cluster (wnmf_np.training.data_parallel)."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from wnmf_np import WNMF  # noqa: E402
from wnmf_np.training.data_parallel import fit_data_parallel, transform_data_parallel  # noqa: E402

N, M, RANK, CHUNK = 160, 24, 3, 40


@pytest.fixture(scope="module")
def client2():
    cluster = distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0")
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def client1():
    cluster = distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0")
    with cluster, distributed.Client(cluster) as c:
        yield c


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(N, RANK)) @ rng.uniform(size=(RANK, M)) / RANK).astype(np.float32)


def _model(epochs=30):
    return WNMF(RANK, max_epochs=epochs, batch_size=16, random_state=0, n_iter_no_change=None)


def test_one_worker_equals_the_single_process_fit_bit_for_bit(client1):
    # one worker holds every chunk: one partition, the whole X, the fit's own generator
    X = _data()
    ref = _model().fit(X)
    fit = fit_data_parallel(_model(), da.from_array(X, chunks=(CHUNK, M)), client1)
    est = fit.estimator
    assert np.array_equal(est.components_, ref.components_)
    assert np.array_equal(est.latents_, ref.latents_)
    assert est.loss_curve_ == ref.loss_curve_
    assert est.reconstruction_err_ == ref.reconstruction_err_
    assert fit.latents.chunks[0] == (CHUNK,) * (N // CHUNK)
    assert np.array_equal(fit.latents.compute(), ref.latents_)


def _placed(client, X):
    """X persisted on the cluster with its placement fixed (determinism is given the placement)."""
    Xd = client.persist(da.from_array(X, chunks=(CHUNK, M)))
    distributed.wait(Xd)
    return Xd


def test_two_workers_are_deterministic_and_close_to_the_single_process_fit(client2):
    X = _data()
    Xd = _placed(client2, X)
    assert len(set().union(*client2.who_has(distributed.futures_of(Xd)).values())) == 2  # both workers hold chunks
    a = fit_data_parallel(_model(), Xd, client2).estimator
    b = fit_data_parallel(_model(), Xd, client2).estimator
    assert np.array_equal(a.components_, b.components_) and a.loss_curve_ == b.loss_curve_
    assert np.array_equal(a.latents_, b.latents_)
    assert not np.array_equal(a.components_, _model().fit(X).components_)  # a different run than one process


@pytest.mark.parametrize("combine", ["mean", "sum"])
def test_two_workers_reach_the_single_process_error(client2, combine):
    # W combined once per epoch: with "mean" W takes half the steps per epoch (the halves'
    # steps are averaged), so it converges later; after 100 epochs both are within 10 % of
    # one process on this data (measured: mean -17 %, sum +2.3 %)
    X = _data()
    ref = _model(epochs=100).fit(X)
    est = fit_data_parallel(_model(epochs=100), _placed(client2, X), client2, combine=combine).estimator
    assert est.reconstruction_err_ <= 1.10 * ref.reconstruction_err_
    assert est.loss_curve_[-1] < 0.1 * est.loss_curve_[0]  # it learns


def test_the_driver_never_computes_or_gathers_x(client2, monkeypatch):
    X = _data()
    Xd = _placed(client2, X)
    chunk_bytes = CHUNK * M * X.itemsize
    gathered = []
    real_gather = distributed.Client.gather

    def gather(self, futures, *args, **kwargs):
        out = real_gather(self, futures, *args, **kwargs)
        gathered.append(out)
        return out

    def refuse(*args, **kwargs):
        raise AssertionError("the driver computed a Dask collection")

    monkeypatch.setattr(distributed.Client, "gather", gather)
    monkeypatch.setattr(distributed.Client, "get", refuse)
    monkeypatch.setattr(distributed.Client, "compute", refuse)
    fit = fit_data_parallel(_model(epochs=3), Xd, client2)
    monkeypatch.undo()

    def arrays(obj):
        if isinstance(obj, np.ndarray):
            yield obj
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from arrays(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                yield from arrays(v)

    sizes = [a.nbytes for out in gathered for a in arrays(out)]
    assert sizes and max(sizes) < chunk_bytes  # factors, latents and scalars only
    assert fit.latents.shape == (N, RANK)


def test_transform_runs_chunk_wise_like_transform(client2):
    X = _data()
    est = fit_data_parallel(_model(epochs=5), _placed(client2, X), client2).estimator
    Z = transform_data_parallel(est, da.from_array(X[:80], chunks=(CHUNK, M)))
    assert Z.chunks == ((CHUNK, CHUNK), (RANK,))
    np.testing.assert_allclose(Z.compute(), est.transform(X[:80]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "case, message",
    [
        ("numpy", "needs X as a dask.array.Array"),
        ("client", "client must be a dask.distributed.Client"),
        ("sync", "sync_every must be one of"),
        ("estimator", "fits a WNMF-family estimator"),
        ("3d", "X must be 2-D"),
        ("combine", "combine must be one of"),
    ],
)
def test_bad_inputs_give_one_line_errors(client2, case, message):
    X = _data()
    Xd = da.from_array(X, chunks=(CHUNK, M))
    args = {"estimator": _model(), "X": Xd, "client": client2, "sync_every": "epoch", "combine": "mean"}
    if case == "numpy":
        args["X"] = X
    elif case == "client":
        args["client"] = object()
    elif case == "sync":
        args["sync_every"] = "step"
    elif case == "estimator":
        from sklearn.decomposition import NMF

        args["estimator"] = NMF(3)
    elif case == "combine":
        args["combine"] = "median"
    elif case == "3d":
        args["X"] = Xd[None]
    with pytest.raises((TypeError, ValueError), match=message) as info:
        fit_data_parallel(args.pop("estimator"), args.pop("X"), args.pop("client"), **args)
    assert "\n" not in str(info.value)


def test_concurrent_parallel_kernels_in_one_process_are_refused(client2):
    # two in-process worker threads would run numba's parallel AdamW (not thread-safe under
    # the workqueue layer) at the same time for a W this large: a one-line error instead
    import numba

    from wnmf_np.kernels.dense.numba import PARALLEL_MIN_SIZE

    if numba.config.THREADING_LAYER != "workqueue":
        pytest.skip("another numba threading layer was chosen")
    m = PARALLEL_MIN_SIZE // 2 + 1
    X = np.random.default_rng(0).uniform(size=(8, m)).astype(np.float32)
    with pytest.raises(ValueError, match="in-process worker threads") as info:
        fit_data_parallel(WNMF(2, max_epochs=1), da.from_array(X, chunks=(4, m)), client2)
    assert "\n" not in str(info.value)
