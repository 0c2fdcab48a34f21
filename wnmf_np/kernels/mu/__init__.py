"""The multiplicative-update (MU) kernel family: the element-wise passes of an MU step.

Every implementation provides the same operations (formulas: :mod:`wnmf_np.mu.updates`):

``mu_step(xp, F, num, den, l1, l2, gamma, eps) -> F``
    ``F ← max(F ⊙ (num / max(den + l1 + l2 F, eps))^γ, eps)`` in place; ``num`` may be
    overwritten. All arrays share one shape (2-D); scalars are Python floats.
``beta_weights(xp, X, Y, beta, eps, mask) -> (Q, P)``
    ``Q = M ⊙ X ⊙ Y^(β-2)``, ``P = M ⊙ Y^(β-1)`` from ``Y = H @ Wt`` (overwritten); ``P`` is
    None for β = 1 without a mask, ``Q`` is ``X`` itself for β = 2.
``sparse_hwt(X, H, Wt) -> values``
    ``(H @ Wt)[i, j]`` at every stored entry of the CSR matrix ``X`` (NumPy only).

Implementations (registered in :mod:`wnmf_np.kernels.registry` under the family ``"mu"``):
``reference`` (plain array code, any namespace, the test oracle), ``numba`` (fused
serial CPU loops) and ``cupy`` (a CUDA ``ElementwiseKernel`` for the step, built on
first use; the weights use the reference code on the GPU).

Names as in :mod:`wnmf_np.mu.updates`: ``H`` (n_samples, r) the latents, ``Wt`` (r, n_features)
the transposed basis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class MUKernels(NamedTuple):
    """The element-wise MU operations of one implementation (see the module docstring)."""

    name: str
    mu_step: Callable
    beta_weights: Callable
    sparse_hwt: Callable
