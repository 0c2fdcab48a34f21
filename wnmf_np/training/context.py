"""The fit context: what one ``fit``, ``transform`` or ``partial_fit`` trains with.

An estimator prepares its data once (:func:`wnmf_np.training.data.data_source`: validated,
on its device, one data-source object), builds its model and its :class:`TrainConfig`,
and hands the driver one :class:`FitContext`. Everything downstream (initialisation, the
driver, the reconstruction error, checkpoints) reads the data, the backend and the
settings from it; nothing asks again whether X is in memory or out of core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.backend import Backend
from ..kernels import KernelSet, get_kernels
from .state import TrainConfig, TrainState, init_train_state


@dataclass
class FitContext:
    """The prepared inputs of one training run (not changed by it).

    Attributes
    ----------
    backend : Backend
        Where the data, the parameters and the optimizer state live.
    data : InMemoryData or OutOfCoreData
        The validated data of shape (n_samples, n_features) (:mod:`wnmf_np.training.data`).
    model : object
        The model's forward/backward pair (:mod:`wnmf_np.models`); the driver asks it
        for its training layout.
    config : TrainConfig
    kernels : KernelSet, optional
        The fused operations; default: the fast set of ``backend``.
    """

    backend: Backend
    data: Any
    model: Any
    config: TrainConfig
    kernels: KernelSet | None = None

    def __post_init__(self):
        if self.kernels is None:
            self.kernels = get_kernels(self.backend.name)

    @property
    def shape(self) -> tuple:
        """(n_samples, n_features) of the data."""
        return tuple(self.data.shape)

    @property
    def dtype(self):
        """The working precision (a numpy scalar type)."""
        return self.data.dtype

    @property
    def n_observed(self) -> int:
        """Observed entries of the data (what the λ weights of ``l2_mode="eq9"`` count)."""
        return self.data.n_observed

    def trainable(self, params: dict) -> tuple:
        """The names of the parameters training updates (``config.trainable``, default all)."""
        return tuple(params) if self.config.trainable is None else tuple(self.config.trainable)

    def new_state(self, params: dict) -> TrainState:
        """A fresh training state for ``params`` (zero moments, per-row steps for lazy latents)."""
        return init_train_state(params, self.trainable(params), self.model.sample_param, self.config.h_update)
