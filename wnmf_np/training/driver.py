"""The training driver: epochs of shuffled mini-batches of samples, AdamW, schedules,
early stopping, callbacks, progress and divergence checks.

Only the model's forward/backward pair differs between shallow, deep and deconvolutional
WNMF; everything here is shared. One step (samples as rows, see :mod:`wnmf_np.models.shallow`):

    rows = next batch of the epoch's permutation
    Y, cache = model.forward(params, H[rows], η_epoch)        (b, n_features)
    loss, G = fused loss value and dL/dY (G overwrites Y)
    grads = model.backward(G, cache)
    AdamW on every trainable full parameter, and on H[rows] (lazy) or all of H (dense)

The loss stays on the device during an epoch; it is synchronised with the host once per
epoch (to record the curve, check for divergence and decide early stopping).
"""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..core.backend import Backend
from ..core.losses import LossSpec
from ..core.optim import AdamWConfig, AdamWState, init_state
from ..core.regularization import OBJECTIVE_MODES, L2Weights, weights_of_optimizer
from ..core.threads import refresh_threads
from ..kernels import KernelSet
from .data import InMemoryData, OutOfCoreData

H_UPDATES = ("lazy", "dense")


class DivergenceError(FloatingPointError, ValueError):
    """Training produced a non-finite loss (or factors); the message says what to change.

    A ``FloatingPointError`` by nature and a ``ValueError`` for callers that treat bad
    input/settings uniformly (the usual cause is data scale or learning rate).
    """


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


class TrainingLayout(NamedTuple):
    """The data in the layout a model trains in, and the model's step in that layout.

    A model may offer ``training_layout(X, observed, loss_name)`` returning one of these
    (or None to train on X as it is). The deconvolutional model keeps its data in the
    GEMM's phase layout, padded with entries where the data and the reconstruction are
    both zero (unobserved in a mask), so a step needs no image <-> phase copies.
    """

    model: Any  # forward/backward with Y and G in the layout's shape
    X: Any  # (n_samples, n_padded)
    observed: Any  # bool like X, or None
    entries_per_row: int  # the true entries of one sample: the loss mean's denominator per row


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
    taken again, so the run goes on correctly but not bit for bit.
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


class _DeferredInterrupt:
    """Hold the first Ctrl-C (SIGINT) until the training loop reaches a step boundary.

    Installed only in the main thread and only over Python's default handler (a handler
    of the application is left alone). The first SIGINT is remembered and raised as
    KeyboardInterrupt at the next :meth:`check` (after a step, or after an epoch's
    bookkeeping and callback), where the training state is consistent; a second SIGINT
    raises at once.
    """

    def __init__(self):
        self.pending = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def check(self):
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if exc_type is None:
            self.check()  # a Ctrl-C after the last step: honour it now
        return False


def init_train_state(params: dict, trainable: tuple, sample_param: str, h_update: str) -> TrainState:
    """Fresh optimizer state for every trainable parameter (per-row for lazy latents)."""
    opt = {}
    for name in trainable:
        per_row = name == sample_param and h_update == "lazy"
        opt[name] = init_state(params[name], per_row=per_row)
    return TrainState(opt=opt)


