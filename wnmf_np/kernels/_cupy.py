"""CuPy (CUDA) kernels: fused AdamW updates; losses use the namespace-generic reference.

Imported only when the CuPy backend is used (``import wnmf_np`` never imports CuPy).
Nothing here synchronises with the host: loss values stay 0-d device arrays.
"""

from __future__ import annotations

import functools

from .._backend import import_cupy
from . import KernelSet
from ._reference import loss_grad_ as _reference_loss_grad

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


@functools.lru_cache(maxsize=1)
def get_kernel_set() -> KernelSet:
    """Build (once) and return the CuPy kernel set."""
    cp = import_cupy()
    dense = cp.ElementwiseKernel(
        "T g, float64 lr, float64 b1, float64 b2, float64 eps, float64 wd, float64 l2, "
        "float64 inv_bc1, float64 inv_sqrt_bc2",
        "T p, T m, T v",
        _ADAMW_BODY,
        "wnmf_adamw",
    )
    rows_kernel = cp.ElementwiseKernel(
        "T g, raw int64 rows, raw int64 t, int64 k, float64 lr, float64 b1, float64 b2, "
        "float64 eps, float64 wd, float64 l2",
        "raw T p, raw T m, raw T v",
        _ADAMW_ROWS_BODY,
        "wnmf_adamw_rows",
    )

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

    leaky = cp.ElementwiseKernel("T p, float64 eta", "T g", "if (p < 0) g *= (T)eta;", "wnmf_leaky_grad_mul")

    def leaky_grad_mul_(grad, param, eta):
        leaky(param, eta, grad)

    return KernelSet("cupy", adamw_, adamw_rows_, _reference_loss_grad, leaky_grad_mul_)
