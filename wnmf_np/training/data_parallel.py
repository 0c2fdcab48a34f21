"""Data-parallel WNMF on the workers of a ``dask.distributed`` cluster.

:func:`fit_data_parallel` fits a WNMF-family estimator to a Dask array X without moving
X: every worker trains on the row chunks it holds, and only the shared factors go back
and forth. :func:`partial_fit_data_parallel` continues a fitted estimator on new data the
same way, and :func:`transform_data_parallel` transforms chunk by chunk where X lives.

- **Partitions.** X (rechunked to one column chunk) is persisted on the cluster; the row
  chunks a worker holds, in row order, form that worker's *partition*, concatenated on
  the worker. Each partition keeps, on its worker, its data, its rows of the latents H
  and their AdamW moments, its own batch-order generator and its own
  :class:`~wnmf_np.training.state.TrainState`.
- **Start.** The driver initialises the parameters exactly as ``fit`` does (one draw of
  W and H from ``random_state``, scaled by the data mean, which the partitions report),
  so one partition gives the single-process fit bit for bit; H's rows are scattered to
  their partitions once.
- **Rounds.** Every epoch is cut into *rounds*: in a round every partition runs the
  ordinary driver (:func:`wnmf_np.training.driver.train`) over its own rows for
  ``sync_every`` steps (``"epoch"``: to the end of its epoch), starting from the shared W
  (every non-sample parameter) and W's AdamW moments; the driver then combines the
  partitions' W (``combine``) and averages the moments, weighted by rows, and scatters
  them back. A partition whose epoch has ended waits out the epoch's last rounds. Each
  partition keeps its own step counter (its lr schedule and W's bias correction follow
  the steps it took). The epoch loss is the mean over all partitions' batches; early
  stopping and the callback use it.
- **End.** With ``final_latents="transform"`` every partition then solves its latents
  against the final W as ``transform`` does (warm start, latent-only AdamW, the
  estimator scattered once), so latents and W match. The reconstruction error is summed
  over the partitions on the workers; the latents come back as a Dask array aligned with
  X's row chunks (:class:`DataParallelFit`), and also, gathered, on the estimator (they
  are n × r, not X), so ``transform``, ``save`` and ``inverse_transform`` work as after
  ``fit``.

The driver sends and receives only the shared factors (one scatter and one gather of a
few (n_features, r) arrays per partition per round), the latents once each way (twice
with ``final_latents="transform"``), and scalars; X never leaves its workers. Not
supported: a mask, ``resume``, checkpoints (see docs/large_data.md).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any, NamedTuple

import numpy as np

from .state import append_sample_rows

SYNC_EPOCH = "epoch"
COMBINES = ("mean", "sum")
FINAL_LATENTS = ("trained", "transform")


class DataParallelFit(NamedTuple):
    """What :func:`fit_data_parallel` and :func:`partial_fit_data_parallel` return.

    Attributes
    ----------
    estimator : BaseWNMF
        The fitted estimator (``components_``, ``latents_``, ``loss_curve_``, ...).
    latents : dask array of shape (n_samples, n_latent)
        φη(H) of the samples of X (the call's X), chunked as X's rows, computed where they live.
    """

    estimator: Any
    latents: Any


class _Summary(NamedTuple):
    """What a partition reports after a round (small: the shared factors and scalars)."""

    shared: dict  # the shared parameters after the round
    opt: dict  # their AdamW states
    epoch_loss: float | None  # the partition's epoch loss if its epoch ended in this round
    steps: int  # steps taken in the round (0: its epoch had ended already)
    eta: float | None


# ------------------------------------------------------------------ worker tasks
def _concat_rows(*blocks):
    return np.ascontiguousarray(np.concatenate(blocks, axis=0)) if len(blocks) > 1 else blocks[0]


def _setup(estimator, X_part, streaming, batch_size):
    """On the worker: validate the partition and build its fit context (on a clone of the
    estimator with this partition's ``batch_size``, so the caller's object is not
    touched); returns the partition record."""
    from sklearn.base import clone

    est = clone(estimator).set_params(batch_size=batch_size)
    ctx = est._fit_context(X_part, None, reset=True, streaming=streaming)
    n = ctx.shape[0]
    return {"est": est, "ctx": ctx, "X": X_part, "mean": ctx.data.mean(), "n_observed": ctx.data.n_observed,
            "steps_per_epoch": math.ceil(n / min(ctx.config.batch_size, n))}  # fmt: skip


def _start(part, H, rng, shared_opt, step):
    """On the worker: the partition's initial latents and its fresh training state; the
    shared parameters' AdamW states (their moments are replaced every round, their step
    counts are the partition's own from here on) and the step counter to start from."""
    part = dict(part, rng=rng, H=H)
    ctx = part["ctx"]
    sample = ctx.model.sample_param
    shapes = ctx.model.param_shapes(H.shape[0], ctx.shape[1])
    # new_state needs every trainable parameter: zeros of the shared ones' shapes suffice
    placeholders = {k: np.zeros(s, dtype=H.dtype) for k, s in shapes.items() if k != sample}
    state = ctx.new_state({sample: H, **placeholders})
    state.opt.update(shared_opt)
    state.step = step
    part["state"] = state
    return part


def _advance(part, shared, shared_opt, epoch_end, n_steps):
    """On the worker: ``n_steps`` steps (None: to the end of the epoch) of the ordinary
    driver on this partition, from the shared parameters and their moments, never past
    epoch ``epoch_end``; returns the new partition record (the inputs are not mutated)."""
    from .driver import train

    state = part["state"]
    if state.epoch >= epoch_end:  # this partition's epoch has ended: it waits out the round
        return dict(part, steps=0)
    ctx = part["ctx"]
    sample = ctx.model.sample_param
    state = copy.deepcopy(state)
    for k, st in shared_opt.items():  # the averaged moments, this partition's own step count
        state.opt[k] = st._replace(step=state.opt[k].step, m=st.m.copy(), v=st.v.copy())
    params = {**{k: v.copy() for k, v in shared.items()}, sample: part["H"].copy()}
    rng = copy.deepcopy(part["rng"])
    config = dataclasses.replace(ctx.config, max_epochs=epoch_end, n_iter_no_change=None, callback=None, verbose=0)
    steps_before = state.step
    train(dataclasses.replace(ctx, config=config), params, state, rng,
          max_steps=None if n_steps is None else steps_before + n_steps)  # fmt: skip
    return dict(part, H=params[sample], state=state, rng=rng, shared=params, steps=state.step - steps_before)


def _summary(part, epoch_end):
    """On the worker: what the driver combines after a round (:class:`_Summary`)."""
    if part["steps"] == 0:
        return _Summary({}, {}, None, 0, None)
    state, shared = part["state"], part["shared"]
    names = [k for k in shared if k != part["ctx"].model.sample_param]
    loss = state.loss_curve[-1] if state.epoch == epoch_end else None
    return _Summary({k: shared[k] for k in names}, {k: state.opt[k] for k in names}, loss, part["steps"], state.eta)


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


def _solve_latents(part, fitted):
    """On the worker: the partition's latents solved against the final factors as
    ``fitted.transform`` solves them (each row independently, so the same as transforming
    all of X); replaces the partition's trained latents."""
    sample = part["ctx"].model.sample_param
    return dict(part, H=fitted._transform_params(part["X"], None)[sample])


def _latents(part, start, stop, shared, eta):
    """On the worker: φη(H) of the partition's rows ``start:stop`` (one chunk of X)."""
    est, ctx = part["est"], part["ctx"]
    return est._latents_of({**shared, ctx.model.sample_param: part["H"][start:stop]}, eta)


def _latent_state(part):
    sample = part["ctx"].model.sample_param
    return part["H"], part["state"].opt[sample]


def _transform_block(block, fitted):
    return np.asarray(fitted.transform(block))


# ------------------------------------------------------------------ checks
def _check_inputs(estimator, X, client, sync_every, combine, final_latents, split_batch):
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
    _check_sync_every(sync_every)
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}.")
    if not isinstance(split_batch, (bool, np.bool_)):
        raise TypeError(f"split_batch must be True or False, got {split_batch!r}.")
    if final_latents not in FINAL_LATENTS:
        raise ValueError(f"final_latents must be one of {FINAL_LATENTS}, got {final_latents!r}.")
    if estimator.backend not in ("auto", "numpy"):
        raise ValueError(f"fit_data_parallel trains on the workers' CPUs: backend must be 'auto' or 'numpy', got {estimator.backend!r}.")
    if estimator.checkpoint_path is not None:
        raise ValueError("fit_data_parallel writes no checkpoints: set checkpoint_path=None.")


