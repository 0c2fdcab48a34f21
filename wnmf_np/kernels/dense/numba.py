"""numba CPU kernels: fused AdamW updates and fused loss value + gradient.

Each kernel makes one pass over memory where the reference makes several (temporaries
for m̂, v̂, residuals, signs...). AdamW has a serial loop for small arrays and a
``prange`` loop from PARALLEL_MIN_SIZE entries: on the 2-core machine the parallel AdamW
update of W at the ORL size takes 0.16-0.2 ms against 1.6 ms serial. The loss
reductions and φη′ are serial (faster at every measured size). Threading layer: numba's default
OpenMP threads keep spinning after a parallel loop and starve OpenBLAS's threads in the
next matrix product (a whole step went from 3.0 to 8.8 ms), so unless the user chose a
layer with ``NUMBA_THREADING_LAYER``, this module selects numba's ``workqueue`` layer
(no spinning). Measurements: bench/bench_wnmf_step.py and docs/performance.md.
The Python wrappers flatten arrays (C-contiguous views, no copies) and check layouts.
Under ``NUMBA_DISABLE_JIT=1`` the same code runs as plain Python.
"""

from __future__ import annotations

import math
import os

import numba as nb
import numpy as np

from . import KernelSet

if "NUMBA_THREADING_LAYER" not in os.environ:  # see the module docstring
    nb.config.THREADING_LAYER = "workqueue"

# error_model="numpy": a float division by zero gives inf/NaN instead of raising, so
# LLVM can vectorise loops that divide (the serial AdamW loop ran 4.5x slower without it,
# 2.1 vs 0.48 ms at the ORL size of W; the numbers are bit for bit the same).
_JIT = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")
# Reductions may be reassociated (so they vectorise); NaN/inf semantics are kept, since a
# NaN loss is how divergence is detected.
_JIT_REDUCE = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"}, error_model="numpy")


# ----------------------------------------------------------------------------- AdamW
# Each element-wise operation is one inlined per-element function and two loops over it:
# a serial loop for small arrays (a parallel launch costs tens of microseconds) and a
# prange loop for large ones, chosen by PARALLEL_MIN_SIZE.
PARALLEL_MIN_SIZE = 1 << 15
"""Arrays with at least this many elements use the parallel AdamW loop
(measured crossover on 2 cores: at 2^15 entries AdamW takes 175 µs serial, 112 µs parallel;
at 2^13, 35 µs serial, 86 µs parallel)."""


@nb.njit(inline="always", **_JIT)
def _adamw_at(i, p, g, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps):
    """p ← p·decay − step_size·m/(√v·inv_sqrt_bc2 + ε) after the moment updates, at i.

    All scalars arrive in the parameter's dtype so float32 data is updated in float32
    arithmetic (which vectorises); step_size = lr / (1 − β1^t), inv_sqrt_bc2 = 1/√(1 − β2^t).
    """
    pi = p[i]
    gi = g[i] + two_l2 * pi
    mi = b1 * m[i] + one_b1 * gi
    vi = b2 * v[i] + one_b2 * gi * gi
    m[i] = mi
    v[i] = vi
    p[i] = pi * decay - step_size * mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps)


@nb.njit(**_JIT)
def _adamw_serial(p, g, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps):
    for i in range(p.size):
        _adamw_at(i, p, g, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps)


@nb.njit(parallel=True, **_JIT)
def _adamw_parallel(p, g, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps):
    for i in nb.prange(p.size):
        _adamw_at(i, p, g, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps)


