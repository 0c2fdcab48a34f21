"""Data-parallel WNMF on the workers of a ``dask.distributed`` cluster.

:func:`fit_data_parallel` fits a WNMF-family estimator to a Dask array X without moving
X: every worker trains on the row chunks it holds, and only the shared factors go back
and forth.

- **Partitions.** X (rechunked to one column chunk) is persisted on the cluster; the row
  chunks a worker holds, in row order, form that worker's *partition*, concatenated on
  the worker. Each partition keeps, on its worker, its data, its rows of the latents H
  and their AdamW moments, its own batch-order generator and its own
  :class:`~wnmf_np.training.state.TrainState`.
- **Start.** The driver initialises the parameters exactly as ``fit`` does (one draw of
  W and H from ``random_state``, scaled by the data mean, which the partitions report),
  so one partition gives the single-process fit bit for bit; H's rows are scattered to
  their partitions once.
- **One epoch** (``sync_every="epoch"``, the one interval implemented): every partition
  runs the ordinary driver (:func:`wnmf_np.training.driver.train`) for one epoch over its
  own rows, starting from the shared W (every non-sample parameter) and W's AdamW moments;
  the driver then averages W and its two moments across the partitions, weighted by their
  rows, and scatters the average back. Each partition keeps its own step counter (its lr
  schedule and W's bias correction follow the steps it took). The epoch loss is the mean
  over all partitions' batches; early stopping and the callback use it.
- **End.** The reconstruction error is summed over the partitions on the workers; the
  latents come back as a Dask array aligned with X's row chunks
  (:class:`DataParallelFit`), and also, gathered, on the estimator (they are n × r, not
  X), so ``transform``, ``save`` and ``inverse_transform`` work as after ``fit``.

The driver sends and receives only the shared factors (one scatter and one gather of a
few (n_features, r) arrays per partition per epoch), the latents once each way, and
scalars; X never leaves its workers. Not supported: a mask, ``resume``, checkpoints,
``partial_fit`` (see docs/large_data.md).
"""

from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple

import numpy as np

SYNC_INTERVALS = ("epoch",)
COMBINES = ("mean", "sum")


class DataParallelFit(NamedTuple):
    """What :func:`fit_data_parallel` returns.

    Attributes
    ----------
    estimator : BaseWNMF
        The fitted estimator (``components_``, ``latents_``, ``loss_curve_``, ...).
    latents : dask array of shape (n_samples, n_latent)
        φη(H) of the training samples, chunked as X's rows, computed where they live.
    """

    estimator: Any
    latents: Any


# ------------------------------------------------------------------ worker tasks
def _concat_rows(*blocks):
    return np.ascontiguousarray(np.concatenate(blocks, axis=0)) if len(blocks) > 1 else blocks[0]


def _setup(estimator, X_part):
    """On the worker: validate the partition and build its fit context (a clone of the
    estimator, so the caller's object is not touched); returns the partition record."""
    from sklearn.base import clone

    est = clone(estimator)
    ctx = est._fit_context(X_part, None, reset=True)
    return {"est": est, "ctx": ctx, "mean": ctx.data.mean(), "n_observed": ctx.data.n_observed}


def _start(part, H, rng):
    """On the worker: the partition's initial latents and its fresh training state."""
    part = dict(part, rng=rng)
    sample = part["ctx"].model.sample_param
    part["H"] = H
    part["state"] = part["ctx"].new_state({sample: H, **_shared_shapes_placeholder(part, H)})
    return part


def _shared_shapes_placeholder(part, H):
    # new_state needs every trainable parameter; the shared ones' moments are replaced
    # by the driver's each epoch, so zero arrays of the right shape suffice here
    ctx = part["ctx"]
    shapes = ctx.model.param_shapes(H.shape[0], ctx.shape[1])
    return {k: np.zeros(s, dtype=H.dtype) for k, s in shapes.items() if k != ctx.model.sample_param}


