"""The estimator shell shared by WNMF, DeepWNMF and DeconvWNMF.

Subclasses provide the model (its forward/backward pair and parameter shapes) and how
latents are read off; parameter validation, data checks, backend choice, the training
driver and the sklearn API live here.

One ``fit``: :meth:`BaseWNMF._fit_context` validates the parameters, prepares the data
once (:meth:`BaseWNMF._prepare`, the one place X becomes a data source), builds the model
and the :class:`~wnmf_np.training.driver.TrainConfig` and returns a
:class:`~wnmf_np.training.context.FitContext`; ``_fit`` initialises (or resumes) the
parameters and the training state, hands the context to the driver
(:func:`wnmf_np.training.driver.train`) and stores what it returns (:meth:`BaseWNMF._store`).
``partial_fit`` (:mod:`wnmf_np.estimators.streaming`) and ``transform`` go the same way.
"""

from __future__ import annotations

import warnings

from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..core.backend import Backend, resolve_backend
from ..core.losses import KL_EPS, LossSpec
from ..core.optim import AdamWConfig
from ..core.regularization import AUTO_L2, OBJECTIVE_MODES, make_l2_weights, resolve_l2
from ..core.schedules import make_eta_schedule, make_lr_schedule
from ..core.threads import limit_threads
from ..core.validation import (
    check_feature_names,
    check_random_state_seed,
    preserved_dtypes,
    record_feature_names,
    resolve_dtype,
)
from ..metrics import negativity
from ..training.context import FitContext
from ..training.data import SumOfSquares, data_source
from ..training.driver import train
from ..training.state import TrainConfig
from .persistence import CheckpointMixin
from .streaming import StreamingMixin


