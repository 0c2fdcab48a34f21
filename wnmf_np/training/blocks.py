"""Reading a matrix that stays on storage: the one out-of-core reading mechanism.

A NumPy memmap, an HDF5 (h5py) or zarr dataset, or a Dask array of shape
(n_samples, n_features) is never loaded whole; a :class:`BlockReader` reads it in row
blocks. Both out-of-core consumers read through it:

- :class:`wnmf_np.training.data.OutOfCoreData` (the WNMF driver's mini-batches and its
  validation pass, :func:`scan`);
- :class:`wnmf_np.mu.chunked.ChunkedMatrix` (the chunk-wise products of the
  multiplicative updates).

Streaming reads whole *chunk groups*: runs of consecutive storage chunks (a Dask array's
own chunks; for a memmap blocks of about CHUNK_BYTES) holding at most half the *chunk
budget* each, so that the group trained on and the group prefetched fit in the budget
together (:func:`chunk_groups`). A Dask group is one computation. The budget is chosen
with :func:`stream` (default: :data:`CHUNK_BUDGET`, raised to two chunks where a chunk is
larger).

On a ``dask.distributed`` cluster (:class:`ClusterGroups`) a persisted array's groups are
gathered from its chunks' futures (no computation); for a lazy array the group after
the one read ahead is computed on the workers ahead of time, so two groups are in flight
there. Both stay on the workers until transferred: the driver still holds at most two
groups, and the budget rule is the same.
"""

from __future__ import annotations

import threading
import warnings
from typing import NamedTuple

import numpy as np

CHUNK_BYTES = 8 * 2**20
"""Rows per chunk for storage without a chunk layout (memmaps): about this many bytes."""

PASS_BYTES = 2 * 2**20
"""Block size of full-data passes (validation, reconstruction error): about this many bytes."""

CHUNK_BUDGET = CHUNK_BYTES
"""Default chunk budget: host bytes of the data blocks a streamed fit holds at once (the
group it trains on and the group it prefetches), at least two storage chunks."""


class Streamed:
    """Out-of-core data with a chunk budget (made by :func:`stream`).

    Attributes
    ----------
    source : np.memmap, h5py.Dataset, zarr.Array or dask array of shape (n, m)
    chunk_budget : int or None
        Host bytes of data blocks held at once (None: :data:`CHUNK_BUDGET`).
    """

    def __init__(self, source, chunk_budget=None):
        if isinstance(source, Streamed):
            source = source.source
        self.source = source
        self.chunk_budget = check_chunk_budget(chunk_budget)
        self.shape = tuple(source.shape)
        self.dtype = source.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]


def stream(X, chunk_budget=None) -> Streamed:
    """Mark out-of-core ``X`` to be streamed with ``chunk_budget`` bytes of host blocks.

    Parameters
    ----------
    X : np.memmap, h5py.Dataset, zarr.Array or dask array of shape (n_samples, n_features)
    chunk_budget : int, optional
        Bytes (in the working dtype) of the data a fit holds at once on the driver: the
        chunk group it trains on plus the one read ahead, so a group is at most
        ``chunk_budget // 2``. Must hold two storage chunks. Default :data:`CHUNK_BUDGET`
        (or two chunks). On a cluster a third group may be computed ahead on the workers
        (lazy arrays only); it is not in the driver's memory and not in the budget.

    Returns
    -------
    Streamed
        Pass it to ``fit`` / ``transform`` / ``partial_fit`` in place of X.
    """
    if not is_out_of_core(X):
        raise TypeError(f"stream() takes out-of-core data (memmap, h5py, zarr, Dask), got {type(X).__name__}; in-memory X needs no stream().")
    return Streamed(X, chunk_budget)


def check_chunk_budget(chunk_budget):
    """``chunk_budget`` as a positive int (or None); a one-line ValueError otherwise."""
    if chunk_budget is None:
        return None
    if isinstance(chunk_budget, bool) or not isinstance(chunk_budget, (int, np.integer)):
        raise ValueError(f"chunk_budget must be a whole number of bytes, got {chunk_budget!r}.")
    if chunk_budget < 1:
        raise ValueError(f"chunk_budget must be positive (bytes), got {chunk_budget}.")
    return int(chunk_budget)