def _epoch(part, shared, shared_opt):
    """On the worker: one epoch of the ordinary driver on this partition, from the shared
    parameters and their moments; returns the new partition record (inputs not mutated)."""
    import dataclasses

    from .driver import train

    ctx = part["ctx"]
    sample = ctx.model.sample_param
    state = copy.deepcopy(part["state"])
    own_steps = {k: state.opt[k].step for k in shared}
    for k, st in shared_opt.items():  # the averaged moments, this partition's own step count
        state.opt[k] = st._replace(step=own_steps[k], m=st.m.copy(), v=st.v.copy())
    params = {**{k: v.copy() for k, v in shared.items()}, sample: part["H"].copy()}
    rng = copy.deepcopy(part["rng"])
    config = dataclasses.replace(ctx.config, max_epochs=state.epoch + 1, n_iter_no_change=None, callback=None, verbose=0)
    steps_before = state.step
    train(dataclasses.replace(ctx, config=config), params, state, rng)
    return dict(part, H=params[sample], state=state, rng=rng, shared=params, steps=state.step - steps_before)


def _summary(part):
    """On the worker: what the driver averages (the shared parameters and moments) and the
    epoch's loss sum and step count."""
    state, shared = part["state"], part["shared"]
    sample = part["ctx"].model.sample_param
    names = [k for k in shared if k != sample]
    return {k: shared[k] for k in names}, {k: state.opt[k] for k in names}, state.loss_curve[-1], part["steps"], state.eta


def _error_ssq(part, shared, eta):
    """On the worker: Σ r² of the partition's residual with the final factors, as
    (scale, ssq) of :class:`wnmf_np.training.data.SumOfSquares`."""
    from .data import SumOfSquares

    est, ctx = part["est"], part["ctx"]
    est.model_, est.final_eta_ = ctx.model, eta
    est.params_ = {**shared, ctx.model.sample_param: part["H"]}
    total, xp = SumOfSquares(), ctx.backend.xp
    for rows, X_b, obs_b in ctx.data.row_blocks():
        R = est.model_.reconstruct(est.params_, part["H"][rows], eta).astype(xp.float64)
        R -= X_b
        if obs_b is not None:
            R *= obs_b
        total.add(R, xp)
    return total.scale, total.ssq


def _latents(part, start, stop, shared, eta):
    """On the worker: φη(H) of the partition's rows ``start:stop`` (one chunk of X)."""
    est, ctx = part["est"], part["ctx"]
    return est._latents_of({**shared, ctx.model.sample_param: part["H"][start:stop]}, eta)


def _latent_state(part):
    sample = part["ctx"].model.sample_param
    return part["H"], part["state"].opt[sample]


# ------------------------------------------------------------------ driver
def _check_inputs(estimator, X, client, sync_every, combine):
    from ..estimators.base import BaseWNMF

    try:
        import dask.array as da
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("fit_data_parallel needs dask and distributed: pip install 'wnmf-np[ooc]'.") from exc
    if not isinstance(estimator, BaseWNMF):
        raise TypeError(f"fit_data_parallel fits a WNMF-family estimator (WNMF, DeepWNMF, DeconvWNMF), not {type(estimator).__name__}.")
    if not isinstance(X, da.Array):
        raise TypeError(f"fit_data_parallel needs X as a dask.array.Array (its chunks stay on the workers), not {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client, not {type(client).__name__}.")
    if sync_every not in SYNC_INTERVALS:
        raise ValueError(f"sync_every must be one of {SYNC_INTERVALS}, got {sync_every!r}.")
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}.")
    if estimator.backend not in ("auto", "numpy"):
        raise ValueError(f"fit_data_parallel trains on the workers' CPUs: backend must be 'auto' or 'numpy', got {estimator.backend!r}.")
    if estimator.checkpoint_path is not None:
        raise ValueError("fit_data_parallel writes no checkpoints: set checkpoint_path=None.")


def _check_threads(client, n_shared_entries: int) -> None:
    """Refuse what would crash: numba's ``workqueue`` layer (:mod:`wnmf_np.kernels.dense.numba`)
    is not thread-safe, and in-process workers (``processes=False``) share one process, so
    two of them running a parallel AdamW loop (W of ``PARALLEL_MIN_SIZE`` entries or more)
    at the same time abort it."""
    import numba

    from ..kernels.dense.numba import PARALLEL_MIN_SIZE

    workers = client.scheduler_info().get("workers", {})
    in_process = sum(int(w.get("nthreads", 1)) for addr, w in workers.items() if addr.startswith("inproc://"))
    if in_process > 1 and n_shared_entries >= PARALLEL_MIN_SIZE and numba.config.THREADING_LAYER == "workqueue":
        raise ValueError(
            f"{in_process} in-process worker threads would run numba's parallel kernels concurrently, which its "
            "'workqueue' threading layer does not allow: use process workers (LocalCluster(processes=True), the "
            "default), one in-process worker thread, or NUMBA_THREADING_LAYER=omp."
        )