def _check_sync_every(sync_every) -> None:
    ok = sync_every == SYNC_EPOCH or (isinstance(sync_every, (int, np.integer)) and not isinstance(sync_every, bool)
                                      and sync_every >= 1)  # fmt: skip
    if not ok:
        raise ValueError(f"sync_every must be 'epoch' or a number of steps >= 1, got {sync_every!r}.")


def _check_threads(client, n_shared_entries: int) -> None:
    """Refuse what would crash: numba's ``workqueue`` layer (:mod:`wnmf_np.kernels.dense.numba`)
    is not thread-safe, and in-process workers (``processes=False``) share one process, so
    two of them running a parallel AdamW loop (W of ``PARALLEL_MIN_SIZE`` entries or more)
    at the same time abort it."""
    import numba

    from ..kernels.dense.numba import PARALLEL_MIN_SIZE

    # (client.nthreads() asks the scheduler each time; scheduler_info() may answer from a
    # cache without the workers, and the check then passed once in a CI run)
    in_process = sum(int(n) for addr, n in client.nthreads().items() if str(addr).startswith("inproc://"))
    if in_process > 1 and n_shared_entries >= PARALLEL_MIN_SIZE and numba.config.THREADING_LAYER == "workqueue":
        raise ValueError(
            f"{in_process} in-process worker threads would run numba's parallel kernels concurrently, which its "
            "'workqueue' threading layer does not allow: use process workers (LocalCluster(processes=True), the "
            "default), one in-process worker thread, or NUMBA_THREADING_LAYER=omp."
        )


