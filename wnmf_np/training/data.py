"""Where the training driver gets its mini-batches: in memory or out of core.

:func:`data_source` makes the one in-memory / out-of-core decision of a fit, a
``transform`` or a ``partial_fit``: it validates the data once, puts it on its backend
and returns a *data source*. Everything after it (initialisation, the driver, the
reconstruction error, checkpoints) asks that object, never the raw X. Two sources
implement the protocol (``shape``, ``dtype``, ``n_observed``, ``mean()``,
``permutation(rng)``, ``take(rows, next_rows, host_rows=)``, ``row_blocks()``,
``max_abs(xp)``, ``layout_for(model, loss_name)``):

- :class:`InMemoryData`: a validated array on the backend (the usual case).
- :class:`OutOfCoreData`: a NumPy memmap, an HDF5 (h5py) or zarr dataset, or a Dask array
  of shape (n_samples, n_features) that is never loaded whole (read through
  :class:`wnmf_np.training.blocks.BlockReader`). Validation (finite values, NaN policy,
  sign, mean) streams over blocks; each batch is read, converted to the working dtype and
  moved to the backend on demand, and the next batch is read in a background thread
  while the current one is computed. Memory stays bounded by a few batches plus the
  parameters and optimizer state.

Batch order out of core follows the storage. The rows are cut into *chunk groups*: runs
of whole storage chunks of at most half the chunk budget each
(:func:`wnmf_np.training.blocks.chunk_groups`; the budget is set with
:func:`wnmf_np.training.blocks.stream`). Each epoch draws, from the fit's seeded
generator, the group order (``rng.permutation(n_groups)``) and then, group after group in
that order, the order of the rows inside the group (``rng.permutation(group size)``); the
batches are consecutive slices of that sequence, so a batch touches at most two groups and
every row is visited once per epoch. A group is read whole (a Dask group: one
computation), its batches are cut from the copy on the host, and the next group of the
epoch is read in the background thread while this one is trained on; during the epoch's
last group, the next epoch's first group (predicted from a copy of the generator, see
:func:`_next_first_group`; a wrong guess costs a read, never a wrong batch). With a
single group (data within half the budget) the order is ``rng.permutation(n_samples)``,
the in-memory order, and the group stays loaded across epochs. The full-data passes
(:meth:`OutOfCoreData.row_blocks`) read the next group ahead too.

On a ``dask.distributed`` cluster (:class:`wnmf_np.training.blocks.ClusterGroups`) a
persisted array's groups are gathered from its chunks' futures, straight from the
workers; a lazy array's group is computed there (``client.compute``), the group *after*
the one read ahead submitted when that read-ahead starts, so two groups are in flight on
the cluster. The driver holds at most two groups (the one trained on and the one
arriving) either way: the memory bound is unchanged. A group that comes from the cluster
is not copied again on the host (it is a fresh array, or a persisted chunk of an
in-process worker, which is only read).
"""

from __future__ import annotations

import bisect
import contextvars
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.backend import Backend
from ..core.validation import check_data
from ..models.layout import LossNormalisation
from .blocks import (
    CHUNK_BUDGET,
    CHUNK_BYTES,
    PASS_BYTES,
    BlockReader,
    ClusterGroups,
    chunk_groups,
    client_of,
    is_out_of_core,
    pass_rows,
    scan,
)

__all__ = ["CHUNK_BUDGET", "CHUNK_BYTES", "PASS_BYTES", "InMemoryData", "OutOfCoreData", "SumOfSquares", "data_source",
           "is_out_of_core"]  # fmt: skip


def data_source(X, backend: Backend, dtype, *, mask=None, nan_policy: str = "raise", non_negative: bool = False):
    """Validate X once and return it as a data source on ``backend``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        In memory (NumPy, CuPy, lists, masked arrays) or out of core (memmap, h5py, zarr,
        Dask; see :func:`wnmf_np.training.blocks.is_out_of_core`).
    backend : Backend
    dtype : numpy scalar type (working precision)
    mask : bool array-like like X, optional (in-memory X only)
    nan_policy : {"raise", "omit"}
    non_negative : bool
        Reject negative entries (KL loss).

    Returns
    -------
    InMemoryData or OutOfCoreData
    """
    if is_out_of_core(X):
        if mask is not None:
            raise ValueError("mask is not supported with out-of-core X; mark missing entries as NaN and use nan_policy='omit'.")
        return OutOfCoreData(X, backend, dtype, nan_policy=nan_policy, non_negative=non_negative)
    X, observed = check_data(X, backend, dtype, nan_policy=nan_policy, mask=mask, non_negative=non_negative)
    return InMemoryData(X, observed)


