"""The feature-blocked shallow step (wnmf_np.training.feature_blocks) and its two kernels.

The blocked step must train the same model as the generic step (within rounding: the
latents' gradient is summed per block), give the same numbers on any number of threads,
resume exactly, and read out-of-core batches like in-memory ones.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import low_rank_nonneg
from threadpoolctl import threadpool_info

import wnmf_np.training.driver as driver
from wnmf_np import WNMF, DeepWNMF
from wnmf_np.core.threads import limit_threads, serial_blas
from wnmf_np.kernels.dense import numba as fused
from wnmf_np.kernels.dense import reference
from wnmf_np.training.feature_blocks import BLOCK_BYTES, FeatureBlockedStep, feature_blocked_step, n_feature_blocks

LOSSES = [("l1", 0.0), ("l2", 0.0), ("huber", 0.3), ("kl", 1e-6)]
# W of 2100 x 32 float32 is 269 KB: two blocks of BLOCK_BYTES
N_FEATURES, RANK = 2100, 32
KW = dict(max_epochs=3, batch_size=16, random_state=0, n_iter_no_change=None)


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(5)
    return low_rank_nonneg(rng, n_samples=40, n_features=N_FEATURES, rank=6, noise=0.01)[0].astype(np.float32)


def _blas_threads():
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def _generic_only(monkeypatch):
    monkeypatch.setattr(driver, "feature_blocked_step", lambda *args, **kwargs: None)


def _uses_blocks(monkeypatch) -> dict:
    """Count the blocked steps a fit takes."""
    seen = {"steps": 0}
    original = FeatureBlockedStep.step

    def counting(self, *args, **kwargs):
        seen["steps"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FeatureBlockedStep, "step", counting)
    return seen


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eta", [0.1, 0.0, 1.0])
def test_fused_adamw_equals_the_three_kernels_it_fuses(rng, dtype, eta):
    p = rng.standard_normal(3001).astype(dtype)
    p[:3] = (0.0, -0.0, 1e-30)
    g = rng.standard_normal(3001).astype(dtype)
    m, v = (0.1 * rng.standard_normal(3001)).astype(dtype), rng.uniform(0, 0.1, 3001).astype(dtype)
    args = (7, 1e-2, 0.9, 0.999, 1e-8, 0.01, 0.003)
    a = [x.copy() for x in (p, g, m, v)] + [np.empty_like(p)]
    fused.adamw_leaky_(a[0], a[1], a[2], a[3], a[4], eta, *args)
    b = [x.copy() for x in (p, g, m, v)]
    fused.leaky_grad_mul_(b[1], b[0], eta)
    fused.adamw_(b[0], b[1], b[2], b[3], *args)
    for got, want in zip(a, b + [fused.leaky_relu(b[0], eta)]):
        np.testing.assert_array_equal(got, want)
    c = [x.copy() for x in (p, g, m, v)] + [np.empty_like(p)]
    reference.adamw_leaky_(c[0], c[1], c[2], c[3], c[4], eta, *args)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for got, want in zip(a, c):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name,param", LOSSES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("factor", [None, 17.0])
@pytest.mark.parametrize("with_rows", [False, True])
def test_column_block_loss_is_the_batch_loss_on_those_columns(rng, name, param, masked, factor, with_rows):
    data = np.abs(rng.standard_normal((30, 50))).astype(np.float32)
    data[0, :5] = 0.0  # KL at x = 0
    rows = rng.permutation(30)[:6]
    Xb = data[rows]
    Y = rng.standard_normal((6, 50)).astype(np.float32)
    obs_all = rng.random((30, 50)) > 0.3 if masked else None
    obs_b = None if obs_all is None else obs_all[rows]
    whole = Y.copy()
    value = fused.loss_grad_(name, Xb, whole, obs_b, param)
    if factor is not None:
        whole *= np.float32(factor)
    n_obs = Xb.size if obs_b is None else int(obs_b.sum())
    total = 0.0
    for lo, hi in [(0, 13), (13, 14), (14, 50)]:
        block, oracle = np.ascontiguousarray(Y[:, lo:hi]), np.ascontiguousarray(Y[:, lo:hi])
        src, obs = (data, obs_all) if with_rows else (Xb, obs_b)
        part = fused.loss_grad_columns_(name, src, lo, block, obs, param, 1.0 / n_obs, factor, rows if with_rows else None)
        want = reference.loss_grad_columns_(name, src, lo, oracle, obs, param, 1.0 / n_obs, factor, rows if with_rows else None)
        np.testing.assert_array_equal(block, whole[:, lo:hi])  # bit for bit the batch kernel's gradient
        np.testing.assert_allclose(block, oracle, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(part, want, rtol=1e-5, atol=1e-6)
        total += part
    np.testing.assert_allclose(total / n_obs, value, rtol=1e-6)  # (the L1 value is a float32, as in loss_grad_)


def test_column_block_loss_rejects_a_block_outside_the_batch(rng):
    X = rng.random((4, 10)).astype(np.float32)
    with pytest.raises(ValueError, match="does not fit"):
        fused.loss_grad_columns_("l1", X, 8, np.zeros((4, 3), np.float32), None, 0.0, 0.1)
    with pytest.raises(ValueError, match="unknown loss"):
        fused.loss_grad_columns_("l3", X, 0, np.zeros((4, 3), np.float32), None, 0.0, 0.1)


# -------------------------------------------------------------------------- the step
def test_blocks_depend_on_the_size_of_W_only():
    assert n_feature_blocks(100, 40, 4) == 1
    assert n_feature_blocks(10304, 40, 4) == 8  # ORL: 1.6 MB in 8 blocks of at most BLOCK_BYTES
    assert n_feature_blocks(10304, 40, 8) == 14
    assert n_feature_blocks(N_FEATURES, RANK, 4) == 2
    for m, r, size in [(10304, 40, 4), (5000, 17, 8), (N_FEATURES, RANK, 4)]:
        blocks = FeatureBlockedStep(n_feature_blocks(m, r, size), m).blocks
        assert blocks[0][0] == 0 and blocks[-1][1] == m and all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        assert max((hi - lo) * r * size for lo, hi in blocks) <= BLOCK_BYTES * 1.01


@pytest.mark.parametrize(
    "settings",
    [dict(), dict(loss="l2", h_update="dense"), dict(loss="kl", loss_reduction="sum", l2_mode="penalty"), dict(loss="huber", l2_mode="penalty"),
     dict(dtype="float64")],
    ids=["defaults", "l2-dense", "kl-sum", "huber-penalty", "float64"],
)
def test_blocked_fit_trains_the_generic_step_model(X, monkeypatch, settings):
    rank = RANK // 2 if settings.get("dtype") == "float64" else RANK  # two blocks either way
    seen = _uses_blocks(monkeypatch)
    blocked = WNMF(rank, **KW, **settings).fit(X)
    assert seen["steps"] == 3 * 3
    _generic_only(monkeypatch)
    generic = WNMF(rank, **KW, **settings).fit(X)
    assert seen["steps"] == 3 * 3  # the generic fit took no blocked step
    np.testing.assert_allclose(blocked.components_, generic.components_, rtol=0, atol=2e-4)
    np.testing.assert_allclose(blocked.latents_, generic.latents_, rtol=0, atol=2e-4)
    np.testing.assert_allclose(blocked.loss_curve_, generic.loss_curve_, rtol=1e-4)
    assert not np.array_equal(blocked.latents_, generic.latents_) or settings.get("dtype") == "float64"


def test_blocked_transform_and_masked_data_match_the_generic_step(X, monkeypatch):
    Xn = X.copy()
    Xn[np.random.default_rng(1).random(X.shape) < 0.2] = np.nan
    seen = _uses_blocks(monkeypatch)
    blocked = WNMF(RANK, nan_policy="omit", **KW).fit(Xn)
    Z_blocked = blocked.transform(X[:7])
    assert seen["steps"] > 9  # fit and transform both blocked
    _generic_only(monkeypatch)
    generic = WNMF(RANK, nan_policy="omit", **KW).fit(Xn)
    np.testing.assert_allclose(blocked.components_, generic.components_, rtol=0, atol=2e-4)
    np.testing.assert_allclose(Z_blocked, generic.transform(X[:7]), rtol=0, atol=5e-4)


def test_blocked_fit_gives_the_same_numbers_on_any_number_of_threads(X, monkeypatch):
    seen = _uses_blocks(monkeypatch)
    fits = [WNMF(RANK, n_threads=n, **KW).fit(X) for n in (1, 2, None)]
    assert seen["steps"] == 27
    for other in fits[1:]:
        np.testing.assert_array_equal(other.components_, fits[0].components_)
        np.testing.assert_array_equal(other.latents_, fits[0].latents_)
        assert other.loss_curve_ == fits[0].loss_curve_


def test_blocked_fit_of_a_memmap_equals_the_in_memory_fit(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    in_memory = WNMF(RANK, **KW).fit(X)
    on_disk = WNMF(RANK, **KW).fit(np.load(path, mmap_mode="r"))
    np.testing.assert_array_equal(on_disk.components_, in_memory.components_)
    np.testing.assert_array_equal(on_disk.latents_, in_memory.latents_)


def test_interrupted_blocked_fit_resumes_exactly(X):
    reference_fit = WNMF(RANK, **KW).fit(X)

    def stop_after_two(epoch, info):
        if epoch == 2:
            raise KeyboardInterrupt

    model = WNMF(RANK, callback=stop_after_two, **KW)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    model.set_params(callback=None)
    model.fit(X, resume=True)
    np.testing.assert_array_equal(model.components_, reference_fit.components_)
    np.testing.assert_array_equal(model.latents_, reference_fit.latents_)


def test_blas_runs_on_one_thread_inside_a_blocked_fit_and_the_workers_stop(X, monkeypatch):
    seen = _uses_blocks(monkeypatch)
    inside = []
    before = _blas_threads()
    WNMF(RANK, n_threads=2, callback=lambda epoch, info: inside.append(_blas_threads()), **KW).fit(X)
    assert seen["steps"] == 9
    assert inside and all(sizes == [1] * len(before) for sizes in inside)
    assert _blas_threads() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("wnmf_np-blocks")]


def test_serial_blas_inside_a_load_aware_block_restores_the_budget():
    with limit_threads(None):
        during_budget = _blas_threads()
        with serial_blas():
            assert all(n == 1 for n in _blas_threads())
        assert _blas_threads() == during_budget


@pytest.mark.parametrize("make", [lambda: WNMF(4, **KW), lambda: DeepWNMF((RANK, 4), **KW)], ids=["small-W", "deep"])
def test_the_generic_step_runs_where_the_blocked_one_does_not_apply(X, monkeypatch, make):
    seen = _uses_blocks(monkeypatch)
    make().fit(X)
    assert seen["steps"] == 0


def test_the_blocked_step_needs_the_numba_kernels_and_the_shallow_model(X):
    from wnmf_np.kernels import get_kernels
    from wnmf_np.models.deep import DeepModel
    from wnmf_np.models.shallow import ShallowModel
    from wnmf_np.training.data import InMemoryData

    params = {"W": np.zeros((N_FEATURES, RANK), np.float32), "H": np.zeros((40, RANK), np.float32)}
    source = InMemoryData(X)
    numba_ctx, reference_ctx = SimpleNamespace(kernels=get_kernels("numpy")), SimpleNamespace(kernels=reference.KERNELS)
    step = feature_blocked_step(numba_ctx, ShallowModel(RANK), source, params, ("W", "H"))
    assert isinstance(step, FeatureBlockedStep) and step.reads_rows
    assert feature_blocked_step(reference_ctx, ShallowModel(RANK), source, params, ("W", "H")) is None
    assert feature_blocked_step(numba_ctx, DeepModel((RANK, 4)), source, params, ("W", "H")) is None
    assert feature_blocked_step(numba_ctx, ShallowModel(RANK), source, params, ("W", "H", "V")) is None
    fortran = dict(params, W=np.asfortranarray(params["W"]))
    assert feature_blocked_step(numba_ctx, ShallowModel(RANK), source, fortran, ("W", "H")) is None


@pytest.mark.parametrize("n_threads,workers", [(1, 0), (2, 1)])
def test_n_threads_bounds_the_blocked_steps_threads(X, n_threads, workers):
    seen = []

    def count_workers(epoch, info):
        seen.append(len([t for t in threading.enumerate() if t.name.startswith("wnmf_np-blocks")]))

    WNMF(RANK, n_threads=n_threads, callback=count_workers, **KW).fit(X)
    assert seen and all(n == workers for n in seen)