def train(
    model: Any,
    params: dict,
    X,
    observed,
    config: TrainConfig,
    backend: Backend,
    kernels: KernelSet,
    rng: np.random.Generator,
    *,
    trainable: tuple = ("W", "H"),
    state: TrainState | None = None,
    on_state: Callable[[dict], None] | None = None,
) -> TrainState:
    """Run epochs until ``max_epochs``, early stopping or a callback says stop.

    Parameters
    ----------
    model : object with ``sample_param``, ``forward(params, H_rows, eta)`` and
        ``backward(G, cache, need)``, optionally ``training_layout`` (see
        :class:`TrainingLayout`; in-memory data only)
    params : dict of arrays on ``backend``, updated in place
    X : array of shape (n_samples, n_features) on ``backend`` (missing entries zero),
        or a data source of :mod:`wnmf_np.training.data` (e.g. out of core)
    observed : bool array like X, or None (ignored for a data source)
    config : TrainConfig
    backend : Backend
    kernels : KernelSet
    rng : numpy Generator for the batch order
    trainable : names of the parameters to update (e.g. only the latents in ``transform``)
    state : TrainState to resume from, or None to start afresh
    on_state : callable, optional
        Called once with ``{"state": state}`` before the first epoch, so the caller can
        reach the live state (for checkpoints, or to keep it after an interruption).

    Returns
    -------
    TrainState

    Notes
    -----
    A Ctrl-C (SIGINT) in the main thread takes effect at the next step boundary (a
    second one at once), as a KeyboardInterrupt with ``state`` consistent: an unfinished
    epoch is recorded in ``state.order`` / ``state.epoch_steps``, and passing that state
    back continues it exactly (see :class:`TrainState`).
    """
    xp = backend.xp
    sample = model.sample_param
    entries_per_row = None
    layout = _training_layout(model, X, observed, config)
    if layout is not None:
        model, X, observed, entries_per_row = layout
    source = X if isinstance(X, (InMemoryData, OutOfCoreData)) else InMemoryData(X, observed)
    if config.l2 is None:  # callers that set λ on the optimizer only
        config = dataclasses.replace(config, l2=weights_of_optimizer(config.optimizer))
    if state is None:
        state = init_train_state(params, trainable, sample, config.h_update)
    if on_state is not None:
        on_state({"state": state})
    n_samples = source.shape[0]
    batch = min(config.batch_size, n_samples)
    steps_per_epoch = math.ceil(n_samples / batch)
    opt_cfg = config.optimizer
    start = time.perf_counter()
    last_print = -math.inf
    inside_step = False
    with _DeferredInterrupt() as interrupts:
        try:
            while state.epoch < config.max_epochs:
                refresh_threads()  # follow the machine's load (n_threads=None), at most once a second
                eta = config.eta_schedule(state.epoch)
                if state.order is None:
                    _draw_order(state, source, rng)
                host_order = state.order
                order = xp.asarray(host_order)
                # (the rate of the step before, for an epoch resumed after its last step)
                lr = opt_cfg.lr * config.lr_schedule(state.epoch if config.row_independent else max(state.step - 1, 0))
                for k in range(state.epoch_steps, steps_per_epoch):
                    rows = order[k * batch : (k + 1) * batch]
                    if source.out_of_core:  # read this batch (prefetched) and start reading the next
                        nxt = host_order[(k + 1) * batch : (k + 2) * batch] if k + 1 < steps_per_epoch else None
                        X_b, obs_b = source.take(host_order[k * batch : (k + 1) * batch], nxt)
                    else:
                        X_b, obs_b = source.take(rows)
                    lr = opt_cfg.lr * config.lr_schedule(state.epoch if config.row_independent else state.step)
                    inside_step = True
                    value = _step(model, params, X_b, obs_b, rows, eta, lr, config, kernels, state, trainable, xp,
                                  entries_per_row)  # fmt: skip
                    # one statement: the counters of a finished step change together
                    state.epoch_loss, state.step, state.epoch_steps = state.epoch_loss + value, state.step + 1, k + 1
                    inside_step = False
                    interrupts.check()
                epoch_loss = float(state.epoch_loss) / steps_per_epoch  # the one host sync per epoch
                state.epoch, state.loss_curve, state.order, state.epoch_steps, state.epoch_loss, state.step_interrupted = (
                    state.epoch + 1, [*state.loss_curve, epoch_loss], None, 0, 0.0, False
                )
                if not math.isfinite(epoch_loss):
                    raise DivergenceError(_divergence_message(epoch_loss, state.epoch, opt_cfg, source.max_abs(xp)))
                stop = _early_stop(state, epoch_loss, config)
                elapsed = time.perf_counter() - start
                info = {"loss": epoch_loss, "eta": eta, "lr": lr, "elapsed": elapsed, "epoch": state.epoch}
                if config.verbose and (config.verbose > 1 or elapsed - last_print >= 1.0 or stop or state.epoch == config.max_epochs):
                    last_print = elapsed
                    print(
                        f"[wnmf_np {config.label}] epoch {state.epoch:>4d}/{config.max_epochs}  loss {epoch_loss:.6g}  "
                        f"eta {eta:.3g}  lr {lr:.3g}  {elapsed:.1f}s",
                        file=sys.stdout,
                        flush=True,
                    )
                if config.callback is not None and config.callback(state.epoch, info):
                    break
                if stop:
                    state.stopped_early = True
                    break
                interrupts.check()
        except KeyboardInterrupt:
            if inside_step:  # a forced (second) Ctrl-C: the step's updates are partly applied
                state.step_interrupted = True
            raise
    # the last step's update comes after the last loss: it too must not hand back inf/NaN
    for name in trainable:
        if not bool(xp.isfinite(params[name]).all()):
            raise DivergenceError(_divergence_message("non-finite", state.epoch, opt_cfg, source.max_abs(xp), what=name))
    return state


