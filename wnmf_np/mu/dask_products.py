"""The chunk-wise products of the multiplicative updates on a ``dask.distributed`` cluster.

:class:`ClusterRows` persists X (n, m) on the workers once, in row chunks with a single
column chunk, and keeps the futures of the chunks in row order. Each product is then one
task per chunk, run on the worker that holds the chunk:

- ``X @ B`` (B: m × k, small): B is scattered to every worker once (broadcast), chunk
  ``i`` computes ``X_i @ B``, the driver concatenates the (n_i, k) results in row order;
- ``A @ X`` (A: k × n, e.g. Wᵀ): A is cut into the column blocks ``A[:, s_i]`` aligned
  with X's chunks, each scattered to the worker of its chunk, chunk ``i`` computes
  ``A_i @ X_i`` (k × m) and the driver sums the partial products in row order.

Only the factors go to the workers (by ``scatter``, never inside a task graph) and only
the small products come back; X stays where it is.
"""

from __future__ import annotations

import numpy as np

from ..training.blocks import client_of

__all__ = ["ClusterRows", "client_of"]


def _matmul(a, b):
    return a @ b


def _sum64(block) -> float:
    return float(block.sum(dtype=np.float64))


class ClusterRows:
    """A Dask array persisted on a cluster in row chunks, with chunk-wise products.

    Parameters
    ----------
    client : distributed.Client
    X : dask array of shape (n, m), in the working dtype
    """

    def __init__(self, client, X):
        from distributed import futures_of, wait

        X = X.rechunk({1: -1})  # one column chunk: every row chunk is a whole (n_i, m) block
        self.client = client
        self.shape = tuple(int(s) for s in X.shape)
        self.dtype = X.dtype
        self.persisted = client.persist(X)
        futures = {f.key: f for f in futures_of(self.persisted)}
        wait(list(futures.values()))
        self.chunks = [futures[key[0]] for key in self.persisted.__dask_keys__()]
        self.bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        who = client.who_has(self.chunks)
        self.workers = [list(who[f.key]) for f in self.chunks]

    def matmul(self, B: np.ndarray) -> np.ndarray:
        """``X @ B`` for a host B of shape (m, k): (n, k) on the host."""
        B_f = self.client.scatter(B, broadcast=True, hash=False)
        parts = [self.client.submit(_matmul, chunk, B_f, pure=False, workers=w) for chunk, w in zip(self.chunks, self.workers)]
        return np.concatenate(self.client.gather(parts), axis=0)

    def rmatmul(self, A: np.ndarray) -> np.ndarray:
        """``A @ X`` for a host A of shape (k, n): (k, m) on the host, summed in row order."""
        by_worker = {}  # one scatter per worker, of the blocks of the chunks it holds
        for i, w in enumerate(self.workers):
            by_worker.setdefault(tuple(w), []).append(i)
        scattered = {}
        for w, index in by_worker.items():
            blocks = [np.ascontiguousarray(A[:, self.bounds[i] : self.bounds[i + 1]]) for i in index]
            scattered.update(zip(index, self.client.scatter(blocks, workers=list(w), hash=False)))
        parts = [self.client.submit(_matmul, scattered[i], chunk, pure=False, workers=w)
                 for i, (chunk, w) in enumerate(zip(self.chunks, self.workers))]  # fmt: skip
        out = None
        for part in self.client.gather(parts):
            out = part.copy() if out is None else out + part
        return out

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` on the host (a full-data pass reads X in such blocks)."""
        return np.asarray(self.persisted[start:stop].compute())

    def sum(self) -> float:
        """Sum of all entries (float64 per chunk, added in row order)."""
        return float(sum(self.client.gather([self.client.submit(_sum64, c, pure=False) for c in self.chunks])))