# ------------------------------------------------------------------ driver
class _Partitions:
    """X persisted on the cluster, its row chunks grouped by the worker holding them.

    Attributes
    ----------
    workers : list of str
        One worker per partition, in the order of the partitions' first chunks.
    chunk_ids : list of list of int
        The indices of each partition's row chunks, in row order.
    bounds : int array of shape (n_chunks + 1,)
        Row offsets of X's chunks.
    rows : list of int arrays
        Each partition's rows of X, in the order the partition holds them.
    """

    def __init__(self, client, X):
        from distributed import futures_of, wait

        self.client = client
        X = X.rechunk({1: -1})
        persisted = client.persist(X)
        futures = {f.key: f for f in futures_of(persisted)}
        with client.as_current():  # wait() asks for the current client; this one need not be the default
            wait(list(futures.values()))
        chunks = [futures[key[0]] for key in persisted.__dask_keys__()]
        who = client.who_has(chunks)
        by_worker: dict = {}
        for i, f in enumerate(chunks):
            by_worker.setdefault(sorted(who[f.key])[0], []).append(i)
        self.X = X
        self.shape = tuple(int(s) for s in X.shape)
        self.workers = list(by_worker)
        self.chunk_ids = list(by_worker.values())
        self.chunks = [[chunks[i] for i in idx] for idx in self.chunk_ids]
        self.bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        self.rows = [np.concatenate([np.arange(self.bounds[i], self.bounds[i + 1]) for i in idx]) for idx in self.chunk_ids]

    def on(self, p, fn, *args):
        """Run ``fn(*args)`` on partition ``p``'s worker (a future)."""
        return self.client.submit(fn, *args, pure=False, workers=[self.workers[p]], allow_other_workers=False)

    def each(self, fn, records, *args):
        """``fn(record, *args)`` on every partition's worker (a list of futures)."""
        return [self.on(p, fn, r, *args) for p, r in enumerate(records)]

    def latents_array(self, records, shared, eta, n_latent, dtype):
        """φη(H) as a Dask array with X's row chunks, each block computed on its worker."""
        import dask.array as da

        blocks = []
        for j in range(len(self.bounds) - 1):
            p = next(p for p, idx in enumerate(self.chunk_ids) if j in idx)
            idx = self.chunk_ids[p]
            offset = int(sum(self.bounds[i + 1] - self.bounds[i] for i in idx[: idx.index(j)]))
            rows_j = int(self.bounds[j + 1] - self.bounds[j])
            fut = self.on(p, _latents, records[p], offset, offset + rows_j, shared, eta)
            blocks.append(da.from_delayed(fut, shape=(rows_j, n_latent), dtype=dtype))
        return da.concatenate(blocks, axis=0)


