"""Saving and loading estimators: the ``save`` / ``load`` methods and the schema each
family's file must satisfy (the file format itself is in :mod:`wnmf_np.training.checkpoint`).

- :class:`CheckpointMixin` (WNMF, DeepWNMF, DeconvWNMF): a resumable training checkpoint
  (parameters, AdamW state, counters, loss curve, random state of the batch order, an
  unfinished epoch's batch order).
- :class:`ModelFileMixin` (MultiplicativeNMF, DeepMultiplicativeNMF, UnfoldedNMF): the
  fitted arrays and scalars; these estimators have no state to resume.

``load`` validates the whole file before building anything: the constructor parameters
through the estimator's own checks, every metadata field's type and range, and every
array's dtype, shape (consistent with the parameters and the other arrays) and values
(finite; non-negative where the model says so). Any violation is a
:class:`~wnmf_np.CheckpointError` naming the field.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..core.backend import BACKENDS, cupy_available, is_cupy_array, resolve_backend, to_numpy
from ..core.validation import declared_dtype
from ..training.checkpoint import Doc, header, open_estimator, validated, write_archive

DEVICES = tuple(b for b in BACKENDS if b != "auto")


def _placement(backend, saved: str):
    """The backend to load onto: ``backend``, or for "auto" the saved one if usable here."""
    if backend == "auto":
        backend = saved if saved != "cupy" or cupy_available() else "numpy"
    return resolve_backend(backend)


def _optional_float(value) -> float | None:
    """A fitted scalar for JSON: None where it was not computed (NaN)."""
    return float(value) if value is not None and math.isfinite(value) else None


# ============================================================ WNMF family
class LoadMixin:
    """The one ``load`` of every saved estimator; the family's mixin reads the file
    (``_load_file(path, backend)``)."""

    @classmethod
    def load(cls, path, *, backend="auto"):
        """Read a model written by :meth:`save` (a WNMF-family checkpoint is continued by
        ``fit(X, resume=True)``).

        Parameters
        ----------
        path : str or Path
            As given to :meth:`save` (with or without the ``.npz`` it appended).
        backend : {"auto", "numpy", "cupy"}
            Where to put the arrays ("auto": the backend the model was saved from if it is
            usable here, else NumPy).

        Raises
        ------
        wnmf_np.CheckpointError
            For a missing, truncated, foreign or tampered file, a file of another
            estimator class, or metadata or arrays that fail validation (a missing,
            mistyped, null, out-of-range or inconsistent field, or an invalid constructor
            parameter); the message names the field.
        """
        return cls._load_file(path, backend)


class CheckpointMixin(LoadMixin):
    """``save`` / ``load`` for :class:`wnmf_np.estimators.base.BaseWNMF` subclasses."""

    def save(self, path):
        """Write the (fitted or partially fitted) model to ``path`` (.npz, no pickle).

        Stores the parameters, the AdamW state, the training counters and loss curve, the
        random state of the batch order (and, after an interruption mid-epoch, that
        epoch's batch order and progress) and the constructor parameters; see
        :mod:`wnmf_np.training.checkpoint` for the format. ``.npz`` is appended to ``path``
        unless it ends in it, and ``load(path)`` finds the file under the same ``path``.
        The write is atomic, and removes temporaries that earlier killed saves of the
        same file left behind (docs/large_data.md).

        Returns
        -------
        pathlib.Path of the written file
        """
        check_is_fitted(self)
        return save_checkpoint(self, path)

    @classmethod
    def _load_file(cls, path, backend):
        return load_checkpoint(cls, path, backend)


def save_checkpoint(estimator, path, rng: np.random.Generator | None = None):
    """Write ``estimator``'s parameters, optimizer state and counters to ``path`` atomically.

    ``rng``: the generator of the batch order, whose state a resumed fit continues from
    (defaults to the one the estimator kept from its last fit). Returns the path written.
    """
    state = estimator.train_state_
    arrays = {f"param/{k}": to_numpy(v) for k, v in estimator.params_.items()}
    for name, st in state.opt.items():
        arrays[f"opt/{name}/m"] = to_numpy(st.m)
        arrays[f"opt/{name}/v"] = to_numpy(st.v)
        arrays[f"opt/{name}/step"] = np.asarray(to_numpy(st.step), dtype=np.int64)
    progress = None
    if state.order is not None:
        arrays["train/order"] = np.asarray(to_numpy(state.order), dtype=np.int64)
        progress = {"steps": int(state.epoch_steps), "loss_sum": float(state.epoch_loss),
                    "step_interrupted": bool(state.step_interrupted)}  # fmt: skip
    rng = rng if rng is not None else estimator._rng
    meta = {
        **header(estimator),
        "train": {
            "epoch": state.epoch,
            "step": state.step,
            "loss_curve": [float(x) for x in state.loss_curve],
            "best_loss": _optional_float(state.best_loss),
            "epochs_no_improve": state.epochs_no_improve,
            "stopped_early": state.stopped_early,
            "epoch_in_progress": progress,
        },
        "rng_state": None if rng is None else rng.bit_generator.state,
        "fitted": {
            "final_eta_": estimator.final_eta_,
            "n_features_in_": estimator.n_features_in_,
            "reconstruction_err_": _optional_float(estimator.reconstruction_err_),  # None: not computed (mid-fit)
            "backend_": estimator.backend_,
        },
    }
    return write_archive(path, arrays, meta)


def load_checkpoint(cls, path, backend="auto"):
    """Validate a training checkpoint against ``cls``'s schema and rebuild the estimator."""
    from ..core.optim import AdamWState
    from ..training.state import TrainState

    estimator, doc, entries = open_estimator(cls, path)
    fitted = doc.section("fitted")
    n_features = fitted.int("n_features_in_", low=1)

    def check_params():  # the checks of fit (the parameter table, the data's width, the model)
        estimator._validate_common()
        estimator._validate_extra(n_features)
        estimator._check_checkpointing()
        return estimator._make_model(n_features)

    model = validated(doc, check_params)
    final_eta = fitted.float("final_eta_", low=0.0, high=1.0)
    raw_error = fitted.data.get("reconstruction_err_")
    if isinstance(raw_error, float) and math.isnan(raw_error):  # how earlier versions wrote "not computed"
        fitted.value("reconstruction_err_")
        error = None
    else:
        error = fitted.float("reconstruction_err_", low=0.0, nullable=True)
    saved_backend = fitted.str("backend_", choices=DEVICES)
    fitted.finish()

    # the arrays: shapes follow from the parameters, n_features_in_ and the latents' rows
    sample = model.sample_param
    key = f"param/{sample}"
    if not entries.has(key) or entries.arrays[key].ndim < 1 or entries.arrays[key].shape[0] < 1:
        entries.get(key)  # names what is wrong (missing, or not an array of samples)
        raise entries.error(key, "must hold at least one sample's latents")
    n_samples = int(entries.arrays[key].shape[0])
    shapes = model.param_shapes(n_samples, n_features)
    dtype = declared_dtype(estimator.dtype) or (entries.arrays[key].dtype if entries.arrays[key].dtype.kind == "f" else None)
    params, opt = {}, {}
    for name, shape in shapes.items():
        params[name] = entries.get(f"param/{name}", shape=tuple(shape), dtype=dtype)
        m = entries.get(f"opt/{name}/m", shape=tuple(shape), dtype=params[name].dtype)
        v = entries.get(f"opt/{name}/v", shape=tuple(shape), dtype=params[name].dtype, non_negative=True)
        per_row = name == sample and estimator.h_update == "lazy"
        step = entries.get(f"opt/{name}/step", shape=(n_samples,) if per_row else (), dtype=np.int64, kinds="i",
                           non_negative=True)  # fmt: skip
        opt[name] = (step, m, v)

    train = doc.section("train")
    epoch = train.int("epoch", low=0)
    step = train.int("step", low=0)
    loss_curve = train.floats("loss_curve")
    if len(loss_curve) != epoch:
        raise train.error("loss_curve", f"has {len(loss_curve)} values for {epoch} epochs")
    best_loss = train.float("best_loss", nullable=True)
    epochs_no_improve = train.int("epochs_no_improve", low=0, high=epoch)
    stopped_early = train.bool("stopped_early")
    progress = train.section("epoch_in_progress", nullable=True) if train.has("epoch_in_progress") else None
    order, progress_steps, progress_loss, interrupted = None, 0, 0.0, False
    if progress is not None:
        steps_per_epoch = -(-n_samples // min(int(estimator.batch_size), n_samples))
        progress_steps = progress.int("steps", low=0, high=steps_per_epoch)
        progress_loss = progress.float("loss_sum")
        interrupted = progress.bool("step_interrupted")
        progress.finish()
        order = entries.get("train/order", shape=(n_samples,), dtype=np.int64, kinds="i", finite=False)
        if not np.array_equal(np.sort(order), np.arange(n_samples)):
            raise entries.error("train/order", f"must be a permutation of the {n_samples} samples")
    train.finish()

    rng_state = doc.value("rng_state", nullable=True)
    rng = None
    if rng_state is not None:
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = rng_state
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as exc:
            raise doc.error("rng_state", f"cannot be restored ({type(exc).__name__}: {exc})") from None
    doc.finish()
    entries.finish()

    be = _placement(backend, saved_backend)
    estimator.params_ = {k: be.asarray(v) for k, v in params.items()}
    state_opt = {}
    for name, (st, m, v) in opt.items():
        state_opt[name] = AdamWState(int(st) if st.ndim == 0 else be.asarray(st), be.asarray(m), be.asarray(v))
    estimator.train_state_ = TrainState(
        opt=state_opt, epoch=epoch, step=step, loss_curve=loss_curve,
        best_loss=math.inf if best_loss is None else best_loss, epochs_no_improve=epochs_no_improve,
        stopped_early=stopped_early, order=order, epoch_steps=progress_steps, epoch_loss=progress_loss,
        step_interrupted=interrupted,
    )  # fmt: skip
    estimator.final_eta_ = final_eta
    estimator.n_features_in_ = n_features
    estimator.reconstruction_err_ = float("nan") if error is None else error
    estimator.backend_ = be.name
    estimator.n_iter_ = epoch
    estimator.loss_curve_ = list(loss_curve)
    estimator._rng = rng
    estimator.model_ = model
    estimator._set_derived(be)
    estimator._record_negativity()
    return estimator


# ========================================================= multiplicative family
class ModelFileMixin(LoadMixin):
    """``save`` / ``load`` for the multiplicative-update estimators (fitted state only).

    A subclass provides ``_file_state() -> (arrays, fitted)`` (host arrays and JSON
    scalars) and ``_restore_file_state(fitted: Doc, entries: Entries, backend)``, which
    reads and validates them back; ``_check_params()`` validates the constructor
    parameters.
    """

    def save(self, path):
        """Write the fitted model to ``path`` (.npz, no pickle; ``.npz`` is appended
        unless ``path`` ends in it). The write is atomic.

        Stores the fitted arrays, the fitted scalars and the constructor parameters
        (see :mod:`wnmf_np.training.checkpoint`); :meth:`load` reads it back, and ``transform``
        of the loaded model equals that of this one.

        Returns
        -------
        pathlib.Path of the written file
        """
        self._check_fitted()
        arrays, fitted = self._file_state()
        fitted = {**fitted, "backend_": "cupy" if any(is_cupy_array(a) for a in arrays.values()) else "numpy"}
        arrays = {f"param/{k}": to_numpy(v) for k, v in arrays.items()}
        return write_archive(path, arrays, {**header(self), "fitted": fitted})

    @classmethod
    def _load_file(cls, path, backend):
        estimator, doc, entries = open_estimator(cls, path)

        validated(doc, estimator._check_params)  # the checks of fit (the parameter table)
        fitted = doc.section("fitted")
        be = _placement(backend, fitted.str("backend_", choices=DEVICES))
        estimator._restore_file_state(fitted, entries, be)  # arrays "param/<name>"
        fitted.finish()
        doc.finish()
        entries.finish()
        return estimator


def fitted_common(fitted: Doc, estimator, *, n_iter_high: int | None) -> dict:
    """The scalars every multiplicative estimator saves, validated: n_features_in_,
    n_iter_ (<= ``n_iter_high``), reconstruction_err_ (>= 0), loss_curve_ (>= 1 value)."""
    out = {
        "n_features_in_": fitted.int("n_features_in_", low=1),
        "n_iter_": fitted.int("n_iter_", low=0, high=n_iter_high),
        "reconstruction_err_": fitted.float("reconstruction_err_", low=0.0),
        "loss_curve_": fitted.floats("loss_curve_", low=0.0),  # objectives: never negative
    }
    if not out["loss_curve_"]:
        raise fitted.error("loss_curve_", "is empty")
    return out