class InMemoryData:
    """Batches from arrays already on the backend.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    observed : bool array like X, or None
    """

    out_of_core = False

    def __init__(self, X, observed=None):
        self.X = X
        self.observed = observed
        self.shape = X.shape
        self.dtype = X.dtype.type

    @property
    def n_observed(self) -> int:
        """Number of observed entries (all of them without a mask)."""
        if self.observed is None:
            return int(self.shape[0]) * int(self.shape[1])
        return int(self.observed.sum())

    def mean(self) -> float:
        """Mean of the observed entries."""
        X, observed = self.X, self.observed
        return float(X.mean()) if observed is None else float(X.sum() / observed.sum())

    def layout_for(self, model, loss_name: str):
        """``(step, data, normalisation)``: the model's training step, this data in the
        layout the step trains in, and the loss normalisation of that layout (the model's
        ``training_layout``, see :mod:`wnmf_np.models.layout`)."""
        layout = model.training_layout(self.X, self.observed, loss_name)
        if layout is None:
            return model, self, LossNormalisation()
        return layout.step, InMemoryData(layout.X, layout.observed), layout.normalisation

    def permutation(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(self.shape[0])

    def take(self, rows, next_rows=None, *, host_rows=None):
        """Rows ``rows`` (on the backend) of X and of the observation mask (None when all
        observed); ``next_rows`` / ``host_rows`` serve out-of-core reading only."""
        return self.X[rows], None if self.observed is None else self.observed[rows]

    def row_blocks(self, size: int | None = None):
        """(slice, X block, observed block) over all rows, for full-data passes (blocks of
        about PASS_BYTES, so a pass adds little to the memory of a fit)."""
        size = size or pass_rows(self.shape[1])
        for start in range(0, self.shape[0], size):
            rows = slice(start, start + size)
            yield rows, self.X[rows], None if self.observed is None else self.observed[rows]

    def max_abs(self, xp) -> float:
        return float(xp.max(xp.abs(self.X)))


class OutOfCoreData:
    """Batches cut from chunk groups read lazily from a memmap, an h5py/zarr dataset or a
    Dask array (the order and the read-ahead: see the module docstring).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), row-indexable, or a
        :class:`wnmf_np.training.blocks.Streamed` wrapping one (with its chunk budget)
    backend : Backend
    dtype : numpy scalar type (working precision)
    nan_policy : {"raise", "omit"}
    non_negative : bool
        Reject negative entries (KL loss).

    Attributes
    ----------
    groups : list of (start, stop)
        The chunk groups (row ranges), in storage order.
    """

    out_of_core = True

    def __init__(self, X, backend: Backend, dtype, *, nan_policy="raise", non_negative=False, name="X"):
        self.reader = BlockReader(X, name)
        self.source = self.reader.source
        self.backend = backend
        self.dtype = dtype
        self.shape = self.reader.shape
        itemsize = np.dtype(dtype).itemsize
        bounds = self.reader.chunk_bounds(itemsize)
        self.groups = chunk_groups(bounds, self.shape[1] * itemsize, self.reader.chunk_budget)
        self._starts = np.array([g[0] for g in self.groups])
        self._start_list = self._starts.tolist()  # (bisect: faster than NumPy for one row)
        self.nan_policy = nan_policy
        self._pool = None  # the read-ahead thread, started with the first read-ahead
        self._loaded = {}  # group index -> (X block, observed block or None) on the host
        self._pending = None  # (group index, future) of the read-ahead
        # a Dask array on a distributed cluster: groups are computed there ahead of their transfer
        client = client_of(self.source) if self.reader.is_dask else None
        self._cluster = None if client is None else ClusterGroups(client, self.source, self.groups)
        self._next_group = {}  # group -> the group after it in the current epoch's order
        self._last_group = self._next_epoch_first = None  # this epoch's last group, the next one's first
        self.n_group_reads = 0  # groups read so far (a Dask group: one computation each)
        found = scan(self.reader, dtype, nan_policy=nan_policy, non_negative=non_negative, name=name)
        self.has_missing, self._mean, self._max_abs, self._n_observed = found

    @property
    def n_observed(self) -> int:
        """Number of observed (non-NaN) entries, from the validation pass: the count the λ
        weights of the objective forms use, as in memory."""
        return self._n_observed

    def mean(self) -> float:
        """Mean of the observed entries (from the validation pass)."""
        return self._mean

    def layout_for(self, model, loss_name: str):
        """``(model, self, plain normalisation)``: out of core, every model trains on the
        data as stored (a re-laid copy would be a copy of the whole data)."""
        return model, self, LossNormalisation()

    # ---------------------------------------------------------------- batches
    def permutation(self, rng: np.random.Generator) -> np.ndarray:
        """Chunk groups in random order, rows shuffled within each group (module docstring)."""
        group_order = rng.permutation(len(self.groups))
        parts = []
        for g in group_order:
            start, stop = self.groups[g]
            parts.append(start + rng.permutation(stop - start))
        self._next_group = {int(a): int(b) for a, b in zip(group_order[:-1], group_order[1:])}
        # the last group is followed by the next epoch's first, predicted from the generator
        self._last_group = int(group_order[-1])
        self._next_epoch_first = _next_first_group(rng, len(self.groups)) if len(self.groups) > 1 else None
        first = int(group_order[0])
        self._read_ahead(first, self._next_group.get(first))  # (already there when predicted right)
        return np.concatenate(parts)

    def _read_group(self, g: int, then: int | None = None):
        """Group ``g`` as host arrays in the working dtype (missing entries 0 + mask); on a
        cluster the computation of group ``then`` (the group after it) is submitted first."""
        if self._cluster is None:
            start, stop = self.groups[g]
            host = np.array(self.reader.read(start, stop, self.dtype), dtype=self.dtype, copy=True)
        else:
            if then is not None:
                self._cluster.submit(then)
            # a fresh array (or a persisted chunk of an in-process worker, only read): copied
            # only where it is written (missing entries set to 0) or converted
            fetched = self._cluster.fetch(g)
            host = np.array(fetched, dtype=self.dtype) if self.has_missing else np.asarray(fetched, dtype=self.dtype)
        self.n_group_reads += 1
        observed = None
        if self.has_missing:
            nan = np.isnan(host)
            observed = ~nan
            host[nan] = 0
        return host, observed

    def _group(self, g: int):
        """Group ``g`` on the host: kept, from the read-ahead, or read now."""
        if g not in self._loaded:
            if self._pending is not None:
                pending, future = self._pending
                self._pending = None
                self._loaded[pending] = future.result()  # one read at a time bounds the memory
            if g not in self._loaded:
                self._loaded[g] = self._read_group(g)
        return self._loaded[g]

    def _read_ahead(self, g: int, then: int | None = None) -> None:
        """Read group ``g`` in the background thread (on a cluster, submitting group
        ``then`` when the read starts). A read-ahead of another group still pending (a
        wrong guess of the next epoch's first group) is finished and dropped first, so
        the host holds at most two groups."""
        if g in self._loaded or (self._pending is not None and self._pending[0] == g):
            return
        if self._pending is not None:
            self._pending[1].result()
            self._pending = None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wnmf_np-prefetch")
        # in the caller's context: a Dask client made current with ``client.as_current()``
        # (a context variable) serves the read-ahead thread too
        self._pending = (g, self._pool.submit(contextvars.copy_context().run, self._read_group, g, then))

    def take(self, rows, next_rows=None, *, host_rows=None):
        """Rows ``host_rows`` (host indices; default ``rows``) of X and of the observation
        mask, cut from their chunk groups; when the batch lies in one group, the group
        after it (in this epoch's order, else the group of ``next_rows``) is read ahead."""
        host_rows = np.asarray(self.backend.to_numpy(rows if host_rows is None else host_rows))
        g = self._group_of(host_rows)
        if g is not None:  # the usual batch: one fancy index into its group
            self._keep_only((g,))
            block, observed = self._group(g)
            local = host_rows - self.groups[g][0]
            X_b, obs_b = block[local], None if observed is None else observed[local]
            self._read_after(g, next_rows)
        else:
            which = np.searchsorted(self._starts, host_rows, side="right") - 1
            needed = np.unique(which).tolist()
            self._keep_only(needed)
            X_b, obs_b = self._gather(host_rows, which, needed)
        return self.backend.asarray(X_b), None if obs_b is None else self.backend.asarray(obs_b)

    def _group_of(self, host_rows: np.ndarray) -> int | None:
        """The group holding all of ``host_rows``, or None when they span several (or none)."""
        if host_rows.size == 0:
            return None
        g = bisect.bisect_right(self._start_list, int(host_rows[0])) - 1
        start, stop = self.groups[g]
        return g if start <= host_rows.min() and host_rows.max() < stop else None

    def _keep_only(self, groups) -> None:
        """Drop the loaded groups not in ``groups`` (the memory budget: only what a batch needs)."""
        for g in [k for k in self._loaded if k not in groups]:
            del self._loaded[g]

    def _read_after(self, g: int, next_rows) -> None:
        """Read ahead the group after ``g``: the next in this epoch's order, after the
        epoch's last group the next epoch's (predicted) first, else the group of ``next_rows``."""
        nxt, then = self._next_group.get(g), None
        if nxt is not None:
            then = self._next_group.get(nxt)
        elif g == self._last_group:
            nxt = self._next_epoch_first
        elif next_rows is not None and len(next_rows):
            nxt = int(np.searchsorted(self._starts, np.asarray(next_rows)[-1], side="right") - 1)
        if nxt is not None and nxt != g:
            self._read_ahead(nxt, then)

    def _gather(self, host_rows: np.ndarray, which: np.ndarray, needed: list):
        """Rows ``host_rows`` of several groups (``which``: the group of each row;
        ``needed``: those groups, sorted) as new host arrays (X block, observed block or None)."""
        X_b = np.empty((host_rows.size, self.shape[1]), dtype=self.dtype)
        obs_b = np.empty(X_b.shape, dtype=bool) if self.has_missing else None
        for g in needed:
            block, observed = self._group(int(g))
            here = which == g
            local = host_rows[here] - self.groups[g][0]
            X_b[here] = block[local]
            if obs_b is not None:
                obs_b[here] = observed[local]
        return X_b, obs_b

    def row_blocks(self, size: int | None = None):
        """(slice, X block, observed block) over all rows in blocks of ``size`` rows (about
        PASS_BYTES by default), cut from the chunk groups read one at a time."""
        size = size or pass_rows(self.shape[1])
        n_groups = len(self.groups)
        for g, (g_start, g_stop) in enumerate(self.groups):
            block = observed = None  # drop the group before: this one and the next at a time
            for other in [k for k in self._loaded if k != g]:
                del self._loaded[other]
            block, observed = self._group(g)
            for other in [k for k in self._loaded if k != g]:  # a read-ahead of another group
                del self._loaded[other]
            if g + 1 < n_groups:
                self._read_ahead(g + 1, g + 2 if g + 2 < n_groups else None)
            for start in range(g_start, g_stop, size):
                stop = min(start + size, g_stop)
                local = slice(start - g_start, stop - g_start)
                obs_b = None if observed is None else self.backend.asarray(observed[local])
                yield slice(start, stop), self.backend.asarray(block[local].copy()), obs_b
            if len(self.groups) > 1:
                self._loaded.pop(g, None)

    def max_abs(self, xp) -> float:
        return self._max_abs


def _next_first_group(rng: np.random.Generator, n_groups: int) -> int:
    """The first group of the next epoch's order, if the next draw from ``rng`` is that
    order: read from a copy of the generator, ``rng`` itself does not move. A wrong
    guess (another draw in between) costs one wasted read-ahead, never a wrong batch:
    batches are cut by the order actually drawn."""
    twin = np.random.Generator(type(rng.bit_generator)())
    twin.bit_generator.state = rng.bit_generator.state
    return int(twin.permutation(n_groups)[0])


class SumOfSquares:
    """Σ r² over blocks of residuals, in float64, without overflow or underflow.

    A block whose plain sum of squares is a normal float64 is added as it is (the usual
    case: the result is the plain sum); one whose squares overflow (|r| ≳ 1e154) or
    underflow is summed as ``m² Σ (r/m)²`` with ``m = max |r|`` (LAPACK's ``nrm2``
    scaling). The total is kept as ``scale² · ssq``; :meth:`norm` returns its square
    root, finite whenever the norm itself is representable.
    """

    def __init__(self):
        self.scale, self.ssq = 1.0, 0.0

    def add(self, R, xp) -> None:
        """Add the squares of the float64 block ``R`` (any shape)."""
        R = R.ravel()
        total = float(xp.vdot(R, R))
        if math.isfinite(total) and total > 1e-280:
            self._combine(1.0, total)
            return
        m = float(xp.max(xp.abs(R)))
        if m > 0:
            Rm = R / m
            self._combine(m, float(xp.vdot(Rm, Rm)))

    def _combine(self, scale: float, ssq: float) -> None:
        if self.ssq == 0.0:
            self.scale, self.ssq = scale, ssq
        elif scale > self.scale:
            self.ssq = ssq + self.ssq * (self.scale / scale) ** 2
            self.scale = scale
        else:
            self.ssq += ssq * (scale / self.scale) ** 2

    def norm(self) -> float:
        return self.scale * math.sqrt(self.ssq)