def _weighted_mean(arrays, weights, dtype):
    if len(arrays) == 1:
        return arrays[0]
    total = sum(w * a.astype(np.float64) for a, w in zip(arrays, weights))
    return total.astype(dtype)


def _combine(shared, shared_opt, summaries, weights, combine, dtype):
    """The shared parameters and moments after a round, from the partitions that stepped.

    ``"mean"``: W averaged, weighted by rows; ``"sum"``: the start plus every partition's
    change (each partition's steps count, as in one process). The moments are averaged,
    weighted by rows. One partition: its arrays as they are (bit for bit)."""
    active = [(s, w) for s, w in zip(summaries, weights) if s.steps > 0]
    if not active:
        return shared, shared_opt
    reports, w = [s for s, _ in active], np.asarray([w for _, w in active]) / sum(w for _, w in active)
    if len(reports) == 1:
        new = dict(reports[0].shared)
    elif combine == "mean":
        new = {k: _weighted_mean([s.shared[k] for s in reports], w, dtype) for k in shared}
    else:
        new = {k: (v.astype(np.float64) + sum(s.shared[k].astype(np.float64) - v for s in reports)).astype(dtype)
               for k, v in shared.items()}  # fmt: skip
    opt = {
        k: shared_opt[k]._replace(
            step=max(int(s.opt[k].step) for s in reports),
            m=_weighted_mean([s.opt[k].m for s in reports], w, dtype),
            v=_weighted_mean([s.opt[k].v for s in reports], w, dtype),
        )
        for k in shared
    }
    return new, opt


@dataclasses.dataclass
class _Run:
    """The driver's view of one data-parallel training run (fit or partial_fit)."""

    parts: _Partitions
    records: list
    shared: dict
    shared_opt: dict
    weights: list
    steps_per_epoch: list
    dtype: Any
    eta: float | None = None

    def epoch(self, epoch_end, sync_every, combine):
        """One epoch in rounds; returns (epoch loss, steps taken by all partitions)."""
        client, longest = self.parts.client, max(self.steps_per_epoch)
        n_rounds, n_steps = (1, None) if sync_every == SYNC_EPOCH else (math.ceil(longest / sync_every), int(sync_every))
        losses, steps = [None] * len(self.records), 0
        for _ in range(n_rounds):
            # one future per object (a dict or a NamedTuple given to scatter would be split)
            shared_f, opt_f = client.scatter([self.shared, self.shared_opt], broadcast=True, hash=False)
            self.records = self.parts.each(_advance, self.records, shared_f, opt_f, epoch_end, n_steps)
            summaries = client.gather(self.parts.each(_summary, self.records, epoch_end))
            self.shared, self.shared_opt = _combine(self.shared, self.shared_opt, summaries, self.weights, combine, self.dtype)
            for p, s in enumerate(summaries):
                losses[p] = s.epoch_loss if s.epoch_loss is not None else losses[p]
                self.eta = s.eta if s.eta is not None else self.eta
            steps += sum(s.steps for s in summaries)
        if len(losses) == 1:  # its epoch loss as it is
            return losses[0], steps
        return sum(loss * k for loss, k in zip(losses, self.steps_per_epoch)) / sum(self.steps_per_epoch), steps

    def solve_latents(self, fitted):
        """Every partition's latents solved against ``fitted``'s factors (``transform``)."""
        fitted_f = self.parts.client.scatter(fitted, broadcast=True, hash=False)
        self.records = self.parts.each(_solve_latents, self.records, fitted_f)

    def error(self):
        """The reconstruction error over all partitions, summed on the workers."""
        ssq = self.parts.client.gather(self.parts.each(_error_ssq, self.records, self.shared, self.eta))
        if len(ssq) == 1:
            return ssq[0][0] * math.sqrt(ssq[0][1])
        return math.sqrt(sum(s * s * q for s, q in ssq))

    def gathered_latents(self, n_samples):
        """(H, its AdamW state) of all the run's samples, in X's row order."""
        latent_state = self.parts.client.gather(self.parts.each(_latent_state, self.records))
        H0, st0 = latent_state[0]
        H = np.empty((n_samples, *H0.shape[1:]), dtype=H0.dtype)
        per_row = np.ndim(st0.step) > 0
        m, v = np.empty_like(H), np.empty_like(H)
        step = np.empty(n_samples, dtype=np.int64) if per_row else 0
        for rows, (H_p, st) in zip(self.parts.rows, latent_state):
            H[rows], m[rows], v[rows] = H_p, st.m, st.v
            if per_row:
                step[rows] = st.step
            else:
                step = max(step, int(st.step))
        return H, st0._replace(step=step, m=m, v=v)

    def final_rng(self, rng):
        """The batch-order generator the estimator keeps: one partition's own (so a later
        ``partial_fit`` continues as after ``fit``), else the driver's."""
        if len(self.records) > 1:
            return rng
        return self.parts.client.submit(lambda r: r["rng"], self.records[0], pure=False).result()


