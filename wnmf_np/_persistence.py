"""Saving and loading WNMF-family estimators (the methods; the file format is in
:mod:`wnmf_np._checkpoint`)."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ._backend import resolve_backend


class CheckpointMixin:
    """``save`` / ``load`` for :class:`wnmf_np._base.BaseWNMF` subclasses."""

    def save(self, path):
        """Write the (fitted or partially fitted) model to ``path`` (.npz, no pickle).

        Stores the parameters, the AdamW state, the training counters and loss curve, the
        random state of the batch order and the constructor parameters; see
        :mod:`wnmf_np._checkpoint` for the format. The write is atomic.

        Returns
        -------
        pathlib.Path of the written file
        """
        from ._checkpoint import save_checkpoint

        check_is_fitted(self)
        return save_checkpoint(self, path)

    @classmethod
    def load(cls, path, *, backend="auto"):
        """Read a model written by :meth:`save`; ``fit(X, resume=True)`` continues it.

        Parameters
        ----------
        path : str or Path
        backend : {"auto", "numpy", "cupy"}
            Where to put the arrays ("auto": the backend the model was trained on if it is
            usable here, else NumPy).

        Raises
        ------
        wnmf_np.CheckpointError
            For a missing, truncated, foreign or tampered file, or a checkpoint of another
            estimator class.
        """
        from ._backend import cupy_available
        from ._checkpoint import CheckpointError, constructor_params, read_checkpoint, restore_into

        meta, arrays = read_checkpoint(path)
        if meta["class"] != cls.__name__:
            raise CheckpointError(f"{str(path)!r} holds a {meta['class']}, not a {cls.__name__}.")
        try:
            estimator = cls(**constructor_params(meta))
        except TypeError as exc:
            raise CheckpointError(f"{str(path)!r}: its parameters do not fit {cls.__name__}: {exc}") from None
        if backend == "auto":
            backend = meta["fitted"]["backend_"] if meta["fitted"]["backend_"] != "cupy" or cupy_available() else "numpy"
        be = resolve_backend(backend)
        restore_into(estimator, meta, arrays, be)
        estimator.model_ = estimator._make_model(estimator.n_features_in_)
        estimator._set_derived(be)
        return estimator