class BaseWNMF(ClassNamePrefixFeaturesOutMixin, CheckpointMixin, StreamingMixin, TransformerMixin, BaseEstimator):
    """Common machinery; see :class:`wnmf_np.WNMF` for the parameters."""

    #: λ of ``l2="auto"`` by loss (:mod:`wnmf_np.core.regularization`)
    _auto_l2 = AUTO_L2
    #: the generator of the batch order a fit leaves for ``fit(resume=True)``, ``partial_fit``
    #: and ``save`` (None: none yet; they start from ``random_state``)
    _rng = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.nan_policy == "omit"
        tags.requires_fit = True
        if self.loss == "kl":
            tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = preserved_dtypes(self.dtype)
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        # not "any attribute ending in _": feature_names_in_ is set before training starts
        return hasattr(self, "params_")

    @property
    def _n_features_out(self) -> int:
        """Columns of ``transform``'s output (``get_feature_names_out`` names them)."""
        return int(self.components_.shape[0])

    # ---------------------------------------------------------------- hooks
    def _make_model(self, n_features: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_extra(self, n_features: int) -> None:
        """Subclass checks that need the data's width (called in fit); the parameters
        themselves are checked by :meth:`_validate_common`."""

    # ---------------------------------------------------------- validation
    def _validate_common(self) -> None:
        """Check the hyper-parameters against ``_parameter_constraints`` (the family's table,
        :mod:`wnmf_np.estimators.params`) and the one rule across them a table cannot say."""
        self._validate_params()
        if self.l2_mode in OBJECTIVE_MODES and self.loss_reduction != "mean":
            raise ValueError(
                f"loss_reduction='sum' cannot be combined with l2_mode={self.l2_mode!r}: that form fixes "
                "the weighting of loss and penalty itself; use loss_reduction='mean'."
            )

    def _check_checkpointing(self) -> None:
        """The rule across the checkpoint parameters (their types are in the table), applied
        by ``fit`` and by :meth:`load` to the restored parameters."""
        if self.checkpoint_every is not None and self.checkpoint_path is None:
            raise ValueError("checkpoint_every needs checkpoint_path (where to write the checkpoints).")

    def _train_config(
        self, max_epochs: int, n_samples: int, eta_schedule, label: str, row_independent: bool = False,
        *, model=None, n_features: int | None = None, n_entries: int | None = None, streaming: bool = False,
        trainable: tuple | None = None,
    ) -> TrainConfig:
        """The driver's configuration; ``model``, ``n_features`` and ``n_entries`` (observed
        entries of X) size the λ weights of the objective forms (:mod:`wnmf_np.core.regularization`).
        ``streaming`` (``partial_fit``): a constant learning rate (no horizon to anneal
        towards) and no early stopping. ``trainable``: the parameters to update (None: all)."""
        steps_per_epoch = -(-n_samples // min(int(self.batch_size), n_samples))  # as the driver batches
        optimizer = AdamWConfig(
            lr=float(self.lr),
            beta1=float(self.betas[0]),
            beta2=float(self.betas[1]),
            eps=float(self.adam_eps),
        )
        model = self.model_ if model is None else model
        n_features = self.n_features_in_ if n_features is None else n_features
        shapes = model.param_shapes(n_samples, n_features)
        n_entries = n_samples * n_features if n_entries is None else n_entries
        l2 = make_l2_weights(self.l2_mode, resolve_l2(self.l2, self.loss, self._auto_l2), model, shapes, n_entries)
        param = {"huber": float(self.huber_delta), "kl": KL_EPS}.get(self.loss, 0.0)
        if streaming:
            lr_schedule = make_lr_schedule("constant", 1)
        else:
            lr_schedule = make_lr_schedule(self.lr_schedule, max_epochs if row_independent else max_epochs * steps_per_epoch)
        return TrainConfig(
            loss=LossSpec(self.loss, param),
            optimizer=optimizer,
            l2=l2,
            batch_size=int(self.batch_size),
            max_epochs=max_epochs,
            eta_schedule=eta_schedule,
            lr_schedule=lr_schedule,
            row_independent=row_independent,
            loss_reduction=self.loss_reduction,
            h_update=self.h_update,
            latent_lr_factor=1.0 if self.latent_lr is None else float(self.latent_lr) / float(self.lr),
            tol=float(self.tol),
            n_iter_no_change=None if streaming else self.n_iter_no_change,
            verbose=int(self.verbose),
            callback=self.callback,
            label=label,
            trainable=trainable,
        )

    def _prepare(self, X, mask, *, reset: bool):
        """Validate the parameters and the data; returns (backend, data source).

        The one place X becomes a data source (:func:`wnmf_np.training.data.data_source`:
        in memory or out of core, validated, on its backend). A fit (``reset``) works in
        ``dtype``, or with ``dtype=None`` in X's own precision
        (:func:`wnmf_np.core.validation.resolve_dtype`); everything after it (``transform``,
        ``partial_fit``, ``fit(resume=True)``) in the precision the model was fitted in.
        """
        self._validate_common()
        if reset:
            dtype = resolve_dtype(self.dtype, X)
        else:
            check_is_fitted(self)
            check_feature_names(self, X)  # first, as scikit-learn orders its checks
            dtype = self.params_[self.model_.sample_param].dtype.type
        original = X
        backend = resolve_backend(self.backend, X)
        data = data_source(X, backend, dtype, mask=mask, nan_policy=self.nan_policy, non_negative=self.loss == "kl")
        self._check_features(data, reset)
        if reset:  # the column names of a DataFrame X, once X passed its checks
            record_feature_names(self, original)
        return backend, data

    def _check_features(self, data, reset: bool) -> None:
        if not reset:
            check_is_fitted(self)
            if data.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {data.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )

    def _fit_context(self, X, mask, *, reset: bool, streaming: bool = False) -> FitContext:
        """The context of a ``fit`` (``reset``), ``fit(resume=True)`` or, with ``streaming``,
        a ``partial_fit``: the data prepared once, the model and the training configuration.

        A fit runs ``max_epochs`` epochs along the η schedule; a ``partial_fit`` one epoch
        at the schedule's final η, at a constant learning rate and without early stopping.
        """
        backend, data = self._prepare(X, mask, reset=reset)
        n_samples, n_features = data.shape
        self._validate_extra(n_features)
        if not streaming:  # partial_fit writes no checkpoints
            self._check_checkpointing()
        model = self._make_model(n_features)
        max_epochs = int(self.max_epochs)
        eta_schedule = make_eta_schedule(self.eta_schedule, float(self.eta), max_epochs)
        if streaming:  # partial_fit trains at the final η of the configured schedule
            eta_schedule = make_eta_schedule("constant", float(eta_schedule(max_epochs - 1)), 1)
        label = "partial_fit" if streaming else "fit"
        config = self._train_config(1 if streaming else max_epochs, n_samples, eta_schedule, label, model=model,
                                    n_features=n_features, n_entries=data.n_observed, streaming=streaming)  # fmt: skip
        return FitContext(backend, data, model, config)

    # ----------------------------------------------------------------- fit
    def fit(self, X, y=None, *, mask=None, resume=False):
        """Learn the factors from X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, samples as rows (the paper's matrix transposed). NumPy or CuPy.
        y : ignored
        mask : bool array-like of shape (n_samples, n_features), optional
            True where an entry is observed; unobserved entries do not enter the loss.
            The entries masked in a NumPy masked array X are unobserved as well.
        resume : bool, default False
            Continue an unfinished fit (one interrupted by Ctrl-C, or loaded with
            :meth:`load` from a checkpoint) on the same X up to ``max_epochs``. The result
            equals that of an uninterrupted fit with the same seed, also after a Ctrl-C in
            the middle of an epoch (it takes effect between two steps, and the epoch is
            continued where it stopped); see docs/large_data.md for the exception.

        Returns
        -------
        self

        Notes
        -----
        With ``checkpoint_path`` and ``checkpoint_every`` set, a checkpoint is written
        atomically every ``checkpoint_every`` epochs and at the end. If training is
        interrupted (KeyboardInterrupt), the state reached so far is kept on the
        estimator, so ``fit(X, resume=True)`` continues it and ``save`` can store it.
        """
        with limit_threads(self.n_threads):
            self._fit(X, mask, resume=resume)
        return self

    def fit_transform(self, X, y=None, *, mask=None):
        """Fit and return the latents φη(H) of the training samples, (n_samples, n_latent)."""
        with limit_threads(self.n_threads):
            self._fit(X, mask)
        return self._latents_of(self.params_, self.final_eta_)

    def _fit(self, X, mask, resume=False):
        if resume and not hasattr(self, "train_state_"):
            raise ValueError("resume=True needs an unfinished fit: fit first, or load a checkpoint.")
        ctx = self._fit_context(X, mask, reset=not resume)
        n_samples, n_features = ctx.shape
        if resume:
            params, state, rng = self._resumable_state(ctx)
        else:
            rng = check_random_state_seed(self.random_state)
            params = self._init_params(ctx.model, n_samples, n_features, rng, ctx.data.mean(), ctx.dtype, ctx.backend)
            state = ctx.new_state(params)
        self._rng = rng
        try:
            train(ctx, params, state, rng, on_epoch=self._checkpoint_hook(ctx, params))
        except KeyboardInterrupt:
            # never lose work: keep what was reached so that fit(X, resume=True) continues it
            self._store(ctx, params, state)
            raise
        self._store(ctx, params, state)
        if self.checkpoint_path is not None and self.checkpoint_every is not None:
            self.save(self.checkpoint_path)
        return self

    def _resumable_state(self, ctx: FitContext):
        """(params on the context's backend, the saved TrainState, the batch-order generator)."""
        n_samples = ctx.shape[0]
        n_saved = self.params_[self.model_.sample_param].shape[0]
        if n_saved != n_samples:
            raise ValueError(f"resume=True needs the same data: the saved state has {n_saved} samples, X has {n_samples}.")
        self._check_model_unchanged(ctx.model, n_samples, "fit(resume=True)")
        if self.train_state_.step_interrupted:
            warnings.warn(
                "resuming a fit that was interrupted inside a training step (a second Ctrl-C): the step's partial "
                "updates are kept and the step is taken again, so the result is close to, not exactly, that of "
                "an uninterrupted fit.",
                UserWarning,
                stacklevel=4,
            )
        rng = self._rng if self._rng is not None else check_random_state_seed(self.random_state)
        params = {k: ctx.backend.asarray(v) for k, v in self.params_.items()}
        return params, self.train_state_, rng

    def _checkpoint_hook(self, ctx: FitContext, params: dict):
        """The driver's epoch hook writing a checkpoint every ``checkpoint_every`` epochs (or None)."""
        every = self.checkpoint_every
        if every is None:
            return None

        def checkpoint(state):
            if state.epoch % every == 0:
                self._store(ctx, params, state, quick=True)
                self.save(self.checkpoint_path)

        return checkpoint

    def _init_params(self, model, n_samples, n_features, rng, data_mean, dtype, backend: Backend) -> dict:
        from ..core.init import init_factor, resolve_init

        init = resolve_init(self.init, self.loss)
        params = {}
        for name, shape in model.param_shapes(n_samples, n_features).items():
            host = init_factor(shape, init, rng, rank=model.fan_in(name), data_mean=data_mean, dtype=dtype,
                               inner_dims=model.inner_dims)  # fmt: skip
            params[name] = backend.asarray(host)
        return params

    def _store(self, ctx: FitContext, params: dict, state, quick: bool = False, error_latents=None):
        """Keep what training reached as the fitted attributes.

        ``quick`` (a mid-training checkpoint) skips the full-data pass of
        ``reconstruction_err_`` (it is recomputed at the end); ``error_latents``: the
        latents of ``ctx.data``'s rows when they are not the first rows of ``params``
        (``partial_fit``: the last ones).
        """
        self.model_ = ctx.model
        self.params_ = params
        self.train_state_ = state
        self.final_eta_ = state.eta
        self.backend_ = ctx.backend.name
        self.n_features_in_ = ctx.shape[1]
        self.n_iter_ = state.epoch
        self.loss_curve_ = list(state.loss_curve)
        if quick:
            self.reconstruction_err_ = float("nan")
        else:
            self.reconstruction_err_ = self._reconstruction_error(ctx.data, ctx.backend, H=error_latents)
        self._set_derived(ctx.backend)
        self._record_negativity()

    def _record_negativity(self) -> None:
        """``negativity_`` of the current factors (after a fit, and after ``load``: it is
        derived from the saved factors, so the file need not hold it)."""
        self.negativity_ = {name: negativity(A) for name, A in self._factors().items()}

    def _factors(self) -> dict:
        """The fitted factors whose negativity ``negativity_`` reports (subclass hook)."""
        return {"components": self.components_, "latents": self.latents_}

    def _model_for_transform(self):
        """The model ``transform`` trains with (subclass hook; the fitted one by default)."""
        return self.model_

    def _mean_training_latents(self, X, backend: Backend):
        """Every new row starts from the mean raw latent of the training samples: (n, ...).

        The warm start where a least-squares one is unavailable (deconvolution) or unsafe:
        under the KL loss a least-squares reconstruction can go far below zero at zero
        entries, where KL's continuation has curvature max(x, ε)/ε², and its gradients
        then overflow float32 for large-valued data.
        """
        xp = backend.xp
        mean = backend.asarray(self.params_[self.model_.sample_param]).mean(axis=0)
        return xp.ascontiguousarray(xp.broadcast_to(mean, (X.shape[0], *mean.shape)).astype(X.dtype))

    def _set_derived(self, backend) -> None:
        """Fitted attributes computed from ``params_`` (components, latents); subclass hook."""

    def _reconstruction_error(self, data, backend: Backend, H=None) -> float:
        """Frobenius norm of the residual over the observed entries of the data source
        ``data``, computed in row blocks (without overflow,
        :class:`wnmf_np.training.data.SumOfSquares`); ``H``: the latents of its rows
        (default: those of the training samples)."""
        xp = backend.xp
        total = SumOfSquares()
        H = self.params_[self.model_.sample_param] if H is None else H
        for rows, X_b, obs_b in data.row_blocks():
            R = self.model_.reconstruct(self.params_, H[rows], self.final_eta_).astype(xp.float64)
            R -= X_b
            if obs_b is not None:
                R *= obs_b
            total.add(R, xp)
        return total.norm()

    # ------------------------------------------------------------ transform
    def transform(self, X, *, mask=None):
        """Latents of new samples with the learnt factors fixed.

        The latents start from the subclass's warm start (the least-squares solution of
        the activated problem mapped through φη⁻¹ for WNMF and DeepWNMF, the mean training
        latent for DeconvWNMF and under the KL loss) and are then refined by the same AdamW training on the
        same loss, with only the latents trainable, at the final η of the fit, for
        ``max_epochs`` epochs. Each sample is treated independently of the others (its own
        Adam state, its own per-feature mean loss, an epoch-wise learning-rate schedule),
        so transforming a subset gives the same latents for those samples. The result is
        deterministic given ``random_state``.

        Parameters
        ----------
        X : array-like of shape (n_samples_new, n_features)
        mask : bool array-like like X, optional

        Returns
        -------
        Z : array of shape (n_samples_new, n_latent), on X's backend
        """
        check_is_fitted(self)
        with limit_threads(self.n_threads):
            return self._transform(X, mask)

    def _transform(self, X, mask):
        """:meth:`transform` without the thread limits (subclasses call it, not the public
        method, which scikit-learn's ``set_output`` may wrap)."""
        return self._latents_of(self._transform_params(X, mask), self.final_eta_)

    def _transform_params(self, X, mask) -> dict:
        """The fitted shared parameters with the trained raw latents of X's rows (sample param)."""
        backend, data = self._prepare(X, mask, reset=False)
        rng = check_random_state_seed(self.random_state)
        sample = self.model_.sample_param
        params = {k: backend.asarray(v) for k, v in self.params_.items() if k != sample}
        blocks = [self._warm_start_latents(params, X_b, obs_b, backend) for _, X_b, obs_b in data.row_blocks()]
        params[sample] = backend.xp.ascontiguousarray(backend.xp.concatenate(blocks))
        schedule = make_eta_schedule("constant", self.final_eta_, 1)
        config = self._train_config(int(self.max_epochs), data.shape[0], schedule, "transform", row_independent=True,
                                    n_entries=data.n_observed, trainable=(sample,))  # fmt: skip
        ctx = FitContext(backend, data, self._model_for_transform(), config)
        train(ctx, params, ctx.new_state(params), rng)
        return params

    def inverse_transform(self, Z):
        """Reconstruct samples from latents Z (as returned by transform), (n, n_features)."""
        check_is_fitted(self)
        return self._decode(Z)