def chunk_groups(bounds: np.ndarray, row_bytes: int, chunk_budget: int | None) -> list[tuple[int, int]]:
    """Consecutive storage chunks grouped into runs of at most ``chunk_budget // 2`` bytes.

    Parameters
    ----------
    bounds : int array (n_chunks + 1,)
        Row boundaries of the storage chunks, from 0 to n.
    row_bytes : int
        Bytes of one row in the working dtype.
    chunk_budget : int or None
        See :func:`stream`; None: :data:`CHUNK_BUDGET`, raised to two of the largest chunks.

    Returns
    -------
    list of (start, stop)
        Row ranges covering 0..n in order, each a whole number of chunks.
    """
    sizes = np.diff(bounds)
    largest = int(sizes.max()) * row_bytes
    if chunk_budget is None:
        chunk_budget = max(CHUNK_BUDGET, 2 * largest)
    elif chunk_budget < 2 * largest:
        raise ValueError(
            f"chunk_budget={chunk_budget} bytes cannot hold two chunks of {largest} bytes "
            f"(the one trained on and the one read ahead); raise it to at least {2 * largest} or use smaller chunks."
        )
    half = chunk_budget // 2
    groups, start = [], 0
    for k in range(1, len(bounds)):
        if (int(bounds[k]) - start) * row_bytes > half:
            groups.append((start, int(bounds[k - 1])))
            start = int(bounds[k - 1])
    groups.append((start, int(bounds[-1])))
    return groups


