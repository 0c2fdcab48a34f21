"""AdamW (Loshchilov & Hutter, ICLR 2019) with explicit state.

For a parameter p with gradient g at step t (t counts from 1), one update is

    g ← g + 2 λ_p p                          (only in ``l2_mode="penalty"``: ∂/∂p of λ_p ‖p‖²)
    p ← p (1 - lr λ_d)                        (decoupled weight decay, ``l2_mode="decoupled"``)
    m ← β1 m + (1 - β1) g
    v ← β2 v + (1 - β2) g²
    p ← p - lr · m̂ / (√v̂ + ε),   m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)

i.e. ε is added to the bias-corrected root second moment, as in ``torch.optim.AdamW``
(whose defaults are lr 1e-3, β = (0.9, 0.999), ε = 1e-8). With both λ's zero it is Adam.

Row-wise (lazy) updates: a parameter whose rows belong to samples (the latents H) can be
updated for a subset of rows only. Each row then has its own step count t_i, so the
bias correction of a row is exactly that of an Adam optimizer that has seen only this
row's gradients; rows outside the batch do not change at all (their moments do not decay
and no weight decay applies). A framework optimizer over the whole H instead updates
every row every step (``h_update="dense"``).

The functions here are the plain reference used as the test oracle; the fused in-place
kernels live in :mod:`wnmf_np.kernels`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .backend import namespace_of


class AdamWConfig(NamedTuple):
    """Hyper-parameters of AdamW.

    Attributes
    ----------
    lr : float
        Base learning rate (a schedule may scale it per step).
    beta1, beta2 : float
        Exponential decay rates of the first and second moments.
    eps : float
        Added to √v̂ in the denominator.
    weight_decay : float
        Decoupled weight decay λ_d (multiplied by the current learning rate).
    l2_penalty : float
        Coefficient λ_p of an explicit penalty λ_p ‖p‖² added to the objective.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    l2_penalty: float = 0.0


class AdamWState(NamedTuple):
    """Optimizer state of one parameter.

    Attributes
    ----------
    step : int or int64 array of shape (n_rows,)
        Number of updates taken (per row for row-wise state).
    m, v : arrays of the parameter's shape
        First and second moment estimates.
    """

    step: Any
    m: Any
    v: Any


def init_state(param, *, per_row: bool = False) -> AdamWState:
    """Zero moments (and step counts) for ``param``; per-row counts for lazy row updates."""
    xp = namespace_of(param)
    step = xp.zeros(param.shape[0], dtype=xp.int64) if per_row else 0
    return AdamWState(step, xp.zeros_like(param), xp.zeros_like(param))


def adamw_reference(param, grad, state: AdamWState, config: AdamWConfig, lr: float):
    """One AdamW step on the whole parameter, out of place (the test oracle).

    Parameters
    ----------
    param, grad : arrays of the same shape
    state : AdamWState with an integer ``step``
    config : AdamWConfig
    lr : float
        Learning rate of this step (``config.lr`` times the schedule factor).

    Returns
    -------
    new_param : array
    new_state : AdamWState
    """
    xp = namespace_of(param)
    b1, b2 = config.beta1, config.beta2
    t = state.step + 1
    g = grad + 2.0 * config.l2_penalty * param if config.l2_penalty else grad
    p = param * (1.0 - lr * config.weight_decay)
    m = b1 * state.m + (1.0 - b1) * g
    v = b2 * state.v + (1.0 - b2) * g * g
    m_hat = m / (1.0 - b1**t)
    v_hat = v / (1.0 - b2**t)
    p = p - lr * m_hat / (xp.sqrt(v_hat) + config.eps)
    return p.astype(param.dtype, copy=False), AdamWState(t, m.astype(param.dtype), v.astype(param.dtype))


def adamw_rows_reference(param, grad_rows, rows, state: AdamWState, config: AdamWConfig, lr: float):
    """One AdamW step on ``param[rows]`` only, with per-row step counts (out of place).

    Parameters
    ----------
    param : array of shape (n_rows, ...)
    grad_rows : array of shape (len(rows), ...)
        Gradient w.r.t. ``param[rows]``.
    rows : int array of shape (b,), distinct row indices
    state : AdamWState with ``step`` an int array of shape (n_rows,)

    Returns
    -------
    new_param, new_state : as :func:`adamw_reference`; rows not in ``rows`` are unchanged.
    """
    xp = namespace_of(param)
    b1, b2 = config.beta1, config.beta2
    t = state.step[rows] + 1
    t_b = t.reshape((-1,) + (1,) * (param.ndim - 1)).astype(xp.float64)
    p0 = param[rows]
    g = grad_rows + 2.0 * config.l2_penalty * p0 if config.l2_penalty else grad_rows
    p = p0 * (1.0 - lr * config.weight_decay)
    m = b1 * state.m[rows] + (1.0 - b1) * g
    v = b2 * state.v[rows] + (1.0 - b2) * g * g
    m_hat = m / (1.0 - b1**t_b)
    v_hat = v / (1.0 - b2**t_b)
    p = p - lr * m_hat / (xp.sqrt(v_hat) + config.eps)
    new_param, new_m, new_v, new_step = param.copy(), state.m.copy(), state.v.copy(), state.step.copy()
    new_param[rows], new_m[rows], new_v[rows], new_step[rows] = p, m, v, t
    return new_param, AdamWState(new_step, new_m, new_v)
