"""Out-of-core data for the multiplicative updates: products computed chunk by chunk.

With the Frobenius loss and no mask, one MU iteration touches X only through the products
X Wtᵀ (n × r) and Hᵀ X (r × m) (the package's names: Wt the basis, H the latents) and,
for the objective, through row blocks of X. A
:class:`ChunkedMatrix` provides exactly these on data that is never loaded whole:

- a Dask array with a ``dask.distributed`` client as its scheduler: X (in the working
  dtype, one column chunk) is persisted on the workers once, and each product is one
  task per row chunk on the worker holding it (:class:`wnmf_np.mu.dask_products.ClusterRows`):
  ``X Wtᵀ`` from ``Wtᵀ`` scattered once per product (broadcast), ``Hᵀ X`` from H's row
  blocks aligned with X's chunks, summed over chunks on the driver. Nothing of X or of
  the factors is embedded in a task graph;
- a Dask array with a local scheduler: the products are Dask matmuls, computed
  chunk-wise by Dask;
- a NumPy memmap, an h5py or zarr dataset: the products loop over row blocks.

Only the factors and one row block live in memory. The blocks are read through
:class:`wnmf_np.training.blocks.BlockReader`, the reader the WNMF driver's out-of-core
data source uses too.
"""

from __future__ import annotations

import math

import numpy as np

from ..training.blocks import CHUNK_BYTES, BlockReader


class ChunkedMatrix:
    """A read-only (n, m) matrix read in row blocks; supports ``X @ B``, ``A @ X``, ``X[rows]``.

    Parameters
    ----------
    source : dask array, np.memmap, h5py.Dataset or zarr.Array of shape (n, m)
    dtype : numpy scalar type
        Working precision of the blocks and products.
    max_value : float
        The largest entry (from the validation pass).
    exponent : int
        The matrix is ``source · 2^exponent`` (see :meth:`rescaled`).
    """

    __array_ufunc__ = None  # make ``ndarray @ ChunkedMatrix`` call __rmatmul__

    def __init__(self, source, dtype, max_value: float = 0.0, exponent: int = 0):
        self.reader = BlockReader(source)
        self.source = source
        self.dtype = np.dtype(dtype)
        self.shape = self.reader.shape
        self.is_dask = self.reader.is_dask
        self.block = self.reader.rows_per(CHUNK_BYTES, self.dtype.itemsize)  # rows of one block in the working dtype
        self.max_value = float(max_value)
        self.exponent = int(exponent)
        self._cluster = None  # ClusterRows, made at the first product on a distributed client

    def rescaled(self, k: int) -> ChunkedMatrix:
        """The same data times ``2^k`` (applied exactly to every block as it is read)."""
        return ChunkedMatrix(self.source, self.dtype, math.ldexp(self.max_value, k), self.exponent + k)

    def _dask(self):
        X = self.source.astype(self.dtype)
        return X if self.exponent == 0 else np.ldexp(X, np.int32(self.exponent))

    def _on_cluster(self):
        """The :class:`ClusterRows` of this matrix when its scheduler is a distributed client, else None."""
        if not self.is_dask:
            return None
        if self._cluster is None:
            from .dask_products import ClusterRows, client_of

            client = client_of(self.source)
            if client is None:
                return None
            self._cluster = ClusterRows(client, self._dask())
        return self._cluster

    def _scaled(self, block: np.ndarray) -> np.ndarray:
        return block if self.exponent == 0 else np.ldexp(block, np.int32(self.exponent))  # a new array: never the source

    def _rows(self, start: int, stop: int) -> np.ndarray:
        cluster = self._on_cluster()
        if cluster is not None:  # from the persisted (already rescaled) chunks
            return cluster.rows(start, stop)
        return self._scaled(self.reader.read(start, stop, self.dtype))

    def _blocks(self):
        """(start, stop, rows start:stop in the working dtype, rescaled) over all rows."""
        for start, stop, block in self.reader.blocks(self.block, self.dtype):
            yield start, stop, self._scaled(block)

    def __getitem__(self, rows):
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a ChunkedMatrix is read by contiguous row slices only.")
        start, stop, _ = rows.indices(self.shape[0])
        return self._rows(start, stop)

    def __matmul__(self, B):
        """X @ B for a dense B of shape (m, k): (n, k)."""
        B = np.asarray(B, dtype=self.dtype)
        cluster = self._on_cluster()
        if cluster is not None:
            return cluster.matmul(B)
        if self.is_dask:
            return np.asarray((self._dask() @ B).compute(), dtype=self.dtype)
        out = np.empty((self.shape[0], B.shape[1]), dtype=self.dtype)
        for start, stop, rows in self._blocks():
            out[start:stop] = rows @ B
        return out

    def __rmatmul__(self, A):
        """A @ X for a dense A of shape (k, n): (k, m), summed over row blocks."""
        A = np.asarray(A, dtype=self.dtype)
        cluster = self._on_cluster()
        if cluster is not None:
            return cluster.rmatmul(A)
        if self.is_dask:
            return np.asarray((A @ self._dask()).compute(), dtype=self.dtype)
        out = np.zeros((A.shape[0], self.shape[1]), dtype=self.dtype)
        for start, stop, rows in self._blocks():
            out += A[:, start:stop] @ rows
        return out

    def sum(self) -> float:
        """Sum of all entries (float64 accumulation)."""
        cluster = self._on_cluster()
        if cluster is not None:
            return cluster.sum()
        if self.is_dask:
            return float(self._dask().sum(dtype=np.float64).compute())
        return float(sum(rows.sum(dtype=np.float64) for _, _, rows in self._blocks()))