def _draw_order(state: TrainState, source, rng: np.random.Generator) -> None:
    """Draw the batch order of the next epoch into ``state.order``; an interruption during
    the draw leaves the generator as it was, so the state is still an epoch boundary."""
    before = rng.bit_generator.state
    try:
        state.order = np.asarray(source.permutation(rng))
    except BaseException:
        rng.bit_generator.state = before
        raise


def _training_layout(model, X, observed, config) -> TrainingLayout | None:
    """The model's own training layout of in-memory data, if it has one."""
    offer = getattr(model, "training_layout", None)
    if offer is None or isinstance(X, (InMemoryData, OutOfCoreData)):
        return None
    return offer(X, observed, config.loss.name)


def _step(model, params, X_b, obs_b, rows, eta, lr, config, kernels, state, trainable, xp, entries_per_row=None):
    """One mini-batch step on the data rows ``X_b`` (mask ``obs_b``) of samples ``rows``;
    returns the batch loss (device scalar or float). ``entries_per_row``: the true entries
    of a row of a padded training layout (None: all of them)."""
    sample = model.sample_param
    H_rows = params[sample][rows]
    Y, cache = model.forward(params, H_rows, eta)
    Y = xp.ascontiguousarray(Y)
    n_entries = None if entries_per_row is None else Y.shape[0] * entries_per_row
    value = kernels.loss_grad_(config.loss.name, X_b, Y, obs_b, config.loss.param, n_entries)
    if config.loss_reduction == "sum":
        # a device scalar of Y's dtype when masked: counting on the host would sync every
        # step on a GPU, and a float64 factor would make the in-place product a casting loop
        n_obs = (Y.size if n_entries is None else n_entries) if obs_b is None else obs_b.sum().astype(Y.dtype)
        Y *= n_obs
        value = value * n_obs
    elif config.row_independent:
        Y *= Y.shape[0]  # per-row mean loss: no dependence on the batch's composition
    grads = model.backward(Y, cache, need=trainable, kernels=kernels)
    o, l2 = config.optimizer, config.l2
    for name in trainable:
        st: AdamWState = state.opt[name]
        g = xp.ascontiguousarray(grads[name])
        if name != sample:
            t = st.step + 1
            kernels.adamw_(params[name], g, st.m, st.v, t, lr, o.beta1, o.beta2, o.eps, l2.weight_decay,
                           l2.coefficient(name))  # fmt: skip
            state.opt[name] = st._replace(step=t)
            continue
        lr_h = lr * config.latent_lr_factor
        c = l2.sample_coefficient(len(rows), config.row_independent)
        if config.h_update == "lazy":
            kernels.adamw_rows_(params[name], g, rows, st.m, st.v, st.step, lr_h, o.beta1, o.beta2, o.eps,
                                l2.weight_decay, c)  # fmt: skip
            continue
        # dense: what a framework optimizer over the whole H does; the objective forms
        # penalise the batch rows only (their mini-batch estimate), "penalty" all rows
        full = xp.zeros_like(params[name])
        rows_only = l2.mode in OBJECTIVE_MODES
        full[rows] = g + (2.0 * c) * params[name][rows] if rows_only and c else g
        t = st.step + 1
        kernels.adamw_(params[name], full, st.m, st.v, t, lr_h, o.beta1, o.beta2, o.eps, l2.weight_decay,
                       0.0 if rows_only else c)  # fmt: skip
        state.opt[name] = st._replace(step=t)
    return value


def _early_stop(state: TrainState, loss: float, config: TrainConfig) -> bool:
    """Count epochs without a relative improvement of ``tol``; True when it is time to stop.

    The first epoch always improves on the initial ``best_loss = inf`` (``inf - tol·inf``
    would be NaN, and no loss is below NaN).
    """
    if config.n_iter_no_change is None or config.row_independent:
        return False
    if not math.isfinite(state.best_loss) or loss < state.best_loss - config.tol * abs(state.best_loss):
        state.best_loss = loss
        state.epochs_no_improve = 0
        return False
    state.epochs_no_improve += 1
    return state.epochs_no_improve >= config.n_iter_no_change


def _divergence_message(loss, epoch, opt: AdamWConfig, scale: float, what: str = "the epoch loss") -> str:
    return (
        f"training diverged: {what} became {loss} at epoch {epoch}. "
        f"Try a smaller learning rate (lr={opt.lr:g}), scaling the data (max |X| = {scale:.3g}; "
        "values of order 1 work best, e.g. divide by X.max()), or dtype='float64'."
    )
