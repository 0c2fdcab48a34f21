"""The optimizer updates of one training step: AdamW on a whole parameter and on the
batch rows of the per-sample parameter (the latents), with the step's λ coefficients.

Shared by the generic step of :mod:`wnmf_np.training.driver` and the feature-blocked
shallow step of :mod:`wnmf_np.training.feature_blocks`, so both update alike.
"""

from __future__ import annotations

from ..core.optim import AdamWState
from ..core.regularization import OBJECTIVE_MODES


def update_full(params: dict, name: str, grad, lr: float, config, kernels, state) -> None:
    """One AdamW step on the whole parameter ``params[name]`` with gradient ``grad`` (same
    shape, C-contiguous), in place; advances its step count in ``state.opt``."""
    st: AdamWState = state.opt[name]
    o, l2 = config.optimizer, config.l2
    t = st.step + 1
    kernels.adamw_(params[name], grad, st.m, st.v, t, lr, o.beta1, o.beta2, o.eps, l2.weight_decay,
                   l2.coefficient(name))  # fmt: skip
    state.opt[name] = st._replace(step=t)


def update_sample_rows(params: dict, name: str, grad_rows, rows, lr: float, config, kernels, state, xp) -> None:
    """One AdamW step of the per-sample parameter ``params[name]`` (n_samples, ...) given the
    gradient of its batch rows ``grad_rows`` (len(rows), ...), in place.

    ``config.h_update="lazy"``: only the batch rows step (per-row step counts); ``"dense"``:
    all of it steps, as a framework optimizer over the whole parameter does, with zero
    gradient outside the batch. The objective forms of λ penalise the batch rows only
    (their mini-batch estimate), ``"penalty"`` all rows.
    """
    st: AdamWState = state.opt[name]
    o, l2 = config.optimizer, config.l2
    lr_h = lr * config.latent_lr_factor
    c = l2.sample_coefficient(len(rows), config.row_independent)
    if config.h_update == "lazy":
        kernels.adamw_rows_(params[name], grad_rows, rows, st.m, st.v, st.step, lr_h, o.beta1, o.beta2, o.eps,
                            l2.weight_decay, c)  # fmt: skip
        return
    full = xp.zeros_like(params[name])
    rows_only = l2.mode in OBJECTIVE_MODES
    full[rows] = grad_rows + (2.0 * c) * params[name][rows] if rows_only and c else grad_rows
    t = st.step + 1
    kernels.adamw_(params[name], full, st.m, st.v, t, lr_h, o.beta1, o.beta2, o.eps, l2.weight_decay,
                   0.0 if rows_only else c)  # fmt: skip
    state.opt[name] = st._replace(step=t)
