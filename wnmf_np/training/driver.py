"""The training driver: epochs of shuffled mini-batches of samples, AdamW, schedules,
early stopping, callbacks, progress and divergence checks.

Only the model's forward/backward pair (and its batch layout) differs between shallow,
deep and deconvolutional WNMF; everything here is shared.

One fit (``fit``, ``partial_fit`` and ``transform`` alike):

    estimator   validates its parameters, prepares the data once into a data source
                (:func:`wnmf_np.training.data.data_source`), builds the model, the
                parameters, a :class:`TrainState` and a :class:`TrainConfig`, and puts
                backend, data, model and config into one
                :class:`wnmf_np.training.context.FitContext`
    train(ctx, params, state, rng)
                asks the model for its batch layout (``ctx.data.layout_for``: the
                model's step, the data in that layout, the loss normalisation,
                :mod:`wnmf_np.models.layout`), runs the epochs below, updating
                ``params`` and ``state`` in place, and returns ``state``; ``state.eta``
                is the η of the last finished epoch, the one the fitted factors are read at
    estimator   stores the fitted attributes from ``params`` and ``state``

One epoch: draw the batch order (kept in ``state.order``), then one step per batch;
the loss stays on the device during an epoch and is synchronised with the host once per
epoch (to record the curve, check for divergence and decide early stopping), then the
epoch hook (checkpoints) and the user callback run.

One step (samples as rows, see :mod:`wnmf_np.models.shallow`):

    rows = next batch of the epoch's permutation;  X_b, obs_b = data.take(rows)
    Y, cache = step.forward(params, H[rows], η_epoch)          (b, n_layout)
    loss, G = normalisation.loss_grad_(...)   fused loss value and dL/dY (G overwrites Y),
                                              mean over the true entries, or their sum
    grads = step.backward(G, cache)
    AdamW on every trainable full parameter, and on H[rows] (lazy) or all of H (dense)
                                              (:mod:`wnmf_np.training.updates`)

The shallow model on the CPU with the numba kernels runs the same step on blocks of
features on the fit's threads instead (:mod:`wnmf_np.training.feature_blocks`: the same
updates, the products per block, so the numbers differ in the last bits).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..core.optim import AdamWConfig
from ..core.regularization import weights_of_optimizer
from ..core.threads import refresh_threads, serial_blas
from ..models.layout import LossNormalisation
from .feature_blocks import feature_blocked_step
from .state import TrainConfig, TrainState
from .updates import update_full, update_sample_rows

if TYPE_CHECKING:
    from .context import FitContext

class DivergenceError(FloatingPointError, ValueError):
    """Training produced a non-finite loss (or factors); the message says what to change.

    A ``FloatingPointError`` by nature and a ``ValueError`` for callers that treat bad
    input/settings uniformly (the usual cause is data scale or learning rate).
    """


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


def train(ctx: FitContext, params: dict, state: TrainState, rng: np.random.Generator, *,
          on_epoch: Callable[[TrainState], None] | None = None, max_steps: int | None = None) -> TrainState:  # fmt: skip
    """Run epochs until ``max_epochs``, early stopping or a callback says stop.

    Parameters
    ----------
    ctx : FitContext
        The backend, the data source of shape (n_samples, n_features), the model and
        the :class:`TrainConfig` (:mod:`wnmf_np.training.context`).
    params : dict of arrays on ``ctx.backend``, updated in place
        Shapes as ``ctx.model.param_shapes(n_samples, n_features)``.
    state : TrainState, updated in place
        A fresh one (``ctx.new_state(params)``) or one to resume from. The caller keeps
        it, so after an interruption it holds what was reached.
    rng : numpy Generator for the batch order
    on_epoch : callable(state), optional
        Called after every epoch's bookkeeping, before ``config.callback`` (the
        estimator's checkpoints).
    max_steps : int, optional
        Return once ``state.step`` reaches it, possibly inside an epoch (recorded in
        ``state`` as after an interruption; data-parallel rounds of a few steps).

    Returns
    -------
    TrainState
        ``state``, with ``state.eta`` the η of the last finished epoch.

    Notes
    -----
    A Ctrl-C (SIGINT) in the main thread takes effect at the next step boundary (a
    second one at once), as a KeyboardInterrupt with ``state`` consistent: an unfinished
    epoch is recorded in ``state.order`` / ``state.epoch_steps``, and passing that state
    back continues it exactly (see :class:`TrainState`).
    """
    xp = ctx.backend.xp
    kernels = ctx.kernels
    config = ctx.config
    trainable = ctx.trainable(params)
    step_model, source, normalisation = ctx.data.layout_for(ctx.model, config.loss.name)
    if config.l2 is None:  # callers that set λ on the optimizer only
        config = dataclasses.replace(config, l2=weights_of_optimizer(config.optimizer))
    state.eta = float(config.eta_schedule(max(state.epoch - 1, 0)))
    n_samples = source.shape[0]
    batch = min(config.batch_size, n_samples)
    steps_per_epoch = math.ceil(n_samples / batch)
    opt_cfg = config.optimizer
    start = time.perf_counter()
    last_print = -math.inf
    inside_step = False
    blocked = feature_blocked_step(ctx, step_model, source, params, trainable)
    with _DeferredInterrupt() as interrupts, _blocked_threads(blocked):
        try:
            while state.epoch < config.max_epochs and (max_steps is None or state.step < max_steps):
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
                    # this batch (out of core: read, or taken from the prefetch) and a prefetch of the next
                    nxt = host_order[(k + 1) * batch : (k + 2) * batch] if k + 1 < steps_per_epoch else None
                    if blocked is not None and blocked.reads_rows:
                        X_b = obs_b = None  # the blocked step reads the rows where they are
                    else:
                        X_b, obs_b = source.take(rows, nxt, host_rows=host_order[k * batch : (k + 1) * batch])
                    lr = opt_cfg.lr * config.lr_schedule(state.epoch if config.row_independent else state.step)
                    inside_step = True
                    if blocked is not None:
                        value = blocked.step(params, X_b, obs_b, rows, eta, lr, config, kernels, state, trainable,
                                             normalisation)  # fmt: skip
                    else:
                        value = _step(step_model, params, X_b, obs_b, rows, eta, lr, config, kernels, state, trainable,
                                      xp, normalisation)  # fmt: skip
                    # one statement: the counters of a finished step change together
                    state.epoch_loss, state.step, state.epoch_steps = state.epoch_loss + value, state.step + 1, k + 1
                    inside_step = False
                    interrupts.check()
                    if max_steps is not None and state.step >= max_steps:
                        break
                if state.epoch_steps < steps_per_epoch:  # stopped at max_steps inside the epoch
                    break
                epoch_loss = float(state.epoch_loss) / steps_per_epoch  # the one host sync per epoch
                state.epoch, state.loss_curve, state.order, state.epoch_steps, state.epoch_loss, state.step_interrupted, state.eta = (
                    state.epoch + 1, [*state.loss_curve, epoch_loss], None, 0, 0.0, False, float(eta)
                )  # fmt: skip
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
                if on_epoch is not None:
                    on_epoch(state)
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


@contextlib.contextmanager
def _blocked_threads(blocked):
    """While the feature-blocked step runs, BLAS on one thread (the step's own threads
    share the cores) and its threads stopped afterwards; nothing for the generic step."""
    if blocked is None:
        yield
        return
    try:
        with serial_blas():
            yield
    finally:
        blocked.close()


def _draw_order(state: TrainState, source, rng: np.random.Generator) -> None:
    """Draw the batch order of the next epoch into ``state.order``; an interruption during
    the draw leaves the generator as it was, so the state is still an epoch boundary."""
    before = rng.bit_generator.state
    try:
        state.order = np.asarray(source.permutation(rng))
    except BaseException:
        rng.bit_generator.state = before
        raise


def _step(model, params, X_b, obs_b, rows, eta, lr, config, kernels, state, trainable, xp, normalisation=None):
    """One mini-batch step on the data rows ``X_b`` (mask ``obs_b``) of samples ``rows``;
    returns the batch loss (device scalar or float).

    ``model`` is the step of the training layout (forward/backward in the layout's shape),
    ``normalisation`` that layout's :class:`wnmf_np.models.layout.LossNormalisation`
    (None: every entry of a row is a true entry).
    """
    sample = model.sample_param
    H_rows = params[sample][rows]
    Y, cache = model.forward(params, H_rows, eta, kernels=kernels)
    Y = xp.ascontiguousarray(Y)
    normalisation = LossNormalisation() if normalisation is None else normalisation
    value = normalisation.loss_grad_(kernels, config.loss, X_b, Y, obs_b, config.loss_reduction, config.row_independent)
    grads = model.backward(Y, cache, need=trainable, kernels=kernels)
    for name in trainable:
        g = xp.ascontiguousarray(grads[name])
        if name == model.sample_param:
            update_sample_rows(params, name, g, rows, lr, config, kernels, state, xp)
        else:
            update_full(params, name, g, lr, config, kernels, state)
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
