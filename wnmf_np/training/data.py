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

Batch order out of core follows the storage: the chunks (blocks of consecutive rows) are
visited in a random order and the rows inside each chunk are shuffled, so a batch touches
at most two chunks and every row is still visited once per epoch.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.backend import Backend
from ..core.validation import check_data
from ..models.layout import LossNormalisation
from .blocks import CHUNK_BYTES, PASS_BYTES, BlockReader, is_out_of_core, pass_rows, scan

__all__ = ["CHUNK_BYTES", "PASS_BYTES", "InMemoryData", "OutOfCoreData", "SumOfSquares", "data_source", "is_out_of_core"]


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
    """Batches read lazily from a memmap, an h5py/zarr dataset or a Dask array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), row-indexable
    backend : Backend
    dtype : numpy scalar type (working precision)
    nan_policy : {"raise", "omit"}
    non_negative : bool
        Reject negative entries (KL loss).
    """

    out_of_core = True

    def __init__(self, X, backend: Backend, dtype, *, nan_policy="raise", non_negative=False, name="X"):
        self.reader = BlockReader(X, name)
        self.source = X
        self.backend = backend
        self.dtype = dtype
        self.shape = self.reader.shape
        self.chunk = self.reader.storage_rows()
        self.nan_policy = nan_policy
        self._pool = None  # the prefetch thread, started with the first prefetch
        self._pending = None
        found = scan(self.reader, dtype, nan_policy=nan_policy, non_negative=non_negative, name=name)
        self.has_missing, self._mean, self._max_abs = found

    @property
    def n_observed(self) -> int:
        """n_samples · n_features: the count the λ weights of the objective forms use out
        of core (missing entries included, as before the data source existed)."""
        return int(self.shape[0]) * int(self.shape[1])

    def mean(self) -> float:
        """Mean of the observed entries (from the validation pass)."""
        return self._mean

    def layout_for(self, model, loss_name: str):
        """``(model, self, plain normalisation)``: out of core, every model trains on the
        data as stored (a re-laid copy would be a copy of the whole data)."""
        return model, self, LossNormalisation()

    # ---------------------------------------------------------------- batches
    def permutation(self, rng: np.random.Generator) -> np.ndarray:
        """Chunks in random order, rows shuffled within each chunk."""
        n_chunks = math.ceil(self.shape[0] / self.chunk)
        parts = []
        for c in rng.permutation(n_chunks):
            start = c * self.chunk
            parts.append(start + rng.permutation(min(self.chunk, self.shape[0] - start)))
        return np.concatenate(parts)

    def _load(self, rows: np.ndarray):
        host = self.reader.gather(rows, self.dtype)
        observed = None
        if self.has_missing:
            nan = np.isnan(host)
            observed = ~nan
            host[nan] = 0
        return self.backend.asarray(host), None if observed is None else self.backend.asarray(observed)

    def take(self, rows, next_rows=None, *, host_rows=None):
        """Rows ``host_rows`` (host indices; default ``rows``), from the prefetch if it was
        asked for, and start reading ``next_rows`` (host indices or None)."""
        host_rows = self.backend.to_numpy(rows if host_rows is None else host_rows)
        if self._pending is not None and np.array_equal(self._pending[0], host_rows):
            result = self._pending[1].result()
        else:
            result = self._load(host_rows)
        self._pending = None
        if next_rows is not None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wnmf_np-prefetch")
            nxt = self.backend.to_numpy(next_rows)
            self._pending = (nxt, self._pool.submit(self._load, nxt))
        return result

    def row_blocks(self, size: int | None = None):
        size = size or pass_rows(self.shape[1])
        for start in range(0, self.shape[0], size):
            stop = min(start + size, self.shape[0])
            X_b, obs_b = self._load(np.arange(start, stop))
            yield slice(start, stop), X_b, obs_b

    def max_abs(self, xp) -> float:
        return self._max_abs


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