def _partition_batch(est, parts, p, split_batch) -> int:
    """Partition ``p``'s mini-batch size: the estimator's, or with ``split_batch`` its share
    of it by rows (so one round of single steps covers one batch of the estimator's size)."""
    b = int(est.batch_size)
    return max(1, round(b * len(parts.rows[p]) / parts.shape[0])) if split_batch else b


def _start_run(est, parts, rng, *, streaming, split_batch, shared=None, shared_opt=None, step=0):
    """Set up the partitions, draw the parameters on the driver as ``fit`` (or
    ``partial_fit``) draws them and scatter each partition its latent rows; returns the
    :class:`_Run`, the model and the data mean."""
    from ..core.backend import resolve_backend
    from ..core.optim import init_state
    from ..core.validation import resolve_dtype

    client = parts.client
    n_samples, n_features = parts.shape
    records = []
    for p, chunks in enumerate(parts.chunks):
        X_part = parts.on(p, _concat_rows, *chunks)
        records.append(parts.on(p, _setup, est, X_part, streaming, _partition_batch(est, parts, p, split_batch)))
    info = client.gather([client.submit(lambda r: (r["mean"], r["n_observed"], r["steps_per_epoch"]), r, pure=False)
                          for r in records])  # fmt: skip
    n_observed = sum(c for _, c, _ in info)
    data_mean = info[0][0] if len(info) == 1 else sum(m * c for m, c, _ in info) / n_observed
    dtype = resolve_dtype(est.dtype, parts.X)
    model = est._make_model(n_features)
    params = est._init_params(model, n_samples, n_features, rng, data_mean, dtype, resolve_backend("numpy", np.zeros(1)))
    sample = model.sample_param
    if shared is None:  # a fresh start (fit, or partial_fit on an unfitted estimator)
        shared = {k: v for k, v in params.items() if k != sample}
        shared_opt = {k: init_state(v) for k, v in shared.items()}
    _check_threads(client, max(v.size for v in shared.values()))
    rngs = [rng] if len(records) == 1 else rng.spawn(len(records))
    for p, rows in enumerate(parts.rows):
        H_f = client.scatter(np.ascontiguousarray(params[sample][rows]), workers=[parts.workers[p]], hash=False)
        records[p] = parts.on(p, _start, records[p], H_f, copy.deepcopy(rngs[p]), shared_opt, step)
    weights = [len(r) / n_samples for r in parts.rows]
    run = _Run(parts, records, shared, shared_opt, weights, [s for _, _, s in info], dtype)
    return run, model, n_observed


def _store(est, run, model, state, sample, H, H_opt, rng):
    """The fitted attributes on the estimator (as ``BaseWNMF._store`` sets them)."""
    from ..core.backend import resolve_backend

    state.opt = {**run.shared_opt, sample: H_opt}
    state.eta = run.eta
    est.model_, est.params_, est.train_state_, est.final_eta_ = model, {**run.shared, sample: H}, state, run.eta
    est.backend_, est.n_features_in_, est.n_iter_ = "numpy", run.parts.shape[1], state.epoch
    est.loss_curve_ = list(state.loss_curve)
    est._rng = rng
    est._set_derived(resolve_backend("numpy", np.zeros(1)))
    est._record_negativity()