@nb.njit(inline="always", **_JIT)
def _adamw_row(j, p, g, rows, m, v, steps, lr, b1, b2, eps, wd, l2):
    """AdamW on row ``rows[j]`` of p, m, v (2-D) with gradient row ``g[j]`` and its own step count.

    Scalars are Python floats, so the arithmetic is float64 whatever the arrays' dtype:
    a row is too short to gain from float32 vectorisation, and this keeps the lazy
    updates bit-identical to the serial kernel of earlier versions.
    """
    decay = 1.0 - lr * wd
    i = rows[j]
    t = steps[i] + 1
    steps[i] = t
    step_size = lr / (1.0 - b1**t)
    inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - b2**t)
    for k in range(p.shape[1]):
        pk = p[i, k]
        gk = g[j, k] + 2.0 * l2 * pk
        mk = b1 * m[i, k] + (1.0 - b1) * gk
        vk = b2 * v[i, k] + (1.0 - b2) * gk * gk
        m[i, k] = mk
        v[i, k] = vk
        p[i, k] = pk * decay - step_size * mk / (math.sqrt(vk) * inv_sqrt_bc2 + eps)


@nb.njit(**_JIT)
def _adamw_rows_serial(p, g, rows, m, v, steps, lr, b1, b2, eps, wd, l2):
    for j in range(rows.size):
        _adamw_row(j, p, g, rows, m, v, steps, lr, b1, b2, eps, wd, l2)


@nb.njit(parallel=True, **_JIT)
def _adamw_rows_parallel(p, g, rows, m, v, steps, lr, b1, b2, eps, wd, l2):
    # one row per iteration: safe because the rows of a batch are distinct
    for j in nb.prange(rows.size):
        _adamw_row(j, p, g, rows, m, v, steps, lr, b1, b2, eps, wd, l2)


@nb.njit(**_JIT)
def _leaky_relu(p, eta, out):
    """out ← φη(p) = max(p, η p) in one pass (NumPy's formula takes two and a temporary;
    in a WNMF step on ORL the activation of W took 0.5 ms that way)."""
    for i in range(p.size):
        x = p[i]
        y = x * eta
        out[i] = x if x > y else y  # max(x, ηx) as np.maximum: NaN (in y) propagates, -0.0 stays


@nb.njit(**_JIT)
def _leaky_grad_mul(g, p, eta, one):
    """g ← g ⊙ φη'(p) in place (1 where p >= 0, η elsewhere).

    Serial at every size: written as a select it vectorises, and the serial loop beats the
    prange loop (64 vs 125 µs at 330 thousand entries, 177 vs 300 µs at 2^20).
    """
    for i in range(g.size):
        g[i] *= one if p[i] >= 0 else eta


def _flat(a, name):
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous for the fused kernel.")
    return a.reshape(-1)


def _rows2d(a, name):
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous for the fused kernel.")
    return a.reshape(a.shape[0], -1)


