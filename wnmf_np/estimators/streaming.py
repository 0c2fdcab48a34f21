"""Streaming updates (``partial_fit``) for WNMF-family estimators.

A ``partial_fit`` goes the way of a ``fit``: the estimator's fit context
(:meth:`wnmf_np.estimators.base.BaseWNMF._fit_context` with ``streaming=True``: the data
prepared once, the model, one epoch at the final η, a constant learning rate, no early
stopping), fresh latents for the new samples next to the shared parameters carried over
with their optimizer state, one call of the driver, and the estimator's ``_store``.
"""

from __future__ import annotations

from ..core.threads import limit_threads
from ..core.validation import check_random_state_seed
from ..training.driver import train
from ..training.state import append_sample_rows


class StreamingMixin:
    """``partial_fit`` for :class:`wnmf_np.estimators.base.BaseWNMF` subclasses."""

    def partial_fit(self, X, y=None, *, mask=None):
        """Learn from a new batch of samples, keeping W and the optimizer state.

        The new samples get new latent rows (initialised as in ``fit``); one epoch of
        mini-batch AdamW over them updates W and their latents. Latents of earlier
        samples are kept, and ``latents_`` grows by ``len(X)`` rows.
        ``reconstruction_err_`` is then the error on this call's samples,
        ‖X − φη(H_new) φη(W)‖_F over their observed entries (earlier batches are not
        kept, so the error on all the data seen cannot be recomputed); it costs one
        forward pass over X.

        The model's size (``n_components``, ``ranks``, ``stride``, ``image_shape``) must be
        the one fitted so far; after changing it with ``set_params``, call ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_new, n_features)
        mask : bool array-like like X, optional

        Returns
        -------
        self
        """
        with limit_threads(self.n_threads):
            return self._partial_fit(X, mask)

    def _partial_fit(self, X, mask):
        first = not hasattr(self, "train_state_")
        ctx = self._fit_context(X, mask, reset=first, streaming=True)
        model, backend = ctx.model, ctx.backend
        n_new, n_features = ctx.shape
        sample = model.sample_param
        if first:
            self._rng = check_random_state_seed(self.random_state)
        rng = self._rng if self._rng is not None else check_random_state_seed(self.random_state)
        fresh = self._init_params(model, n_new, n_features, rng, ctx.data.mean(), ctx.dtype, backend)
        if first:
            shared = {k: v for k, v in fresh.items() if k != sample}
            previous = None
        else:
            self._check_model_unchanged(model, None, "partial_fit")
            shared = {k: backend.asarray(v) for k, v in self.params_.items() if k != sample}
            previous = self.train_state_
        params = {**shared, sample: fresh[sample]}
        state = ctx.new_state(params)
        if previous is not None:  # carry the shared parameters' optimizer state over
            for k in shared:
                state.opt[k] = previous.opt[k]
            state.step, state.loss_curve = previous.step, list(previous.loss_curve)
        state = train(ctx, params, state, rng)
        if previous is not None:  # the new samples' latents and moments after the earlier ones
            params[sample], state.opt[sample] = append_sample_rows(
                backend.xp, self.params_[sample], previous.opt[sample], params[sample], state.opt[sample]
            )
            state.epoch = previous.epoch + 1
        # reconstruction_err_: on this call's samples, the last n_new latent rows
        self._store(ctx, params, state, error_latents=params[sample][-n_new:])
        return self

    def _check_model_unchanged(self, model, n_samples, method: str) -> None:
        """Raise if ``model`` (built from the current parameters) does not fit the fitted
        ``params_``: a size parameter was changed with ``set_params`` since the fit."""
        sample = model.sample_param
        n = self.params_[sample].shape[0] if n_samples is None else n_samples
        expected = model.param_shapes(n, self.n_features_in_)
        have = {k: tuple(v.shape) for k, v in self.params_.items()}
        changed = [f"{k} {have.get(k)} -> {tuple(shape)}" for k, shape in expected.items() if have.get(k) != tuple(shape)]
        changed += [f"{k} {shape} -> none" for k, shape in have.items() if k not in expected]
        if changed:
            raise ValueError(
                f"{method} continues the fitted factors, but the model's size was changed since the fit "
                f"(set_params of n_components, ranks, stride or image_shape): parameter shapes {', '.join(changed)}. "
                "Call fit to start afresh with the new size, or set the size back."
            )
