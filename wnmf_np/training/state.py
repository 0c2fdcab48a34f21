"""What one training run is told (:class:`TrainConfig`) and what it carries from step to
step and across interruptions (:class:`TrainState`): the driver's inputs and its state,
apart from the driver itself, so that the fit context and checkpoints can build them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.losses import LossSpec
from ..core.optim import AdamWConfig, init_state
from ..core.regularization import L2Weights

H_UPDATES = ("lazy", "dense")



@dataclass
class TrainConfig:
    """Everything the driver needs besides the model, parameters and data.

    Attributes
    ----------
    loss : LossSpec
    optimizer : AdamWConfig
        lr, betas, eps; its ``weight_decay`` / ``l2_penalty`` are used only when ``l2`` is None.
    batch_size, max_epochs : int
    eta_schedule : callable epoch -> η
    lr_schedule : callable step -> factor of ``optimizer.lr``
    h_update : {"lazy", "dense"}
    latent_lr_factor : float
        The per-sample parameter (latents) steps with ``lr * latent_lr_factor``.
    l2 : L2Weights or None
        The per-step coefficients of λ (:mod:`wnmf_np.core.regularization`); None: no λ.
    loss_reduction : {"mean", "sum"}
        "sum" multiplies the mean-reduced batch loss and its gradient by the number of
        observed entries of the batch (the paper's ‖X_b − Y_b‖₁). Under Adam this only
        changes how the loss weighs against an explicit penalty (``l2_mode="penalty"``).
    row_independent : bool
        Make each sample's updates independent of the other samples (used by
        ``transform``): the loss of a row is its mean over features (the batch mean times
        b), the learning-rate schedule advances per epoch, and early stopping is off.
    tol : float
        An epoch improves when its loss is below ``best * (1 - tol)``.
    n_iter_no_change : int or None
        Stop after this many epochs without improvement (None: never stop early).
    verbose : int
    callback : callable(epoch, info) -> bool or None, optional
        Called after every epoch with a dict (loss, eta, lr, elapsed); return True to stop.
    label : str
        How progress lines name the run ("fit", "transform", "partial_fit").
    trainable : tuple of str or None
        The parameters to update (e.g. only the latents in ``transform``); None: all.
    """

    loss: LossSpec
    optimizer: AdamWConfig
    batch_size: int
    max_epochs: int
    eta_schedule: Callable[[int], float]
    lr_schedule: Callable[[int], float]
    h_update: str = "lazy"
    l2: L2Weights | None = None
    latent_lr_factor: float = 1.0
    row_independent: bool = False
    loss_reduction: str = "mean"
    tol: float = 1e-4
    n_iter_no_change: int | None = 10
    verbose: int = 0
    callback: Callable | None = None
    label: str = "fit"
    trainable: tuple | None = None


@dataclass
class TrainState:
    """Mutable training state: optimizer states, counters and history (resumable).

    ``order``, ``epoch_steps`` and ``epoch_loss`` describe an epoch in progress (an
    interruption between two steps): its batch order (a host permutation of the samples),
    how many of its steps were taken and the sum of their losses. At an epoch boundary
    ``order`` is None. ``train`` continues such an epoch where it stopped, so the result is
    that of an uninterrupted run. ``step_interrupted`` records that an interruption landed
    inside a step (only possible for a second Ctrl-C, or where the first cannot be
    deferred, see :func:`train`): that step's partial updates are kept and the step is
    taken again, so the run goes on correctly but not bit for bit. ``eta`` is the η of
    the last finished epoch (of epoch 0 before any), set by :func:`train`; it is not
    stored in checkpoints (``final_eta_`` is).
    """

    opt: dict = field(default_factory=dict)
    epoch: int = 0
    step: int = 0
    loss_curve: list = field(default_factory=list)
    best_loss: float = math.inf
    epochs_no_improve: int = 0
    stopped_early: bool = False
    order: Any = None
    epoch_steps: int = 0
    epoch_loss: Any = 0.0
    step_interrupted: bool = False
    eta: float | None = None


def init_train_state(params: dict, trainable: tuple, sample_param: str, h_update: str) -> TrainState:
    """Fresh optimizer state for every trainable parameter (per-row for lazy latents)."""
    opt = {}
    for name in trainable:
        per_row = name == sample_param and h_update == "lazy"
        opt[name] = init_state(params[name], per_row=per_row)
    return TrainState(opt=opt)


def append_sample_rows(xp, H_old, opt_old, H_new, opt_new):
    """``(H, opt)``: the latents and AdamW state of new samples after those of earlier ones
    (``partial_fit``). Per-row step counts (lazy latents) are concatenated too; a dense
    update's single count is the new one's.

    Parameters
    ----------
    xp : array namespace of the result (numpy or cupy); the old rows may be on the host
    H_old : array (n_old, ...), H_new : array (n_new, ...)
    opt_old, opt_new : AdamWState of those latents
    """
    step = opt_new.step
    if xp.ndim(step) > 0:
        step = xp.concatenate([xp.asarray(opt_old.step), step])
    opt = opt_new._replace(step=step, m=xp.concatenate([xp.asarray(opt_old.m), opt_new.m]),
                           v=xp.concatenate([xp.asarray(opt_old.v), opt_new.v]))  # fmt: skip
    return xp.concatenate([xp.asarray(H_old), H_new]), opt