def adamw_(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """In-place fused AdamW step on a whole parameter (``step``: new step count t)."""
    c = param.dtype.type  # scalars in the parameter's precision (see _adamw_at)
    p = _flat(param, "param")
    loop = _adamw_parallel if p.size >= PARALLEL_MIN_SIZE else _adamw_serial
    loop(
        p, _flat(grad, "grad"), _flat(m, "m"), _flat(v, "v"),
        c(1.0 - lr * weight_decay), c(beta1), c(1.0 - beta1), c(beta2), c(1.0 - beta2), c(2.0 * l2_penalty),
        c(lr / (1.0 - beta1**step)), c(1.0 / math.sqrt(1.0 - beta2**step)), c(eps),
    )  # fmt: skip


def adamw_rows_(param, grad_rows, rows, m, v, steps, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """In-place fused AdamW step on ``param[rows]`` with per-row step counts.

    ``rows`` must be distinct (a slice of a permutation, as every batch is): large
    batches update their rows in parallel, one row per thread.
    """
    p = _rows2d(param, "param")
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    # the element-wise crossover applies to the batch's entries; one thread per row needs >= 2 rows
    parallel = rows.size >= 2 and rows.size * p.shape[1] >= PARALLEL_MIN_SIZE
    loop = _adamw_rows_parallel if parallel else _adamw_rows_serial
    loop(
        p, _rows2d(grad_rows, "grad_rows"), rows, _rows2d(m, "m"), _rows2d(v, "v"), steps,
        float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), float(l2_penalty),
    )  # fmt: skip


# ---------------------------------------------------------------------------- losses
# Each loss kernel overwrites y with dL/dy (already divided by N) and returns Σ w f.
# ``w`` is a flat bool mask and ``use_w`` says whether to read it (a 1-element dummy
# otherwise), so one compiled loop serves masked and unmasked data.


@nb.njit(inline="always", **_JIT_REDUCE)
def _l1_at(i, x, y, w, use_w, inv_n, param):
    r = y[i] - x[i]
    keep = (not use_w) or w[i]
    # sign(r), 0 for NaN; the comparisons made numbers first: NumPy (NUMBA_DISABLE_JIT)
    # cannot subtract booleans, and numba's float() takes no boolean
    y[i] = (1.0 * (r > 0) - 1.0 * (r < 0)) * inv_n if keep else 0.0
    return abs(r) if keep else 0.0


@nb.njit(inline="always", **_JIT_REDUCE)
def _l2_at(i, x, y, w, use_w, inv_n, param):
    if use_w and not w[i]:
        y[i] = 0.0
        return 0.0
    r = y[i] - x[i]
    y[i] = r * inv_n
    return 0.5 * r * r


@nb.njit(inline="always", **_JIT_REDUCE)
def _huber_at(i, x, y, w, use_w, inv_n, delta):
    if use_w and not w[i]:
        y[i] = 0.0
        return 0.0
    r = y[i] - x[i]
    a = abs(r)
    if a <= delta:
        y[i] = r * inv_n
        return 0.5 * r * r
    y[i] = (delta if r > 0 else -delta) * inv_n
    return delta * (a - 0.5 * delta)


@nb.njit(inline="always", **_JIT_REDUCE)
def _kl_at(i, x, y, w, use_w, inv_n, eps):
    if use_w and not w[i]:
        y[i] = 0.0
        return 0.0
    xi = x[i]
    yi = y[i]
    yc = eps if yi < eps else yi  # (a NaN reconstruction stays NaN: divergence must show)
    f = yc - xi
    if xi > 0:
        f += xi * (math.log(xi) - math.log(yc))
    df = 1.0 - xi / yc
    if yi < eps:  # the quadratic continuation below ε (see wnmf_np.core.losses)
        c = (xi if xi > eps else eps) / (eps * eps)
        d = yi - eps
        f += df * d + 0.5 * c * d * d
        df += c * d
    y[i] = df * inv_n
    return f


def _loss_loop(name: str):
    """The compiled reduction ``Σ_i f_name(i)`` (overwriting ``y`` with the gradient) of loss ``name``.

    One loop for every loss: ``name`` is a constant of the closure, so numba compiles one
    specialisation per loss in which the other branches fold away, and the code is that of
    a loop written for the loss alone (the same vectorisation, the same numbers). A closure
    over a string, unlike one over a function, keeps numba's on-disk cache key stable.
    The reductions stay serial at every size: measured on the 2-core machine, the serial
    loop (vectorised by LLVM) beats the prange reduction from 8 thousand to 1 million
    entries (1.1 vs 1.6 ms at 2^20).
    """

    @nb.njit(**_JIT_REDUCE)
    def loss_loop(x, y, w, use_w, inv_n, param):
        total = 0.0
        for i in range(x.size):
            if name == "l1":
                total += _l1_at(i, x, y, w, use_w, inv_n, param)
            elif name == "l2":
                total += _l2_at(i, x, y, w, use_w, inv_n, param)
            elif name == "huber":
                total += _huber_at(i, x, y, w, use_w, inv_n, param)
            else:
                total += _kl_at(i, x, y, w, use_w, inv_n, param)
        return total

    return loss_loop


_LOSS_LOOPS = {name: _loss_loop(name) for name in ("l1", "l2", "huber", "kl")}


_DUMMY_MASK = np.ones(1, dtype=np.bool_)


def loss_grad_(name, X, Y, observed, param, n_entries=None):
    """Fused loss value and gradient; ``Y`` (C-contiguous) is overwritten with dL/dY.

    ``n_entries``: the mean's denominator for an unmasked batch (default ``Y.size``), see
    :mod:`wnmf_np.kernels.dense`. Returns the loss value as a Python float (the NumPy backend
    has nothing to sync).
    """
    x, y = _flat(X, "X"), _flat(Y, "Y")
    if observed is None:
        w, use_w, n_obs = _DUMMY_MASK, False, x.size if n_entries is None else int(n_entries)
    else:
        w, use_w, n_obs = _flat(observed, "observed"), True, int(np.count_nonzero(observed))
    inv_n = 1.0 / max(n_obs, 1)  # a batch with nothing observed contributes nothing
    kernel = _LOSS_LOOPS.get(name)
    if kernel is None:
        raise ValueError(f"unknown loss {name!r}.")
    if name == "l1":
        inv_n = X.dtype.type(inv_n)  # keeps the L1 loop in float32 arithmetic for float32 data
    return kernel(x, y, w, use_w, inv_n, float(param)) * inv_n


def leaky_relu(param, eta):
    """φη(param) as a new array, one fused pass (any layout; non-contiguous input is copied first)."""
    param = np.ascontiguousarray(param)
    out = np.empty_like(param)
    _leaky_relu(param.reshape(-1), param.dtype.type(eta), out.reshape(-1))
    return out


def leaky_grad_mul_(grad, param, eta):
    """In place: grad ← grad ⊙ φη'(param) (chain rule through the leaky ReLU)."""
    _leaky_grad_mul(_flat(grad, "grad"), _flat(param, "param"), param.dtype.type(eta), param.dtype.type(1.0))


# ------------------------------------------------- the feature-blocked shallow step
# Two kernels of :mod:`wnmf_np.training.feature_blocks`, which runs the shallow WNMF step
# on blocks of W's rows (features) in worker threads: serial loops (each thread runs one),
# the same per-element functions as above, so the numbers are those of the kernels above.


@nb.njit(**_JIT)
def _adamw_leaky(p, grad_act, m, v, act, eta, one, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps):
    for i in range(p.size):
        grad_act[i] *= one if p[i] >= 0 else eta  # the chain rule, as _leaky_grad_mul
        _adamw_at(i, p, grad_act, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps)
        x = p[i]
        y = x * eta
        act[i] = x if x > y else y  # φη of the updated entry, as _leaky_relu


def adamw_leaky_(param, grad_act, m, v, act, eta, step, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """AdamW on ``param`` given dL/dφη(param), and φη of the updated parameter, in one pass.

    In place, serial: ``grad_act`` ← its product with φη'(param) (the gradient w.r.t.
    ``param``), then the AdamW step of :func:`adamw_` on ``param``, ``m``, ``v``, then
    ``act`` ← φη(param). Bit for bit ``leaky_grad_mul_`` + ``adamw_`` + ``leaky_relu``.

    Parameters
    ----------
    param, grad_act, m, v, act : C-contiguous arrays of one shape and float dtype
    eta : float
    step : int, the new step count t >= 1
    lr, beta1, beta2, eps, weight_decay, l2_penalty : float, as :func:`adamw_`
    """
    c = param.dtype.type
    _adamw_leaky(
        _flat(param, "param"), _flat(grad_act, "grad_act"), _flat(m, "m"), _flat(v, "v"), _flat(act, "act"),
        c(eta), c(1.0), c(1.0 - lr * weight_decay), c(beta1), c(1.0 - beta1), c(beta2), c(1.0 - beta2),
        c(2.0 * l2_penalty), c(lr / (1.0 - beta1**step)), c(1.0 / math.sqrt(1.0 - beta2**step)), c(eps),
    )  # fmt: skip


def _loss_columns_loop(name: str):
    """``Σ w f`` over a block of columns of some rows of X, overwriting the block's
    reconstruction with dL/dY (a closure over the loss name, as :func:`_loss_loop`, whose
    dispatch it writes out again: one shared inline dispatcher over the four losses made both
    loops 3-6x slower, e.g. the batch L1 loss 0.38 -> 2.2 ms, as their return types unify)."""

    @nb.njit(**_JIT_REDUCE)
    def loss_columns_loop(X, rows, start, Y, w2, use_w, inv_n, param, factor, rescale):
        total = 0.0
        k = Y.shape[1]
        for i in range(Y.shape[0]):
            x = X[rows[i], start : start + k]
            y = Y[i]
            w = w2[rows[i], start : start + k] if use_w else w2[0, 0:1]
            for j in range(k):
                if name == "l1":
                    total += _l1_at(j, x, y, w, use_w, inv_n, param)
                elif name == "l2":
                    total += _l2_at(j, x, y, w, use_w, inv_n, param)
                elif name == "huber":
                    total += _huber_at(j, x, y, w, use_w, inv_n, param)
                else:
                    total += _kl_at(j, x, y, w, use_w, inv_n, param)
                if rescale:  # the "sum" reduction and per-row means, as LossNormalisation's Y *= factor
                    y[j] *= factor  # (in this loop: a second loop over the row made the kernel 40x slower)
        return total

    return loss_columns_loop


_LOSS_COLUMNS_LOOPS = {name: _loss_columns_loop(name) for name in ("l1", "l2", "huber", "kl")}
_DUMMY_MASK_2D = np.ones((1, 1), dtype=np.bool_)


def loss_grad_columns_(name, X, start, Y, observed, param, inv_n, factor=None, rows=None):
    """Loss of the columns ``start : start + k`` of a batch; ``Y`` (b, k) is overwritten with dL/dY.

    Parameters
    ----------
    name : str, the loss
    X : C-contiguous array of shape (n, n_features): the batch (b rows), or with ``rows``
        any rows among which the batch's are (the whole data, read without a gathered copy)
    start : int, the block's first column
    Y : C-contiguous array of shape (b, k), the block's reconstruction
    observed : C-contiguous bool array like X, or None
    param : float, the loss parameter
    inv_n : float, 1 / (the mean's denominator of the whole batch)
    factor : float, optional
        Multiplies the gradient afterwards (the "sum" reduction: the batch's observed
        entries; per-row means: b), as :class:`wnmf_np.models.layout.LossNormalisation`.
    rows : int array of shape (b,), optional
        The batch's rows of X (default: X is the batch).

    Returns
    -------
    float
        ``Σ w f`` over the block, not divided by the denominator. The gradient is
        ``w f' · inv_n (· factor)``, bit for bit what :func:`loss_grad_` gives these entries.
    """
    if not (X.flags.c_contiguous and Y.flags.c_contiguous):
        raise ValueError("X and Y must be C-contiguous for the fused kernel.")
    rows = np.arange(X.shape[0]) if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
    if start < 0 or start + Y.shape[1] > X.shape[1] or Y.shape[0] != rows.shape[0]:
        raise ValueError(f"a block of shape {Y.shape} at column {start} does not fit {rows.shape[0]} rows of {X.shape[1]} columns.")
    kernel = _LOSS_COLUMNS_LOOPS.get(name)
    if kernel is None:
        raise ValueError(f"unknown loss {name!r}.")
    use_w = observed is not None
    w2 = np.ascontiguousarray(observed) if use_w else _DUMMY_MASK_2D
    inv = X.dtype.type(inv_n) if name == "l1" else float(inv_n)  # as loss_grad_: L1 in X's precision
    rescale = factor is not None
    return kernel(X, rows, int(start), Y, w2, use_w, inv, float(param), Y.dtype.type(1.0 if factor is None else factor),
                  rescale)  # fmt: skip


KERNELS = KernelSet("numba", adamw_, adamw_rows_, loss_grad_, leaky_relu, leaky_grad_mul_)