def _partitions(client, X):
    """Persist X and group its row chunks by the worker holding them: a list of
    (worker, [chunk index, ...], [chunk future, ...]) in the order of their first chunk."""
    from distributed import futures_of, wait

    X = X.rechunk({1: -1})
    persisted = client.persist(X)
    futures = {f.key: f for f in futures_of(persisted)}
    wait(list(futures.values()))
    chunks = [futures[key[0]] for key in persisted.__dask_keys__()]
    who = client.who_has(chunks)
    by_worker: dict = {}
    for i, f in enumerate(chunks):
        by_worker.setdefault(sorted(who[f.key])[0], []).append(i)
    bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
    return [(w, idx, [chunks[i] for i in idx]) for w, idx in by_worker.items()], bounds, X


def _weighted_mean(arrays, weights, dtype):
    if len(arrays) == 1:
        return arrays[0]
    total = sum(w * a.astype(np.float64) for a, w in zip(arrays, weights))
    return total.astype(dtype)


def fit_data_parallel(estimator, X, client, *, sync_every: str = "epoch", combine: str = "mean") -> DataParallelFit:
    """Fit ``estimator`` to the Dask array ``X`` on the workers that hold its chunks.

    Parameters
    ----------
    estimator : WNMF, DeepWNMF or DeconvWNMF
        Its parameters configure every partition's training; it is fitted in place.
    X : dask array of shape (n_samples, n_features)
        Row-chunked; the chunks are persisted on the cluster and never leave it.
    client : distributed.Client
    sync_every : {"epoch"}
        How often the shared factors are averaged (once per epoch; see the module docstring).

    Returns
    -------
    DataParallelFit
        ``(estimator, latents)``, the latents a Dask array aligned with X's row chunks.
    """
    import dask.array as da

    from ..core.backend import resolve_backend
    from ..core.optim import init_state
    from ..core.validation import check_random_state_seed, resolve_dtype
    from ..metrics import negativity
    from .driver import _early_stop
    from .state import TrainState

    _check_inputs(estimator, X, client, sync_every, combine)
    est = estimator
    est._validate_common()
    parts, bounds, X = _partitions(client, X)
    n_samples, n_features = (int(s) for s in X.shape)
    est._validate_extra(n_features)

    def on(worker, fn, *args):
        return client.submit(fn, *args, pure=False, workers=[worker], allow_other_workers=False)

    records = []
    for w, _, chunks in parts:
        X_part = on(w, _concat_rows, *chunks)
        records.append(on(w, _setup, est, X_part))
    means = client.gather([client.submit(lambda r: (r["mean"], r["n_observed"]), r, pure=False) for r in records])
    n_observed = sum(c for _, c in means)
    data_mean = means[0][0] if len(means) == 1 else sum(m * c for m, c in means) / n_observed

    # the start of fit: same generator, same draws, on the driver (parameters only)
    dtype = resolve_dtype(est.dtype, X)
    backend = resolve_backend("numpy", np.zeros(1))
    model = est._make_model(n_features)
    rng = check_random_state_seed(est.random_state)
    params = est._init_params(model, n_samples, n_features, rng, data_mean, dtype, backend)
    sample = model.sample_param
    part_rows = [np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in idx]) for _, idx, _ in parts]
    rngs = [rng] if len(parts) == 1 else rng.spawn(len(parts))
    for p, ((w, _, _), rows) in enumerate(zip(parts, part_rows)):
        H_f = client.scatter(np.ascontiguousarray(params[sample][rows]), workers=[w], hash=False)
        records[p] = on(w, _start, records[p], H_f, copy.deepcopy(rngs[p]))
    shared = {k: v for k, v in params.items() if k != sample}
    _check_threads(client, max(v.size for v in shared.values()))

    shared_opt = {k: init_state(v) for k, v in shared.items()}
    weights = [len(r) / n_samples for r in part_rows]
    state = TrainState(opt=dict(shared_opt))
    early = est._train_config(int(est.max_epochs), n_samples, lambda e: 0.0, "fit", model=model, n_features=n_features,
                              n_entries=n_observed)  # fmt: skip
    eta = None
    for _ in range(int(est.max_epochs)):
        # one future per object (a dict or a NamedTuple given to scatter would be split)
        shared_f, opt_f = client.scatter([shared, shared_opt], broadcast=True, hash=False)
        records = [on(w, _epoch, r, shared_f, opt_f) for (w, _, _), r in zip(parts, records)]
        summaries = client.gather([on(w, _summary, r) for (w, _, _), r in zip(parts, records)])
        if combine == "mean":
            shared = {k: _weighted_mean([s[0][k] for s in summaries], weights, dtype) for k in shared}
        else:  # the start plus every partition's change: each partition's steps count, as in one process
            shared = {k: (v.astype(np.float64) + sum(s[0][k].astype(np.float64) - v for s in summaries)).astype(dtype)
                      if len(summaries) > 1 else summaries[0][0][k] for k, v in shared.items()}
        shared_opt = {
            k: shared_opt[k]._replace(
                step=max(int(s[1][k].step) for s in summaries),
                m=_weighted_mean([s[1][k].m for s in summaries], weights, dtype),
                v=_weighted_mean([s[1][k].v for s in summaries], weights, dtype),
            )
            for k in shared
        }
        steps = sum(s[3] for s in summaries)
        # the mean over every partition's batches (one partition: its epoch loss as it is)
        loss = summaries[0][2] if len(summaries) == 1 else sum(s[2] * s[3] for s in summaries) / steps
        eta = summaries[0][4]
        state.epoch, state.step = state.epoch + 1, state.step + steps
        state.loss_curve.append(float(loss))
        stop = _early_stop(state, float(loss), early)
        if est.callback is not None and est.callback(state.epoch, {"loss": float(loss), "eta": eta, "epoch": state.epoch}):
            break
        if stop:
            state.stopped_early = True
            break

    # the fitted attributes: shared factors averaged, latents gathered (n × r), error on the workers
    ssq = client.gather([on(w, _error_ssq, r, shared, eta) for (w, _, _), r in zip(parts, records)])
    if len(ssq) == 1:
        error = ssq[0][0] * math.sqrt(ssq[0][1])
    else:
        error = math.sqrt(sum(s * s * q for s, q in ssq))
    latent_state = client.gather([on(w, _latent_state, r) for (w, _, _), r in zip(parts, records)])
    H = np.empty((n_samples, *latent_state[0][0].shape[1:]), dtype=latent_state[0][0].dtype)
    st0 = latent_state[0][1]
    per_row = np.ndim(st0.step) > 0
    m, v = np.empty_like(H), np.empty_like(H)
    step = np.empty(n_samples, dtype=np.int64) if per_row else 0
    for rows, (H_p, st) in zip(part_rows, latent_state):
        H[rows], m[rows], v[rows] = H_p, st.m, st.v
        if per_row:
            step[rows] = st.step
        else:
            step = max(step, int(st.step))
    state.opt = {**shared_opt, sample: st0._replace(step=step, m=m, v=v)}
    state.eta = eta
    est.model_, est.params_, est.train_state_, est.final_eta_ = model, {**shared, sample: H}, state, eta
    est.backend_, est.n_features_in_, est.n_iter_ = "numpy", n_features, state.epoch
    est.loss_curve_, est.reconstruction_err_ = list(state.loss_curve), float(error)
    est._rng = rng
    est._set_derived(backend)
    est.negativity_ = {name: negativity(A) for name, A in est._factors().items()}

    blocks = []
    for j in range(len(bounds) - 1):
        p = next(p for p, (_, idx, _) in enumerate(parts) if j in idx)
        w, idx, _ = parts[p]
        offset = sum(int(bounds[i + 1] - bounds[i]) for i in idx[: idx.index(j)])
        rows_j = int(bounds[j + 1] - bounds[j])
        fut = on(w, _latents, records[p], offset, offset + rows_j, shared, eta)
        blocks.append(da.from_delayed(fut, shape=(rows_j, est.latents_.shape[1]), dtype=est.latents_.dtype))
    return DataParallelFit(est, da.concatenate(blocks, axis=0))


def transform_data_parallel(estimator, X):
    """``estimator.transform`` of every row chunk of the Dask array ``X``, where it lives:
    a Dask array of shape (n_samples, n_latent) with X's row chunks (each row is
    transformed independently, so chunk-wise equals whole, see ``transform``)."""
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(f"transform_data_parallel needs X as a dask.array.Array, not {type(X).__name__}.")
    X = X.rechunk({1: -1})
    n_out = int(estimator.components_.shape[0])
    return X.map_blocks(lambda block: np.asarray(estimator.transform(block)), chunks=(X.chunks[0], (n_out,)),
                        dtype=estimator.latents_.dtype)  # fmt: skip
