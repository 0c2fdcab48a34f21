"""The shallow WNMF step on blocks of features, run by the fit's own threads (CPU, numba).

Why. At the ORL size (W of 10304 × 40, batches of 32 faces) the generic step makes about
a dozen passes over W-sized arrays (φη(W), dL/dW, φη', AdamW's W, m and v), 33 MB per step
against an 8 MiB L3 cache, and its small products run on a BLAS pool whose second thread
spins while the other passes run on one core. Here W's rows (the features) are cut into
blocks of at most :data:`BLOCK_BYTES`, and each block's whole step runs while the block is
in cache; the blocks are independent, so the fit's threads take them in turns, each
calling BLAS on one thread (:func:`wnmf_np.core.threads.serial_blas`). Measured on the
2-core machine (docs/performance.md, ``bench/bench_torch.py``): ORL epochs about 0.7× the
generic step's time.

One step, A = φη(H_b) of shape (b, r), B = φη(W) kept from the step before; for every
block F of features (rows of W, columns of X):

    Y_F = A B_Fᵀ                          (b, |F|)   the block's columns of the reconstruction
    G_F = dL/dY_F                         (b, |F|)   fused loss kernel, batch's mean denominator
    P_F = G_F B_F                         (b, r)     the block's share of dL/dA
    W_F, B_F ← AdamW(W_F, (G_Fᵀ A) ⊙ φη'(W_F)), φη(W_F)      one fused pass

then dL/dA = Σ_F P_F (in block order), dL/dH_b = dL/dA ⊙ φη'(H_b), and H's update as in
the generic step (:mod:`wnmf_np.training.updates`).

Numbers. The kernels give bit for bit what the generic kernels give the same entries
(the loss's gradient, φη′, AdamW, φη), but the products are computed per block: BLAS
rounds a block's columns of A B_Fᵀ and its rows of Gᵀ A differently from the same entries
of the whole products (as it does on another number of threads), and dL/dA is a sum of
per-block products. A fit therefore takes a path that differs from the generic step's in
the last bits (within 2e-4 on the factors after a few epochs, ``tests/test_feature_blocks.py``),
and the loss value is summed per block. The blocks depend on W's shape and dtype only and
each block's products run on one BLAS thread, so a fit gives bit for bit the same numbers
on any number of threads.

Used by the driver for the shallow model on the NumPy backend with the numba kernels when
W makes at least two blocks; everything else (deep and deconvolutional models, CuPy, the
reference kernels, small W) takes the generic step.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.threads import fit_thread_cap
from ..models.shallow import ShallowModel
from .data import InMemoryData
from .updates import update_sample_rows

BLOCK_BYTES = 256 * 1024
"""The most bytes of W in one block: with its moments, φη, dL/dW and the block's columns
of the batch, a block's step stays within about a megabyte (one core's L2 cache). ORL
epochs, rank 40, 2 threads: 8 blocks 33-35 ms, 4 blocks 33-37 ms, no blocks 50 ms."""


def n_feature_blocks(n_features: int, rank: int, itemsize: int) -> int:
    """The number of blocks for W of shape (n_features, rank): an even number (two threads
    share them evenly) with at most :data:`BLOCK_BYTES` per block, at most ``n_features``;
    1 when W fits one block."""
    blocks = math.ceil(n_features * rank * itemsize / BLOCK_BYTES)
    if blocks <= 1:
        return 1
    return min(n_features, 2 * math.ceil(blocks / 2))


def feature_blocked_step(ctx, step_model, source, params: dict, trainable: tuple):
    """A :class:`FeatureBlockedStep` for this fit, or None where the generic step runs.

    It applies to the shallow model (trained on the data as it is) on the NumPy backend
    with the numba kernels, with trainable parameters among W and H, when W makes at
    least two blocks. ``source`` is the training data source: in memory, the step reads
    the batch's rows of X where they are (no gathered copy of the batch).
    """
    if type(step_model) is not ShallowModel or getattr(ctx.kernels, "name", None) != "numba":
        return None
    W = params.get("W")
    if not isinstance(W, np.ndarray) or not W.flags.c_contiguous or W.dtype not in (np.float32, np.float64):
        return None
    if not set(trainable) <= {"W", "H"}:
        return None
    n_blocks = n_feature_blocks(W.shape[0], W.shape[1], W.dtype.itemsize)
    if n_blocks < 2:
        return None
    data = source if isinstance(source, InMemoryData) and _readable_in_place(source) else None
    return FeatureBlockedStep(n_blocks, W.shape[0], data)


def _readable_in_place(source) -> bool:
    X, observed = source.X, source.observed
    return isinstance(X, np.ndarray) and X.flags.c_contiguous and (observed is None or observed.flags.c_contiguous)


class FeatureBlockedStep:
    """The shallow step on ``n_blocks`` blocks of W's rows (see the module docstring).

    Parameters
    ----------
    n_blocks : int >= 2
    n_features : int, the rows of W
    data : InMemoryData, optional
        Where the step reads the batch's rows itself (:attr:`reads_rows`); otherwise the
        driver passes the batch.

    Holds φη(W) between steps (valid within one ``train`` call, where only the steps
    change W; recomputed when η changes) and a thread pool, shut down by :meth:`close`.
    """

    def __init__(self, n_blocks: int, n_features: int, data=None):
        from ..kernels.dense import numba as fused  # imported with the numba kernel set already

        self._fused = fused
        self._data = data
        edges = np.linspace(0, n_features, n_blocks + 1).round().astype(int)
        self.blocks = [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]
        self._act = None  # φη(W), (n_features, r)
        self._act_eta = None
        self._pool = None
        self._pool_size = 0

    @property
    def reads_rows(self) -> bool:
        """True when :meth:`step` reads the batch from the data itself (``X_b`` may be None)."""
        return self._data is not None

    def close(self) -> None:
        """Stop the worker threads (waits for a running step's blocks)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _activation(self, W, eta: float, kernels):
        if self._act is None or self._act_eta != eta or self._act.shape != W.shape:
            self._act = kernels.leaky_relu(W, eta)
            self._act_eta = eta
        return self._act

    def step(self, params, X_b, obs_b, rows, eta, lr, config, kernels, state, trainable, normalisation) -> float:
        """One mini-batch step, as the driver's generic step (same arguments); returns the batch loss.

        Parameters
        ----------
        params : dict with "W" (n_features, r) and "H" (n_samples, r), updated in place
        X_b : array of shape (b, n_features), the batch; obs_b : bool like X_b, or None
            (both ignored when :attr:`reads_rows`)
        rows : int array of shape (b,), the batch's samples
        eta, lr : float
        config : TrainConfig; kernels : the numba KernelSet; state : TrainState
        trainable : tuple of names among "W", "H"
        normalisation : LossNormalisation (None: every entry is a true entry)
        """
        fused = self._fused
        W = params["W"]
        eta = float(eta)
        H_rows = params["H"][rows]
        A = kernels.leaky_relu(H_rows, eta)
        B = self._activation(W, eta, kernels)
        if self._data is not None:  # rows of the data where they are
            X_src, obs_src, src_rows = self._data.X, self._data.observed, np.asarray(rows, dtype=np.int64)
            obs_b = None if obs_src is None else obs_src[src_rows]
        else:
            X_src, obs_src, src_rows = np.ascontiguousarray(X_b), obs_b, None
            obs_src = None if obs_b is None else np.ascontiguousarray(obs_b)
        b = len(rows)
        denominator = None if normalisation is None else normalisation.mean_denominator(b)
        n_obs = (b * W.shape[0] if denominator is None else denominator) if obs_b is None else int(np.count_nonzero(obs_b))
        inv_n = 1.0 / max(n_obs, 1)
        factor = None
        if config.loss_reduction == "sum":
            factor = n_obs
        elif config.row_independent:
            factor = b
        update_W = "W" in trainable
        if update_W:
            st = state.opt["W"]
            o, l2 = config.optimizer, config.l2
            t = st.step + 1
            adamw = (st.m, st.v, t, lr, o.beta1, o.beta2, o.eps, l2.weight_decay, l2.coefficient("W"))
        else:
            adamw = None
        loss = config.loss
        update_H = "H" in trainable

        def run_block(j):
            lo, hi = self.blocks[j]
            B_F = B[lo:hi]
            Y_F = A @ B_F.T  # (b, |F|), C-contiguous
            total = fused.loss_grad_columns_(loss.name, X_src, lo, Y_F, obs_src, loss.param, inv_n, factor, src_rows)
            P_F = Y_F @ B_F if update_H else None  # before B_F is overwritten with φη of the new W_F
            if adamw is not None:
                m, v, t, *rest = adamw
                fused.adamw_leaky_(W[lo:hi], Y_F.T @ A, m[lo:hi], v[lo:hi], B_F, eta, t, *rest)
            return total, P_F

        results = self._run(run_block)
        if update_W:
            state.opt["W"] = state.opt["W"]._replace(step=adamw[2])
        if update_H:
            grad_A = results[0][1]
            for _, P_F in results[1:]:
                grad_A = grad_A + P_F
            kernels.leaky_grad_mul_(grad_A, H_rows, eta)
            update_sample_rows(params, "H", grad_A, rows, lr, config, kernels, state, np)
        total = sum(r[0] for r in results)
        value = total * (X_src.dtype.type(inv_n) if loss.name == "l1" else inv_n)  # as the generic loss kernel
        if config.loss_reduction == "sum":
            value = value * n_obs
        return value

    def _run(self, run_block) -> list:
        """``run_block(j)`` for every block, in turns on the fit's threads; results in block order."""
        n = len(self.blocks)
        threads = max(1, min(fit_thread_cap(), n))
        if threads == 1:
            return [run_block(j) for j in range(n)]
        if self._pool is None or self._pool_size != threads - 1:  # the fit's thread cap rarely changes
            self.close()
            self._pool = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="wnmf_np-blocks")
            self._pool_size = threads - 1
        turns = [range(k, n, threads) for k in range(threads)]
        futures = [self._pool.submit(lambda js: [run_block(j) for j in js], js) for js in turns[1:]]
        mine = [run_block(j) for j in turns[0]]
        results = [None] * n
        for js, part in zip(turns, [mine] + [f.result() for f in futures]):
            for j, res in zip(js, part):
                results[j] = res
        return results
