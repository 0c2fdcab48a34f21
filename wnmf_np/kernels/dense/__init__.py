"""The dense WNMF kernel family: fused AdamW, loss + gradient and φη' chain rule.

Each kernel set provides the same in-place operations:

``adamw_(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay, l2_penalty)``
    One AdamW step on a whole parameter (see :mod:`wnmf_np.core.optim` for the equations);
    ``step`` is the new step count t >= 1 used in the bias corrections.
``adamw_rows_(param, grad_rows, rows, m, v, steps, lr, beta1, beta2, eps, weight_decay, l2_penalty)``
    The same on ``param[rows]`` only, with per-row step counts ``steps`` (incremented).
    ``rows`` must be distinct (every batch is a slice of a permutation): implementations
    may update the rows concurrently.
``loss_grad_(name, X, Y, observed, param, n_entries=None) -> value``
    Loss value (0-d array or float) of :mod:`wnmf_np.core.losses`, overwriting ``Y`` with dL/dY.
    ``n_entries`` replaces the mean's denominator ``Y.size`` of an unmasked batch (ignored
    with a mask): for data in a padded layout whose padding has ``X == Y == 0``, which
    adds nothing to the L1, L2 and Huber losses (not to KL, whose f(0, 0) = ε/2).
``leaky_relu(param, eta) -> φη(param)``
    The activation of a parameter for the forward pass, as a new array.
``leaky_grad_mul_(grad, param, eta)``
    grad ← grad ⊙ φη'(param), in place: the chain rule through the leaky ReLU.

The numba module also has the two kernels of the CPU's feature-blocked shallow step
(:mod:`wnmf_np.training.feature_blocks`), outside the set: ``adamw_leaky_`` (φη′, AdamW
and φη of the result in one pass) and ``loss_grad_columns_`` (the loss of a block of a
batch's columns, reading the batch's rows in place); their oracles are in ``reference``.

Implementations (registered in :mod:`wnmf_np.kernels.registry` under the family
``"dense"``): ``reference`` (plain array code over any namespace, the test oracle),
``numba`` (CPU), ``cupy`` (GPU, built on first use). Importing this package imports none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class KernelSet(NamedTuple):
    """The fused operations of one implementation (see the module docstring)."""

    name: str
    adamw_: Callable
    adamw_rows_: Callable
    loss_grad_: Callable
    leaky_relu: Callable
    leaky_grad_mul_: Callable
