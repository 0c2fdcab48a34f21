"""The threads a fit may use: BLAS/OpenMP pools (threadpoolctl) and numba's parallel loops.

Every estimator takes ``n_threads`` (None or an int >= 1) and runs ``fit``, ``transform``
and ``partial_fit`` inside :func:`limit_threads`. None leaves the pools as they are (the
process's settings: BLAS's own default, or what joblib's workers were given, or an outer
``threadpoolctl.threadpool_limits``); an int caps both BLAS/OpenMP and numba for the call
and restores them afterwards. Why it matters: the products of a training step are small
(64 × 10304 × 40 on ORL), and OpenBLAS's threads spin while they wait; beside other
CPU-bound work a descheduled thread stalls every product, so a 2-thread fit on a busy
2-core machine ran 6-9× slower than the same fit on one thread (docs/performance.md).
"""

from __future__ import annotations

from contextlib import contextmanager

from ._validation import check_int


def check_n_threads(n_threads):
    """``n_threads`` validated: None or an int >= 1 (a clear error otherwise)."""
    if n_threads is None:
        return None
    return check_int("n_threads", n_threads, low=1)


@contextmanager
def limit_threads(n_threads):
    """Cap BLAS/OpenMP and numba at ``n_threads`` inside the block (None: no change)."""
    n_threads = check_n_threads(n_threads)
    if n_threads is None:
        yield
        return
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    with threadpool_limits(limits=n_threads):
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
        try:
            yield
        finally:
            numba.set_num_threads(previous)