def pass_rows(n_features: int) -> int:
    """Rows of one block of a full-data pass (about PASS_BYTES of float64)."""
    return max(1, PASS_BYTES // (8 * max(1, n_features)))


def is_out_of_core(X) -> bool:
    """True for inputs read lazily: np.memmap, h5py/zarr datasets, Dask arrays (and
    those wrapped by :func:`stream`)."""
    if isinstance(X, (np.memmap, Streamed)):
        return True
    if isinstance(X, np.ndarray):
        return False
    module = type(X).__module__.split(".")[0]
    return module in ("h5py", "zarr", "dask")


def client_of(source):
    """The ``distributed.Client`` that would compute the Dask array ``source`` now, or None
    (a local scheduler, or ``distributed`` not installed)."""
    try:
        import dask
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is optional
        return None
    scheduler = dask.base.get_scheduler(collections=[source])
    owner = getattr(scheduler, "__self__", None)
    return owner if isinstance(owner, Client) else None


class ClusterGroups:
    """Row ranges ("groups") of a Dask array on a ``dask.distributed`` cluster, computed
    on the workers ahead of their transfer to the driver.

    A group's result stays on the workers from :meth:`submit` until :meth:`fetch`
    transfers it (so a group can be in flight on the cluster without using the driver's
    memory). When the array is persisted with one column chunk and a group is a run of
    its row chunks, the chunks' own futures are gathered: no computation and no
    scheduling at all (the usual case: ``client.persist(X)``). Otherwise the group's
    slice is computed with ``client.compute``. Results are gathered directly from the
    workers (``direct=True``) unless the client was made with ``direct_to_workers=False``
    (a driver that reaches only the scheduler).

    Parameters
    ----------
    client : distributed.Client
    source : dask array of shape (n, m)
    groups : list of (start, stop)
        Row ranges, each a run of whole row chunks of ``source``.
    """

    def __init__(self, client, source, groups):
        self.client = client
        self.source = source
        self.groups = groups
        self._chunks = _persisted_row_chunks(client, source)
        bounds = np.concatenate([[0], np.cumsum(source.chunks[0])])
        self._chunk_range = [(int(np.searchsorted(bounds, a)), int(np.searchsorted(bounds, b))) for a, b in groups]
        self._submitted = {}  # group -> list of futures (its chunks, or its one computed slice)
        self._lock = threading.Lock()  # the read-ahead thread and the driver both submit

    @property
    def persisted(self) -> bool:
        """True when groups are gathered from the persisted chunks (no computation)."""
        return self._chunks is not None

    def submit(self, g: int) -> None:
        """Start computing group ``g`` on the workers (nothing to do when persisted)."""
        with self._lock:
            if g in self._submitted:
                return
            if self._chunks is not None:
                first, last = self._chunk_range[g]
                self._submitted[g] = self._chunks[first:last]
            else:
                start, stop = self.groups[g]
                self._submitted[g] = [self.client.compute(self.source[start:stop])]

    def fetch(self, g: int) -> np.ndarray:
        """Group ``g`` on the host (rows ``groups[g]``, the stored dtype): its parts are
        transferred and, when there are several chunks, concatenated."""
        self.submit(g)
        with self._lock:
            futures = self._submitted.pop(g)  # a computed slice is released after its transfer
        # straight from the workers (not relayed by the scheduler), unless the client says otherwise
        direct = True if self.client.direct_to_workers is None else self.client.direct_to_workers
        parts = self.client.gather(futures, direct=direct)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _persisted_row_chunks(client, source):
    """The futures (held by ``client``) of the row chunks of a persisted Dask array with
    one column chunk, in row order; None for any other array."""
    from distributed import futures_of

    if len(source.numblocks) != 2 or source.numblocks[1] != 1:
        return None
    futures = {f.key: f for f in futures_of(source) if f.client is client}
    keys = [row[0] for row in source.__dask_keys__()]
    if not all(k in futures for k in keys):
        return None
    return [futures[k] for k in keys]


def _computed(block):
    """A Dask block computed; any other block as it is."""
    return block.compute() if hasattr(block, "compute") else block


class BlockReader:
    """Row blocks of a lazily read (n, m) matrix, converted to a requested dtype on the host.

    Parameters
    ----------
    source : np.memmap, h5py.Dataset, zarr.Array or dask array of shape (n, m)
        Row-indexable by slices and by increasing integer arrays.
    name : str
        How error messages call the matrix.
    """

    def __init__(self, source, name: str = "X"):
        self.chunk_budget = None
        if isinstance(source, Streamed):
            source, self.chunk_budget = source.source, source.chunk_budget
        if len(source.shape) != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(source.shape)}.")
        if source.shape[0] < 1 or source.shape[1] < 1:
            raise ValueError(f"{name} is empty: shape {tuple(source.shape)}.")
        if np.dtype(source.dtype).kind not in "fiub":
            raise ValueError(f"{name} must hold real numbers, got dtype {source.dtype}.")
        self.source = source
        self.shape = tuple(int(s) for s in source.shape)
        self.is_dask = hasattr(source, "compute") and hasattr(source, "dask")

    def storage_rows(self) -> int:
        """Rows per storage chunk (the source's own chunks; for a memmap about CHUNK_BYTES)."""
        chunks = getattr(self.source, "chunks", None)
        if isinstance(chunks, tuple) and chunks and chunks[0]:
            first = chunks[0]
            return int(first[0] if isinstance(first, tuple) else first)  # dask: tuple of block sizes
        return self.rows_per(CHUNK_BYTES, np.dtype(self.source.dtype).itemsize)

    def chunk_bounds(self, itemsize: int) -> np.ndarray:
        """Row boundaries (n_chunks + 1,) of the storage chunks, from 0 to n: a Dask
        array's own (possibly uneven) row chunks, an h5py/zarr dataset's chunk rows; a
        memmap (any row range reads as cheaply) in blocks of a quarter of the chunk
        budget, at most CHUNK_BYTES / 2, of entries of ``itemsize`` (the working dtype)."""
        chunks = getattr(self.source, "chunks", None)
        n = self.shape[0]
        if self.is_dask and isinstance(chunks, tuple) and isinstance(chunks[0], tuple):
            return np.concatenate([[0], np.cumsum(chunks[0])]).astype(np.int64)
        if isinstance(chunks, tuple) and chunks and chunks[0]:
            rows = int(chunks[0])
        else:
            rows = self.rows_per(min(CHUNK_BYTES // 2, (self.chunk_budget or CHUNK_BUDGET) // 4), itemsize)
        return np.append(np.arange(0, n, rows, dtype=np.int64), n)

    def rows_per(self, n_bytes: int, itemsize: int) -> int:
        """Rows of a block of about ``n_bytes`` with entries of ``itemsize`` bytes."""
        return max(1, n_bytes // max(1, self.shape[1] * itemsize))

    def read(self, start: int, stop: int, dtype=None) -> np.ndarray:
        """Rows ``start:stop`` as a host array of ``dtype`` (None: the stored dtype)."""
        return np.asarray(_computed(self.source[start:stop]), dtype=dtype)

    def gather(self, rows: np.ndarray, dtype) -> np.ndarray:
        """Rows ``rows`` (any order) as a new host array of ``dtype``, shape (len(rows), m).

        They are read in increasing order (h5py and zarr need increasing indices) and put
        back in the order asked for.
        """
        rows = np.asarray(rows)
        order = np.argsort(rows, kind="stable")
        block = _computed(self.source[rows[order]])
        out = np.empty((rows.size, self.shape[1]), dtype=dtype)
        out[order] = block
        return out

    def blocks(self, size: int, dtype=None):
        """``(start, stop, block)`` over all rows in blocks of ``size`` rows (see :meth:`read`)."""
        for start in range(0, self.shape[0], size):
            stop = min(start + size, self.shape[0])
            yield start, stop, self.read(start, stop, dtype)


class Scan(NamedTuple):
    """What one validation pass over stored data learnt."""

    has_missing: bool  # a NaN was seen (allowed by nan_policy="omit")
    mean: float  # of the observed (non-NaN) entries
    max_abs: float  # largest |entry| of the observed entries
    n_observed: int  # entries that are not NaN


def scan(reader: BlockReader, dtype, *, nan_policy: str = "raise", non_negative: bool = False, name: str = "X") -> Scan:
    """One streaming pass in float64: finite values, NaN policy, sign, mean, range of ``dtype``.

    A Dask array is checked by one Dask reduction (:func:`_scan_dask`), other storage in
    blocks of about PASS_BYTES. Raises ``ValueError`` (one line naming the problem) where
    the data cannot be fitted.
    """
    if reader.is_dask:
        return _scan_dask(reader.source, dtype, nan_policy=nan_policy, non_negative=non_negative, name=name)
    total, count, has_nan, max_abs = 0.0, 0, False, 0.0
    for _, _, block in reader.blocks(pass_rows(reader.shape[1]), np.float64):
        if np.isinf(block).any():
            raise ValueError(f"{name} contains infinite values; remove or clip them before fitting.")
        nan = np.isnan(block)
        if nan.any():
            if nan_policy == "raise":
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
    return _checked_scan(has_nan, total, count, max_abs, dtype, name)


def _scan_dask(source, dtype, *, nan_policy: str, non_negative: bool, name: str) -> Scan:
    """:func:`scan` of a Dask array as one Dask reduction: the chunks are checked where
    they are (on the workers of a cluster); only a few numbers come back."""
    import dask

    X = source.astype(np.float64)
    finite_or_nan = ~np.isinf(X)
    nan = np.isnan(X)
    abs_x = np.abs(X)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmin / nanmax of all-NaN chunks
        has_inf, has_nan, total, count, low, max_abs = dask.compute(
            ~finite_or_nan.all(), nan.any(), np.nansum(X), (~nan).sum(), np.nanmin(X), np.nanmax(abs_x)
        )
    if has_inf:
        raise ValueError(f"{name} contains infinite values; remove or clip them before fitting.")
    if has_nan and nan_policy == "raise":
        raise ValueError(
            f"{name} contains NaN. If NaN marks missing entries, pass nan_policy='omit' "
            "(missing entries are then left out of the loss); otherwise clean the data."
        )
    count = int(count)
    if count and non_negative and float(low) < 0:
        raise ValueError(f"Negative values in data passed to {name} (min {float(low):g}); this needs non-negative data.")
    return _checked_scan(bool(has_nan), float(total), count, 0.0 if count == 0 else float(max_abs), dtype, name)


def _checked_scan(has_nan: bool, total: float, count: int, max_abs: float, dtype, name: str) -> Scan:
    if count == 0:
        raise ValueError(f"{name} has no observed entry (everything is NaN).")
    if max_abs > np.finfo(dtype).max:
        raise ValueError(f"{name} has values beyond the range of {np.dtype(dtype).name}; rescale it or use dtype='float64'.")
    return Scan(has_nan, total / count, max_abs, count)
