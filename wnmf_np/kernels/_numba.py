"""numba CPU kernels: fused AdamW updates and fused loss value + gradient.

Each kernel makes one pass over memory where the reference makes several (temporaries
for m̂, v̂, residuals, signs...). The element-wise loops are ``prange`` loops: on the
2-core machine the parallel AdamW update of W at the ORL size takes 0.16 ms against
1.6 ms serial (numba vectorises the parallel chunks). Threading layer: numba's default
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

_JIT = dict(nogil=True, cache=True, fastmath=False)
# Reductions may be reassociated (so they vectorise); NaN/inf semantics are kept, since a
# NaN loss is how divergence is detected.
_JIT_REDUCE = dict(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})


# ----------------------------------------------------------------------------- AdamW
@nb.njit(parallel=True, **_JIT)
def _adamw_flat(p, g, m, v, decay, b1, one_b1, b2, one_b2, two_l2, step_size, inv_sqrt_bc2, eps):
    """p ← p·decay − step_size·m/(√v·inv_sqrt_bc2 + ε) after the moment updates; in place.

    All scalars arrive in the parameter's dtype so float32 data is updated in float32
    arithmetic (which vectorises); step_size = lr / (1 − β1^t), inv_sqrt_bc2 = 1/√(1 − β2^t).
    """
    for i in nb.prange(p.size):
        pi = p[i]
        gi = g[i] + two_l2 * pi
        mi = b1 * m[i] + one_b1 * gi
        vi = b2 * v[i] + one_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = pi * decay - step_size * mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps)


@nb.njit(**_JIT)
def _adamw_rows_2d(p, g, rows, m, v, steps, lr, b1, b2, eps, wd, l2):
    """Row-wise AdamW on p[rows] (p, m, v: (n, k); g: (b, k)) with per-row steps."""
    decay = 1.0 - lr * wd
    for j in range(rows.size):
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


@nb.njit(parallel=True, **_JIT)
def _leaky_grad_mul(g, p, eta):
    """g ← g ⊙ φη'(p) in place (1 where p >= 0, η elsewhere)."""
    for i in nb.prange(g.size):
        if p[i] < 0:
            g[i] *= eta


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
    c = param.dtype.type  # scalars in the parameter's precision (see _adamw_flat)
    _adamw_flat(
        _flat(param, "param"), _flat(grad, "grad"), _flat(m, "m"), _flat(v, "v"),
        c(1.0 - lr * weight_decay), c(beta1), c(1.0 - beta1), c(beta2), c(1.0 - beta2), c(2.0 * l2_penalty),
        c(lr / (1.0 - beta1**step)), c(1.0 / math.sqrt(1.0 - beta2**step)), c(eps),
    )  # fmt: skip


def adamw_rows_(param, grad_rows, rows, m, v, steps, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """In-place fused AdamW step on ``param[rows]`` with per-row step counts."""
    _adamw_rows_2d(
        _rows2d(param, "param"), _rows2d(grad_rows, "grad_rows"), np.ascontiguousarray(rows, dtype=np.int64),
        _rows2d(m, "m"), _rows2d(v, "v"), steps,
        float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), float(l2_penalty),
    )  # fmt: skip


# ---------------------------------------------------------------------------- losses
# Each loss kernel overwrites y with dL/dy (already divided by N) and returns Σ w f.
# ``w`` is a flat bool mask and ``use_w`` says whether to read it (a 1-element dummy
# otherwise), so one compiled loop serves masked and unmasked data.


@nb.njit(parallel=True, **_JIT_REDUCE)
def _l1(x, y, w, use_w, inv_n):
    total = 0.0
    for i in nb.prange(x.size):
        r = y[i] - x[i]
        keep = (not use_w) or w[i]
        a = abs(r) if keep else 0.0
        total += a
        y[i] = ((r > 0) - (r < 0)) * inv_n if keep else 0.0
    return total


@nb.njit(parallel=True, **_JIT_REDUCE)
def _l2(x, y, w, use_w, inv_n):
    total = 0.0
    for i in nb.prange(x.size):
        if use_w and not w[i]:
            y[i] = 0.0
            continue
        r = y[i] - x[i]
        total += 0.5 * r * r
        y[i] = r * inv_n
    return total


@nb.njit(parallel=True, **_JIT_REDUCE)
def _huber(x, y, w, use_w, inv_n, delta):
    total = 0.0
    for i in nb.prange(x.size):
        if use_w and not w[i]:
            y[i] = 0.0
            continue
        r = y[i] - x[i]
        a = abs(r)
        if a <= delta:
            total += 0.5 * r * r
            y[i] = r * inv_n
        else:
            total += delta * (a - 0.5 * delta)
            y[i] = (delta if r > 0 else -delta) * inv_n
    return total


@nb.njit(parallel=True, **_JIT_REDUCE)
def _kl(x, y, w, use_w, inv_n, eps):
    total = 0.0
    for i in nb.prange(x.size):
        if use_w and not w[i]:
            y[i] = 0.0
            continue
        xi = x[i]
        yi = y[i]
        yc = yi if yi > eps else eps
        f = yc - xi
        if xi > 0:
            f += xi * (math.log(xi) - math.log(yc))
        df = 1.0 - xi / yc
        if yi < eps:
            c = (xi if xi > eps else eps) / (eps * eps)
            d = yi - eps
            f += df * d + 0.5 * c * d * d
            df += c * d
        total += f
        y[i] = df * inv_n
    return total


_DUMMY_MASK = np.ones(1, dtype=np.bool_)


def loss_grad_(name, X, Y, observed, param):
    """Fused loss value and gradient; ``Y`` (C-contiguous) is overwritten with dL/dY.

    Returns the loss value as a Python float (the NumPy backend has nothing to sync).
    """
    x, y = _flat(X, "X"), _flat(Y, "Y")
    if observed is None:
        w, use_w, n_obs = _DUMMY_MASK, False, x.size
    else:
        w, use_w, n_obs = _flat(observed, "observed"), True, int(np.count_nonzero(observed))
    inv_n = 1.0 / max(n_obs, 1)  # a batch with nothing observed contributes nothing
    if name == "l1":
        inv_n = X.dtype.type(inv_n)
        total = _l1(x, y, w, use_w, inv_n)
    elif name == "l2":
        total = _l2(x, y, w, use_w, inv_n)
    elif name == "huber":
        total = _huber(x, y, w, use_w, inv_n, float(param))
    elif name == "kl":
        total = _kl(x, y, w, use_w, inv_n, float(param))
    else:
        raise ValueError(f"unknown loss {name!r}.")
    return total * inv_n


def leaky_grad_mul_(grad, param, eta):
    """In place: grad ← grad ⊙ φη'(param) (chain rule through the leaky ReLU)."""
    _leaky_grad_mul(_flat(grad, "grad"), _flat(param, "param"), param.dtype.type(eta))


KERNELS = KernelSet("numba", adamw_, adamw_rows_, loss_grad_, leaky_grad_mul_)
