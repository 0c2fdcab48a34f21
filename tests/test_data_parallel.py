"""Data-parallel WNMF on an in-process dask.distributed cluster (wnmf_np.training.data_parallel)."""

import copy
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from wnmf_np import WNMF  # noqa: E402
from wnmf_np.training.data_parallel import (  # noqa: E402
    fit_data_parallel,
    partial_fit_data_parallel,
    transform_data_parallel,
)

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


def test_one_worker_syncing_every_few_steps_still_equals_the_single_process_fit(client1):
    # rounds of 3 steps cut epochs (10 steps each) mid-way: the driver resumes them exactly
    X = _data()
    ref = _model(epochs=4).fit(X)
    est = fit_data_parallel(_model(epochs=4), da.from_array(X, chunks=(CHUNK, M)), client1, sync_every=3).estimator
    assert np.array_equal(est.components_, ref.components_)
    assert np.array_equal(est.latents_, ref.latents_)
    assert est.loss_curve_ == ref.loss_curve_


def test_one_worker_partial_fit_equals_partial_fit_bit_for_bit(client1):
    X, X_new = _data(), _data(seed=1)[:100]
    ref = _model(epochs=5).fit(X).partial_fit(X_new)
    est = fit_data_parallel(_model(epochs=5), da.from_array(X, chunks=(CHUNK, M)), client1).estimator
    fit = partial_fit_data_parallel(est, da.from_array(X_new, chunks=(CHUNK, M)), client1)
    assert np.array_equal(est.components_, ref.components_)
    assert np.array_equal(est.latents_, ref.latents_)  # the new rows after the old ones
    assert est.loss_curve_ == ref.loss_curve_ and est.n_iter_ == ref.n_iter_
    assert est.reconstruction_err_ == ref.reconstruction_err_  # on the new samples
    assert est.train_state_.opt["W"].step == ref.train_state_.opt["W"].step
    assert np.array_equal(fit.latents.compute(), ref.latents_[-100:])
    assert fit.latents.chunks[0] == (CHUNK, CHUNK, 20)


def _placed(client, X, fresh=False):
    """X persisted on the cluster with its placement fixed (determinism is given the placement);
    ``fresh``: under new keys, so that no copy a previous fit left on a worker is reused."""
    Xd = client.persist(da.from_array(X, chunks=(CHUNK, M), name=False if fresh else None))
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
    # W combined once per epoch, each partition its share of the batch (the default): after
    # 100 epochs both are within 10 % of one process on this data (measured: mean -0.2 %,
    # sum +0.5 %; with split_batch=False mean -16.7 %, sum +2.3 %)
    X = _data()
    ref = _model(epochs=100).fit(X)
    est = fit_data_parallel(_model(epochs=100), _placed(client2, X), client2, combine=combine).estimator
    assert est.reconstruction_err_ <= 1.10 * ref.reconstruction_err_
    assert est.loss_curve_[-1] < 0.1 * est.loss_curve_[0]  # it learns


def test_two_workers_syncing_every_step_are_deterministic_and_learn(client2):
    X = _data()
    Xd = _placed(client2, X)
    ref = _model(epochs=20).fit(X)
    a = fit_data_parallel(_model(epochs=20), Xd, client2, sync_every=1, split_batch=False).estimator
    b = fit_data_parallel(_model(epochs=20), Xd, client2, sync_every=1, split_batch=False).estimator
    assert np.array_equal(a.components_, b.components_) and a.loss_curve_ == b.loss_curve_
    per_epoch = fit_data_parallel(_model(epochs=20), Xd, client2, split_batch=False).estimator
    assert not np.array_equal(a.components_, per_epoch.components_)  # W combined at other times
    assert a.train_state_.step == 20 * 2 * 5  # two partitions of 80 rows, 5 batches each per epoch
    assert a.reconstruction_err_ <= 1.10 * ref.reconstruction_err_


def test_split_batch_gives_each_partition_its_share_of_the_batch(client1, client2):
    X = _data()
    ref = _model(epochs=3).fit(X)
    one = fit_data_parallel(_model(epochs=3), da.from_array(X, chunks=(CHUNK, M)), client1, split_batch=True).estimator
    assert np.array_equal(one.components_, ref.components_)  # one partition: the whole batch, as before
    two = fit_data_parallel(_model(epochs=3), _placed(client2, X), client2, sync_every=1, combine="mean",
                            split_batch=True).estimator  # fmt: skip
    assert two.train_state_.step == 3 * 2 * 10  # 80 rows per partition in batches of 8 (16 split in two)
    assert two.loss_curve_[-1] < two.loss_curve_[0]
    # each fit on a freshly placed X: a fit may leave copies of chunks on the other worker,
    # which changes the partitions of the next fit on the same array (seen once in CI)
    default = fit_data_parallel(_model(epochs=3), _placed(client2, X, fresh=True), client2).estimator  # split
    whole = fit_data_parallel(_model(epochs=3), _placed(client2, X, fresh=True), client2, split_batch=False).estimator
    assert default.train_state_.step == 3 * 2 * 10 and whole.train_state_.step == 3 * 2 * 5


