"""Reference kernels: the plain array code of :mod:`wnmf_np.core.optim` and
:mod:`wnmf_np.core.losses` behind the in-place kernel interface. Works on any namespace."""

from __future__ import annotations

from ...core.activations import leaky_relu, leaky_relu_grad
from ...core.losses import LOSSES
from ...core.optim import AdamWConfig, AdamWState, adamw_reference, adamw_rows_reference
from . import KernelSet


def adamw_(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """In-place AdamW step on a whole parameter; ``step`` is the new step count t."""
    config = AdamWConfig(lr, beta1, beta2, eps, weight_decay, l2_penalty)
    new_p, new_state = adamw_reference(param, grad, AdamWState(step - 1, m, v), config, lr)
    param[...], m[...], v[...] = new_p, new_state.m, new_state.v


def adamw_rows_(param, grad_rows, rows, m, v, steps, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """In-place AdamW step on ``param[rows]`` with per-row step counts."""
    config = AdamWConfig(lr, beta1, beta2, eps, weight_decay, l2_penalty)
    new_p, new_state = adamw_rows_reference(param, grad_rows, rows, AdamWState(steps, m, v), config, lr)
    param[...], m[...], v[...], steps[...] = new_p, new_state.m, new_state.v, new_state.step


def loss_grad_(name, X, Y, observed, param, n_entries=None):
    """Loss value; ``Y`` is overwritten with dL/dY (``n_entries``: see the package docstring)."""
    value, grad = LOSSES[name](X, Y, observed, param, n_entries)
    Y[...] = grad
    return value


def leaky_grad_mul_(grad, param, eta):
    """grad ← grad ⊙ φη'(param), in place."""
    grad *= leaky_relu_grad(param, eta)


def adamw_leaky_(param, grad_act, m, v, act, eta, step, lr, beta1, beta2, eps, weight_decay, l2_penalty):
    """The oracle of the numba ``adamw_leaky_``: the chain rule through φη, AdamW, then
    ``act`` ← φη(param), as three separate steps."""
    leaky_grad_mul_(grad_act, param, eta)
    adamw_(param, grad_act, m, v, step, lr, beta1, beta2, eps, weight_decay, l2_penalty)
    act[...] = leaky_relu(param, eta)


def loss_grad_columns_(name, X, start, Y, observed, param, inv_n, factor=None, rows=None):
    """The oracle of the numba ``loss_grad_columns_``: the reference loss of the block's
    columns, rescaled from the block's own mean to ``inv_n``; returns ``Σ w f``."""
    if rows is not None:
        X, observed = X[rows], None if observed is None else observed[rows]
    cols = slice(start, start + Y.shape[1])
    obs = None if observed is None else observed[:, cols]
    n_block = Y.size if obs is None else max(int(obs.sum()), 1)
    value, grad = LOSSES[name](X[:, cols], Y, obs, param)
    Y[...] = grad * (n_block * inv_n) * (1.0 if factor is None else factor)
    return float(value) * n_block


KERNELS = KernelSet("reference", adamw_, adamw_rows_, loss_grad_, leaky_relu, leaky_grad_mul_)