def _finish(est, run, model, state, rng, final_latents, H_before=None, H_opt_before=None):
    """After the epochs: the latents (solved against the final W if asked), the fitted
    attributes, the error on the workers, the latents as a Dask array. ``H_before``: the
    latents of earlier samples that the run's ones follow (partial_fit)."""
    sample = model.sample_param
    n_samples = run.parts.shape[0]
    H, H_opt = run.gathered_latents(n_samples)
    rng = run.final_rng(rng)
    if H_before is not None:
        H, H_opt = append_sample_rows(np, H_before, H_opt_before, H, H_opt)
    _store(est, run, model, state, sample, H, H_opt, rng)
    if final_latents == "transform":
        run.solve_latents(est)
        H_new, _ = run.gathered_latents(n_samples)
        H = H_new if H_before is None else np.concatenate([H_before, H_new])
        _store(est, run, model, state, sample, H, H_opt, rng)
    est.reconstruction_err_ = float(run.error())
    latents = run.parts.latents_array(run.records, run.shared, run.eta, est.latents_.shape[1], est.latents_.dtype)
    return DataParallelFit(est, latents)


def fit_data_parallel(estimator, X, client, *, sync_every="epoch", combine: str = "sum", split_batch: bool = True,
                      final_latents: str = "trained") -> DataParallelFit:  # fmt: skip
    """Fit ``estimator`` to the Dask array ``X`` on the workers that hold its chunks.

    Parameters
    ----------
    estimator : WNMF, DeepWNMF or DeconvWNMF
        Its parameters configure every partition's training; it is fitted in place.
    X : dask array of shape (n_samples, n_features)
        Row-chunked; the chunks are persisted on the cluster and never leave it.
    client : distributed.Client
    sync_every : "epoch" or int >= 1, default "epoch"
        How often W is combined: after every partition's epoch, or after every
        ``sync_every`` mini-batch steps of each partition.
    combine : {"sum", "mean"}, default "sum"
        How the partitions' W are combined: the start plus every partition's change, or
        their row-weighted mean (see the module docstring).
    split_batch : bool, default True
        Give each partition its share of ``batch_size`` by rows (e.g. 32 each of 64 on two
        workers) instead of the whole: with ``sync_every=1`` and ``combine="mean"`` a round
        is then one step on one batch of the estimator's size, as in one process. The
        default since it lowered the error of the per-epoch sync in every seed measured
        (ORL, 2 workers, 5 seeds: +3.9 % to +1.8 % over one process) at no cost in speed
        (docs/large_data.md); False: every partition uses the whole ``batch_size``.
    final_latents : {"trained", "transform"}, default "trained"
        The latents kept: as trained, or solved against the final W as ``transform``
        solves them (``max_epochs`` latent-only epochs; latents and W then match).

    Returns
    -------
    DataParallelFit
        ``(estimator, latents)``, the latents a Dask array aligned with X's row chunks.
    """
    from ..core.validation import check_random_state_seed
    from .driver import _early_stop
    from .state import TrainState

    _check_inputs(estimator, X, client, sync_every, combine, final_latents, split_batch)
    est = estimator
    est._validate_common()
    parts = _Partitions(client, X)
    est._validate_extra(parts.shape[1])
    rng = check_random_state_seed(est.random_state)
    run, model, n_observed = _start_run(est, parts, rng, streaming=False, split_batch=split_batch)
    state = TrainState(opt=dict(run.shared_opt))
    early = est._train_config(int(est.max_epochs), parts.shape[0], lambda e: 0.0, "fit", model=model,
                              n_features=parts.shape[1], n_entries=n_observed)  # fmt: skip
    start = time.perf_counter()
    for _ in range(int(est.max_epochs)):
        loss, steps = run.epoch(state.epoch + 1, sync_every, combine)
        state.epoch, state.step = state.epoch + 1, state.step + steps
        state.loss_curve.append(float(loss))
        stop = _early_stop(state, float(loss), early)
        info = {"loss": float(loss), "eta": run.eta, "elapsed": time.perf_counter() - start, "epoch": state.epoch}
        if est.callback is not None and est.callback(state.epoch, info):
            break
        if stop:
            state.stopped_early = True
            break
    return _finish(est, run, model, state, rng, final_latents)


