"""CuPy (CUDA) kernels: fused AdamW updates; losses use the namespace-generic reference.

The CUDA kernels are declared in :mod:`.cuda_specs` (each with its NumPy meaning, side
by side below) and built on first use of the CuPy backend; importing this module never
imports CuPy. Nothing here synchronises with the host: loss values stay 0-d device arrays.
"""

from __future__ import annotations

import functools

import numpy as np

from ...core.activations import leaky_relu  # the reference formula: two element-wise passes on the device
from ...core.backend import import_cupy
from ..cuda_specs import ElementwiseSpec, register
from . import KernelSet
from .reference import loss_grad_ as _reference_loss_grad

_ADAMW_BODY = """
    T gi = g + (T)(2.0 * l2) * p;
    T mi = (T)b1 * m + (T)(1.0 - b1) * gi;
    T vi = (T)b2 * v + (T)(1.0 - b2) * gi * gi;
    m = mi;
    v = vi;
    p = p * (T)(1.0 - lr * wd) - (T)lr * (mi * (T)inv_bc1) / (sqrt(vi) * (T)inv_sqrt_bc2 + (T)eps);
"""

_ADAMW_ROWS_BODY = """
    long long j = i / k;
    long long idx = rows[j] * k + (i % k);
    double tj = (double)t[j];
    T inv_bc1 = (T)(1.0 / (1.0 - pow(b1, tj)));
    T inv_sqrt_bc2 = (T)(1.0 / sqrt(1.0 - pow(b2, tj)));
    T pi = p[idx];
    T gi = g + (T)(2.0 * l2) * pi;
    T mi = (T)b1 * m[idx] + (T)(1.0 - b1) * gi;
    T vi = (T)b2 * v[idx] + (T)(1.0 - b2) * gi * gi;
    m[idx] = mi;
    v[idx] = vi;
    p[idx] = pi * (T)(1.0 - lr * wd) - (T)lr * (mi * inv_bc1) / (sqrt(vi) * inv_sqrt_bc2 + (T)eps);
"""


def _adamw_host(g, lr, b1, b2, eps, wd, l2, inv_bc1, inv_sqrt_bc2, p, m, v):
    """NumPy meaning of ``wnmf_adamw`` (same arguments, ``p, m, v`` updated in place)."""
    t = p.dtype.type
    gi = g + t(2.0 * l2) * p
    m[...] = t(b1) * m + t(1.0 - b1) * gi
    v[...] = t(b2) * v + t(1.0 - b2) * gi * gi
    p[...] = p * t(1.0 - lr * wd) - t(lr) * (m * t(inv_bc1)) / (np.sqrt(v) * t(inv_sqrt_bc2) + t(eps))


def _adamw_rows_host(g, rows, steps, k, lr, b1, b2, eps, wd, l2, p, m, v):
    """NumPy meaning of ``wnmf_adamw_rows``: loop index i = j k + c updates entry ``rows[j] * k + c``
    of the flat ``p, m, v`` (C-contiguous, as the raw CUDA indexing assumes here)."""
    if not (p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous):
        raise ValueError("wnmf_adamw_rows: the host version needs C-contiguous p, m and v.")
    t = p.dtype.type
    P, M, V = (a.reshape(-1, k) for a in (p, m, v))
    tj = np.asarray(steps, dtype=np.float64)[:, None]
    inv_bc1 = (1.0 / (1.0 - b1**tj)).astype(t)
    inv_sqrt_bc2 = (1.0 / np.sqrt(1.0 - b2**tj)).astype(t)
    pi = P[rows]
    gi = np.reshape(g, (-1, k)) + t(2.0 * l2) * pi
    mi = t(b1) * M[rows] + t(1.0 - b1) * gi
    vi = t(b2) * V[rows] + t(1.0 - b2) * gi * gi
    M[rows], V[rows] = mi, vi
    P[rows] = pi * t(1.0 - lr * wd) - t(lr) * (mi * inv_bc1) / (np.sqrt(vi) * inv_sqrt_bc2 + t(eps))


def _leaky_host(p, eta, g):
    """NumPy meaning of ``wnmf_leaky_grad_mul`` (``g`` updated in place)."""
    np.multiply(g, g.dtype.type(eta), out=g, where=np.broadcast_to(p < 0, g.shape))


ADAMW = register(
    ElementwiseSpec(
        "wnmf_adamw",
        "T g, float64 lr, float64 b1, float64 b2, float64 eps, float64 wd, float64 l2, "
        "float64 inv_bc1, float64 inv_sqrt_bc2",
        "T p, T m, T v",
        _ADAMW_BODY,
        _adamw_host,
    )
)
ADAMW_ROWS = register(
    ElementwiseSpec(
        "wnmf_adamw_rows",
        "T g, raw int64 rows, raw int64 t, int64 k, float64 lr, float64 b1, float64 b2, "
        "float64 eps, float64 wd, float64 l2",
        "raw T p, raw T m, raw T v",
        _ADAMW_ROWS_BODY,
        _adamw_rows_host,
    )
)
LEAKY_GRAD_MUL = register(
    ElementwiseSpec("wnmf_leaky_grad_mul", "T p, float64 eta", "T g", "if (p < 0) g *= (T)eta;", _leaky_host)
)


@functools.lru_cache(maxsize=1)
def get_kernel_set() -> KernelSet:
    """Build (once) and return the CuPy kernel set."""
    cp = import_cupy()
    dense, rows_kernel, leaky = ADAMW.build(cp), ADAMW_ROWS.build(cp), LEAKY_GRAD_MUL.build(cp)

    def adamw_(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay, l2_penalty):
        inv_bc1 = 1.0 / (1.0 - beta1**step)
        inv_sqrt_bc2 = 1.0 / (1.0 - beta2**step) ** 0.5
        dense(grad, lr, beta1, beta2, eps, weight_decay, l2_penalty, inv_bc1, inv_sqrt_bc2, param, m, v)

    def adamw_rows_(param, grad_rows, rows, m, v, steps, lr, beta1, beta2, eps, weight_decay, l2_penalty):
        rows = cp.asarray(rows, dtype=cp.int64)
        t = steps[rows] + 1
        k = int(param.size // param.shape[0])
        rows_kernel(
            cp.ascontiguousarray(grad_rows), rows, t, k, lr, beta1, beta2, eps, weight_decay, l2_penalty,
            param, m, v,
        )  # fmt: skip
        steps[rows] = t

    def leaky_grad_mul_(grad, param, eta):
        leaky(param, eta, grad)

    return KernelSet("cupy", adamw_, adamw_rows_, _reference_loss_grad, leaky_relu, leaky_grad_mul_)
