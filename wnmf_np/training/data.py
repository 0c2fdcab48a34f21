"""Where the training driver gets its mini-batches: in memory or out of core.

The driver asks a *data source* for a batch order once per epoch and for the rows of each
batch. Two sources implement that protocol:

- :class:`InMemoryData`: a validated array on the backend (the usual case).
- :class:`OutOfCoreData`: a NumPy memmap, an HDF5 (h5py) or zarr dataset, or a Dask array
  of shape (n_samples, n_features) that is never loaded whole. Validation (finite values,
  NaN policy, sign, mean) streams over storage chunks; each batch is read, converted to the
  working dtype and moved to the backend on demand, and the next batch is read in a
  background thread while the current one is computed. Memory stays bounded by a few
  batches plus the parameters and optimizer state.

Batch order out of core follows the storage: the chunks (blocks of consecutive rows) are
visited in a random order and the rows inside each chunk are shuffled, so a batch touches
at most two chunks and every row is still visited once per epoch.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.backend import Backend

CHUNK_BYTES = 8 * 2**20
"""Rows per chunk for storage without a chunk layout (memmaps): about this many bytes."""

PASS_BYTES = 2 * 2**20
"""Block size of full-data passes (validation, reconstruction error): about this many bytes."""


def _pass_rows(n_features: int) -> int:
    return max(1, PASS_BYTES // (8 * max(1, n_features)))


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

    def permutation(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(self.shape[0])

    def take(self, rows):
        """Rows ``rows`` of X and of the observation mask (None when all observed)."""
        return self.X[rows], None if self.observed is None else self.observed[rows]

    def row_blocks(self, size: int | None = None):
        """(slice, X block, observed block) over all rows, for full-data passes (blocks of
        about PASS_BYTES, so a pass adds little to the memory of a fit)."""
        size = size or _pass_rows(self.shape[1])
        for start in range(0, self.shape[0], size):
            rows = slice(start, start + size)
            yield rows, self.X[rows], None if self.observed is None else self.observed[rows]

    def max_abs(self, xp) -> float:
        return float(xp.max(xp.abs(self.X)))


def is_out_of_core(X) -> bool:
    """True for inputs read lazily: np.memmap, h5py/zarr datasets, Dask arrays."""
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, np.ndarray):
        return False
    module = type(X).__module__.split(".")[0]
    return module in ("h5py", "zarr", "dask")


def _chunk_rows(X, n_features: int, itemsize: int) -> int:
    chunks = getattr(X, "chunks", None)
    if isinstance(chunks, tuple) and chunks and chunks[0]:
        first = chunks[0]
        return int(first[0] if isinstance(first, tuple) else first)  # dask: tuple of block sizes
    return max(1, CHUNK_BYTES // max(1, n_features * itemsize))


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
        if len(X.shape) != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}.")
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"{name} is empty: shape {tuple(X.shape)}.")
        if np.dtype(X.dtype).kind not in "fiub":
            raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}.")
        self.source = X
        self.backend = backend
        self.dtype = dtype
        self.shape = tuple(int(s) for s in X.shape)
        self.chunk = _chunk_rows(X, self.shape[1], np.dtype(X.dtype).itemsize)
        self.nan_policy = nan_policy
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wnmf_np-prefetch")
        self._pending = None
        self._scan(non_negative, name)

    # -------------------------------------------------------------- validation
    def _read_host(self, start: int, stop: int) -> np.ndarray:
        block = self.source[start:stop]
        if hasattr(block, "compute"):  # dask
            block = block.compute()
        return np.asarray(block, dtype=np.float64 if np.dtype(self.dtype) == np.float64 else None)

    def _scan(self, non_negative: bool, name: str) -> None:
        """One streaming pass: finite values, NaN policy, sign, observed count, mean, max."""
        total, count, has_nan, max_abs = 0.0, 0, False, 0.0
        step = _pass_rows(self.shape[1])
        for start in range(0, self.shape[0], step):
            block = self._read_host(start, min(start + step, self.shape[0])).astype(np.float64, copy=False)
            if np.isinf(block).any():
                raise ValueError(f"{name} contains infinite values; remove or clip them before fitting.")
            nan = np.isnan(block)
            if nan.any():
                if self.nan_policy == "raise":
                    raise ValueError(
                        f"{name} contains NaN. If NaN marks missing entries, pass nan_policy='omit' "
                        "(missing entries are then left out of the loss); otherwise clean the data."
                    )
                has_nan = True
            valid = block[~nan] if nan.any() else block.ravel()
            if non_negative and valid.size and valid.min() < 0:
                raise ValueError(f"Negative values in data passed to {name} (min {valid.min():g}); this needs non-negative data.")
            total += float(valid.sum())
            count += valid.size
            if valid.size:
                max_abs = max(max_abs, float(np.abs(valid).max()))
        if count == 0:
            raise ValueError(f"{name} has no observed entry (everything is NaN).")
        if max_abs > np.finfo(self.dtype).max:
            raise ValueError(
                f"{name} has values beyond the range of {np.dtype(self.dtype).name}; rescale it or use dtype='float64'."
            )
        self.has_missing = has_nan
        self.mean = total / count
        self._max_abs = max_abs

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
        rows = np.asarray(rows)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        block = self.source[sorted_rows]  # h5py and zarr need increasing indices
        if hasattr(block, "compute"):
            block = block.compute()
        host = np.empty((rows.size, self.shape[1]), dtype=self.dtype)
        host[order] = block
        observed = None
        if self.has_missing:
            nan = np.isnan(host)
            observed = ~nan
            host[nan] = 0
        return self.backend.asarray(host), None if observed is None else self.backend.asarray(observed)

    def take(self, rows, next_rows=None):
        """Rows ``rows`` (from the prefetch if it was asked for), and start reading ``next_rows``."""
        host_rows = self.backend.to_numpy(rows)
        if self._pending is not None and np.array_equal(self._pending[0], host_rows):
            result = self._pending[1].result()
        else:
            result = self._load(host_rows)
        self._pending = None
        if next_rows is not None:
            nxt = self.backend.to_numpy(next_rows)
            self._pending = (nxt, self._pool.submit(self._load, nxt))
        return result

    def row_blocks(self, size: int | None = None):
        size = size or _pass_rows(self.shape[1])
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


def observed_count(X, observed) -> int:
    """Number of observed entries of X (all of them without a mask)."""
    if observed is None:
        return int(X.shape[0]) * int(X.shape[1])
    return int(observed.sum())


def data_mean(X, observed) -> float:
    """Mean of the observed entries (streamed for out-of-core data)."""
    if isinstance(X, OutOfCoreData):
        return X.mean
    return float(X.mean()) if observed is None else float(X.sum() / observed.sum())