def test_final_latents_transform_solves_the_latents_against_the_final_factors(client2):
    X = _data()
    fit = fit_data_parallel(_model(epochs=10), _placed(client2, X), client2, final_latents="transform")
    est = fit.estimator
    expected = est.transform(X)  # row by row independent: the partitions' solves are this
    np.testing.assert_allclose(est.latents_, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fit.latents.compute(), expected, rtol=1e-5, atol=1e-6)
    error = np.linalg.norm(X.astype(np.float64) - est.inverse_transform(est.latents_))
    assert est.reconstruction_err_ == pytest.approx(error, rel=1e-5)


def test_two_worker_partial_fit_continues_the_fit_on_new_data(client2):
    X, X_new = _data(), _data(seed=1)[:120]
    est = fit_data_parallel(_model(epochs=10), _placed(client2, X), client2).estimator
    W_before, step_before = est.components_.copy(), est.train_state_.opt["W"].step
    latents_before = est.latents_.copy()
    again = copy.deepcopy(est)
    Xd_new = _placed(client2, X_new)
    fit = partial_fit_data_parallel(est, Xd_new, client2)
    assert est.latents_.shape == (N + 120, RANK)
    assert np.array_equal(est.latents_[:N], latents_before)  # earlier samples kept
    assert not np.array_equal(est.components_, W_before)  # W keeps learning
    assert est.train_state_.opt["W"].step > step_before  # its AdamW state carried on
    assert len(est.loss_curve_) == 11 and est.n_iter_ == 11
    np.testing.assert_allclose(fit.latents.compute(), est.latents_[N:], rtol=1e-6, atol=1e-7)
    ref = copy.deepcopy(again).partial_fit(X_new)  # single process, from the same fitted state
    assert est.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=0.10)
    partial_fit_data_parallel(again, Xd_new, client2)
    assert np.array_equal(again.components_, est.components_)  # deterministic given the placement


def test_partial_fit_refuses_other_widths(client2):
    est = fit_data_parallel(_model(epochs=2), _placed(client2, _data()), client2).estimator
    with pytest.raises(ValueError, match="features, but WNMF is expecting") as info:
        partial_fit_data_parallel(est, da.from_array(_data()[:, :10], chunks=(CHUNK, 10)), client2)
    assert "\n" not in str(info.value)


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


def test_transform_runs_chunk_wise_like_transform_without_embedding_the_estimator(client2):
    X = _data()
    est = fit_data_parallel(_model(epochs=5), _placed(client2, X), client2).estimator
    est.dummy_payload_ = np.zeros(20000)  # 160 kB riding on the estimator: over the threshold below
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Sending large graph ..." (the estimator in the graph) fails the test
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "50kB"}):
            Z = transform_data_parallel(est, da.from_array(X[:80], chunks=(CHUNK, M)), client2)
            Z_values = Z.compute()
    assert Z.chunks == ((CHUNK, CHUNK), (RANK,))
    np.testing.assert_allclose(Z_values, est.transform(X[:80]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "case, message",
    [
        ("numpy", "needs X as a dask.array.Array"),
        ("client", "client must be a dask.distributed.Client"),
        ("sync", "sync_every must be 'epoch' or a number of steps"),
        ("sync0", "sync_every must be 'epoch' or a number of steps"),
        ("final", "final_latents must be one of"),
        ("split", "split_batch must be True or False"),
        ("estimator", "fits a WNMF-family estimator"),
        ("3d", "X must be 2-D"),
        ("combine", "combine must be one of"),
    ],
)
def test_bad_inputs_give_one_line_errors(client2, case, message):
    X = _data()
    Xd = da.from_array(X, chunks=(CHUNK, M))
    args = {"estimator": _model(), "X": Xd, "client": client2, "sync_every": "epoch", "combine": "mean",
            "final_latents": "trained", "split_batch": False}
    if case == "numpy":
        args["X"] = X
    elif case == "client":
        args["client"] = object()
    elif case == "sync":
        args["sync_every"] = "step"
    elif case == "sync0":
        args["sync_every"] = 0
    elif case == "final":
        args["final_latents"] = "solved"
    elif case == "split":
        args["split_batch"] = "yes"
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