def partial_fit_data_parallel(estimator, X, client, *, sync_every="epoch", combine: str = "sum",
                              split_batch: bool = True) -> DataParallelFit:  # fmt: skip
    """``estimator.partial_fit(X)`` on the workers that hold the chunks of the Dask array ``X``.

    As :meth:`~wnmf_np.estimators.streaming.StreamingMixin.partial_fit`: the new samples
    get new latent rows (drawn as ``partial_fit`` draws them), one epoch of mini-batch
    AdamW at the final η and a constant learning rate updates W and them, W's AdamW state
    carries over (each partition continues W's step count), ``latents_`` grows by
    ``len(X)`` rows and ``reconstruction_err_`` is the error on X. With one partition it
    equals ``partial_fit(X.compute())`` bit for bit.

    Parameters
    ----------
    estimator : WNMF, DeepWNMF or DeconvWNMF
        Fitted (by ``fit``, ``fit_data_parallel`` or ``partial_fit``) or not (then this
        call starts it, as a first ``partial_fit``); updated in place.
    X : dask array of shape (n_new, n_features)
    client : distributed.Client
    sync_every, combine, split_batch :
        As in :func:`fit_data_parallel`.

    Returns
    -------
    DataParallelFit
        ``(estimator, latents)``, the latents of X's samples as a Dask array with X's row chunks.
    """
    from ..core.validation import check_random_state_seed
    from .state import TrainState

    _check_inputs(estimator, X, client, sync_every, combine, "trained", split_batch)
    est = estimator
    est._validate_common()
    first = not hasattr(est, "train_state_")
    if not first:
        if X.ndim == 2 and X.shape[1] != est.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting {est.n_features_in_} features as input.")
        X = X.astype(est.params_[est.model_.sample_param].dtype)  # the fitted precision, as partial_fit works in
    parts = _Partitions(client, X)
    est._validate_extra(parts.shape[1])
    rng = check_random_state_seed(est.random_state) if first or est._rng is None else est._rng
    if first:
        run, model, _ = _start_run(est, parts, rng, streaming=True, split_batch=split_batch)
        state, H_before, H_opt_before = TrainState(opt=dict(run.shared_opt)), None, None
    else:
        model = est._make_model(parts.shape[1])
        est._check_model_unchanged(model, None, "partial_fit")
        sample, previous = model.sample_param, est.train_state_
        shared = {k: np.asarray(v) for k, v in est.params_.items() if k != sample}
        run, model, _ = _start_run(est, parts, rng, streaming=True, split_batch=split_batch, shared=shared,
                                   shared_opt={k: previous.opt[k] for k in shared}, step=previous.step)  # fmt: skip
        state = TrainState(opt=dict(previous.opt), epoch=previous.epoch, step=previous.step, loss_curve=list(previous.loss_curve))
        H_before, H_opt_before = np.asarray(est.params_[sample]), previous.opt[sample]
    loss, steps = run.epoch(1, sync_every, combine)  # every partition's state starts at epoch 0
    state.epoch, state.step = state.epoch + 1, state.step + steps
    state.loss_curve.append(float(loss))
    return _finish(est, run, model, state, rng, "trained", H_before, H_opt_before)


def transform_data_parallel(estimator, X, client=None):
    """``estimator.transform`` of every row chunk of the Dask array ``X``, where it lives.

    The estimator is scattered to the workers once (never embedded in the task graph);
    each row is transformed independently, so chunk-wise equals whole (see ``transform``).

    Parameters
    ----------
    estimator : fitted WNMF, DeepWNMF or DeconvWNMF
    X : dask array of shape (n_samples, n_features)
    client : distributed.Client, optional
        Default: the current client (``distributed.default_client()``).

    Returns
    -------
    dask array of shape (n_samples, n_latent)
        Lazy, with X's row chunks.
    """
    import dask.array as da
    from distributed import default_client

    if not isinstance(X, da.Array):
        raise TypeError(f"transform_data_parallel needs X as a dask.array.Array, not {type(X).__name__}.")
    client = default_client() if client is None else client
    X = X.rechunk({1: -1})
    fitted = client.scatter(estimator, broadcast=True, hash=False)
    return X.map_blocks(_transform_block, fitted, chunks=(X.chunks[0], (estimator._n_features_out,)),
                        dtype=estimator.latents_.dtype)  # fmt: skip
