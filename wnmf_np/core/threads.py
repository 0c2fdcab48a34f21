"""The threads a fit may use: BLAS/OpenMP pools (threadpoolctl) and numba's parallel loops.

Every estimator takes ``n_threads`` (None or an int >= 1) and runs ``fit``, ``transform``
and ``partial_fit`` inside :func:`limit_threads`.

- An int caps BLAS/OpenMP at that many threads for the call and restores them
  afterwards.
- None (the default) is *load-aware*: the BLAS/OpenMP pools keep their current size (BLAS's own
  default, what joblib gave its workers, or an outer ``threadpoolctl.threadpool_limits``)
  unless other processes keep CPUs busy right now; then they shrink to the CPUs left
  idle (at least one). The check is made when the call starts and again at most once a
  second during long fits (:func:`refresh_threads`, called by the training loops).

Why: the products of a training step are small (64 × 10304 × 40 on ORL) and OpenBLAS's
threads spin while they wait for each other. Beside other CPU-bound work a descheduled
thread stalls every product: a 2-thread fit beside two busy processes on a 2-core machine
ran 3.5-5.6× slower than alone, the same fit on one thread 1.6-2× (docs/performance.md).
On an idle machine nothing changes, so fits keep the speed of all cores.

numba's parallel loops (the AdamW update of a large parameter) run on one thread inside
every fit (:data:`NUMBA_THREADS_IN_FITS`). OpenBLAS's workers keep spinning for a while after
each product, so a parallel numba loop right after one runs beside a spinning thread: at
two BLAS threads on the 2-core machine, WNMF fits were 1.1-1.9x faster with numba on one
thread than on two (ORL 0.47 vs 0.90 s, DeepWNMF 0.51 vs 0.81 s, DeconvWNMF 0.33 vs
0.53 s, multi-feature 0.36 vs 0.40 s; same at ImageNet-CNN size, 4.4-5.7 vs 4.9-5.4 s;
docs/performance.md, "numba beside BLAS"). The BLAS pool, which runs the products, gets
the threads.

"Busy" is read from the kernel's count of runnable tasks (``/proc/loadavg``) minus this
process's own runnable threads, the smallest of a few samples (a passing process is not
load). Where ``/proc`` is missing (macOS, Windows) None leaves the pools as they are.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from contextlib import contextmanager

from .validation import check_int

REFRESH_SECONDS = 1.0  # how often a long fit re-reads the load
#: numba threads inside a fit, whatever the BLAS pool's size (the module docstring says why)
NUMBA_THREADS_IN_FITS = 1
_SAMPLES = 4  # load samples per reading; their minimum counts
_active = threading.local()  # the innermost load-aware budget of this thread


def check_n_threads(n_threads):
    """``n_threads`` validated: None or an int >= 1 (a clear error otherwise)."""
    if n_threads is None:
        return None
    return check_int("n_threads", n_threads, low=1)


def _own_runnable_threads() -> int:
    count = 0
    for path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(path) as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        count += stat[stat.rindex(")") + 2] == "R"
    return count


def _runnable_tasks() -> int:
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[0])


def busy_cpus_elsewhere() -> int | None:
    """CPUs that other processes keep busy right now (None where it can't be read)."""
    try:
        readings = []
        for i in range(_SAMPLES):
            if i:
                time.sleep(0.0002)
            readings.append(_runnable_tasks() - _own_runnable_threads())
    except (OSError, ValueError, IndexError):
        return None
    return max(0, min(readings))


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cpus() -> int | None:
    """CPUs of this process's affinity set not kept busy by others (>= 1; None if unknown)."""
    busy = busy_cpus_elsewhere()
    if busy is None:
        return None
    return max(1, _usable_cpus() - busy)


_CONTROLLER = None


def _controller():
    """threadpoolctl's view of the loaded pools, made once (building it scans the libraries)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


class _LoadAwareBudget:
    """Shrinks (and regrows up to the starting size) the pools to the idle CPUs."""

    def __init__(self):
        import numba

        self._numba = numba
        self._controller = _controller()
        sizes = [info["num_threads"] for info in self._controller.info()]
        self.ceiling = max(sizes) if sizes else _usable_cpus()
        self._numba_before = numba.get_num_threads()
        self._limiter = None
        self.current = self.ceiling  # the threads the fit may use now
        self._applied = self.ceiling  # the pool size set on BLAS/OpenMP
        self.hold_pools = False  # inside serial_blas: count the idle CPUs, leave the pools
        self._last = -float("inf")

    def refresh(self, force=False):
        now = time.perf_counter()
        if not force and now - self._last < REFRESH_SECONDS:
            return
        self._last = now
        idle = idle_cpus()
        self.current = self.ceiling if idle is None else min(self.ceiling, idle)
        if not self.hold_pools:
            self.apply()

    def apply(self):
        """Size the BLAS/OpenMP pools to ``current``."""
        if self.current == self._applied:
            return
        self._restore_blas()
        if self.current < self.ceiling:
            self._limiter = self._controller.limit(limits=self.current)
        self._applied = self.current

    def _restore_blas(self):
        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None

    def close(self):
        self._restore_blas()
        self._numba.set_num_threads(self._numba_before)


@contextmanager
def limit_threads(n_threads):
    """Run the block with ``n_threads`` threads at most, or load-aware for None."""
    n_threads = check_n_threads(n_threads)
    import numba

    if n_threads is None:
        outer = getattr(_active, "budget", None)
        if outer is not None:  # nested call (fit_transform → transform): one budget
            yield
            return
        budget = _LoadAwareBudget()
        _active.budget = budget
        numba.set_num_threads(NUMBA_THREADS_IN_FITS)
        try:
            budget.refresh(force=True)
            yield
        finally:
            _active.budget = None
            budget.close()
        return
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    outer, _active.budget = getattr(_active, "budget", None), None  # a fixed cap wins inside
    outer_cap, _active.cap = getattr(_active, "cap", None), n_threads
    with threadpool_limits(limits=n_threads):
        numba.set_num_threads(min(n_threads, NUMBA_THREADS_IN_FITS))
        try:
            yield
        finally:
            numba.set_num_threads(previous)
            _active.budget, _active.cap = outer, outer_cap


def refresh_threads():
    """Re-read the load and resize the pools of the enclosing load-aware block (cheap)."""
    budget = getattr(_active, "budget", None)
    if budget is not None:
        budget.refresh()


def current_thread_limit() -> int | None:
    """The pool size the enclosing load-aware block chose (None outside one)."""
    budget = getattr(_active, "budget", None)
    return None if budget is None else budget.current


def fit_thread_cap() -> int:
    """The most threads the enclosing :func:`limit_threads` block lets a fit use: the pool
    size a load-aware block started from (BLAS's default, or what joblib gave its worker),
    the fixed ``n_threads``, or 1 outside any block.

    For a fit's own worker threads, which wait without spinning
    (:mod:`wnmf_np.training.feature_blocks`): they need not shrink with the load as BLAS's
    pools do. Beside two busy processes on the 2-core machine an ORL fit took 2.40× its
    alone time with two such threads and 2.52× with one (docs/performance.md).
    """
    budget = getattr(_active, "budget", None)
    if budget is not None:
        return budget.ceiling
    cap = getattr(_active, "cap", None)
    return 1 if cap is None else cap


@contextmanager
def serial_blas():
    """BLAS at one thread inside the block, for callers that run BLAS from their own worker
    threads (:mod:`wnmf_np.training.feature_blocks`): each worker's products then run on
    its own core, and no BLAS pool spins beside the workers. A load-aware budget keeps
    counting the idle CPUs and resizes the pools again afterwards.
    """
    budget = getattr(_active, "budget", None)
    limiter = _controller().limit(limits=1, user_api="blas")
    if budget is not None:
        budget.hold_pools = True
    try:
        yield
    finally:
        limiter.restore_original_limits()
        if budget is not None:
            budget.hold_pools = False
            budget.apply()
