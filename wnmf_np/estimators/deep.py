"""The deep WNMF estimator (paper eq. 11, section 3.2); the model is in :mod:`wnmf_np.models.deep`."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..core.activations import inverse_leaky_relu, leaky_relu
from ..core.backend import Backend, namespace_of
from ..core.init import ridge_least_squares
from ..core.params import Satisfies, check_parameter, document_parameters, rank_tuple
from ..core.regularization import AUTO_L2_DEEP
from ..core.threads import limit_threads
from ..core.validation import check_latents
from ..models.deep import DeepModel
from .base import BaseWNMF
from .params import WNMF_FAMILY_CONSTRAINTS, WNMF_FAMILY_DOCS, WNMF_FAMILY_PARAMETERS
from .wnmf import WARM_START_RIDGE


@document_parameters(WNMF_FAMILY_DOCS, WNMF_FAMILY_PARAMETERS, regularised="every W_l and H",
                     auto_l1=AUTO_L2_DEEP["l1"], auto_other=AUTO_L2_DEEP["l2"], notes={
    "l2": """WNMF's 0.03 costs deep WNMF 12 NMI points on ORL (docs/results/negativity_deep_deconv.md).
    In ``l2_mode="objective"`` each factor's λ is weighted by its fan-in over its size
    (:mod:`wnmf_np.core.regularization`).""",
    "init": """``"he_uniform"`` draws each factor uniform on ±sqrt(6 / fan_in) with fan_in the
    inner dimension of its product: r_l for W_l, r_1 for H.""",
    "batch_size": "The default (WNMF's is 64) was measured on ORL (docs/deep_and_deconv.md), as were those of ``max_epochs`` and ``latent_lr``.",
})  # fmt: skip
class DeepWNMF(BaseWNMF):
    """Deep weakly non-negative matrix factorisation, X ≈ φη(H) φη(W_1)ᵀ ⋯ φη(W_L)ᵀ.

    The paper's eq. 11, X_paper ≈ φη(W_L) ⋯ φη(W_1) φη(H_1) with W_l of shape
    (r_{l+1}, r_l), H_1 (r_1, n) and r_{L+1} = n_features, trained end to end like
    :class:`wnmf_np.WNMF` (mini-batch AdamW over samples, hand-written backward through the
    whole chain; see :mod:`wnmf_np.models.deep` for the equations). With ``ranks=(r,)`` it is
    :class:`~wnmf_np.WNMF` ``(r)``: the same seed gives the same factors.

    Orientation: sklearn's. ``X`` is (n_samples, n_features), the paper's matrix
    transposed. Layer l's latent is the paper's φη(W_{l−1}) ⋯ φη(W_1) φη(H_1), returned
    transposed, (n_samples, r_l); layer 1 is φη(H). Latent methods take ``layer``
    (1 … L, default 1: the bottom, most compressed code φη(H), the analogue of WNMF's
    latents and the one ``components_`` decodes).

    Parameters
    ----------
    ranks : tuple of int
        ``(r_1, …, r_L)``, bottom layer first: r_1 is the rank of H, W_l maps layer l
        (r_l) to layer l + 1 (r_{l+1}, the data for l = L). The paper uses (20, 40) on ORL.
    <shared parameters>

    Attributes
    ----------
    negativity_ : dict of str -> dict
        Negativity (:func:`wnmf_np.metrics.negativity`) of every layer's φη(W_l) ("W1" …
        "WL") and of the latents φη(H) ("latents").
    components_ : array of shape (r_1, n_features)
        φη(W_1)ᵀ ⋯ φη(W_L)ᵀ, the full product basis: ``X ≈ latents_ @ components_``.
    layer_components_ : list of L arrays, the l-th of shape (r_l, n_features)
        φη(W_l)ᵀ ⋯ φη(W_L)ᵀ, the basis that decodes layer-l latents;
        ``layer_components_[0] is components_``.
    latents_ : array of shape (n_samples, r_1)
        φη(H) of the training samples (layer 1).
    layer_latents_ : list of L arrays, the l-th of shape (n_samples, r_l)
        Each layer's latents of the training samples; ``layer_latents_[0] is latents_``.
    params_ : dict
        Raw parameters: "W1" … "WL", W_l of shape (r_{l+1}, r_l) (the paper's), and "H"
        (n_samples, r_1) (the paper's H_1 transposed).
    n_layers_ : int
    loss_curve_, n_iter_, reconstruction_err_, final_eta_, n_features_in_
        As for :class:`wnmf_np.WNMF`.
    """

    _auto_l2 = AUTO_L2_DEEP  # l2="auto": 0.015 for L1 (docs/results/negativity_deep_deconv.md)
    _parameter_constraints = {
        **WNMF_FAMILY_CONSTRAINTS,
        "ranks": [Satisfies(rank_tuple, "a non-empty tuple of positive integers (r_1, ..., r_L); for one layer write ranks=(r,)")],
    }

    def __init__(
        self,
        ranks=(20, 40),
        *,
        eta=0.1,
        l2="auto",
        l2_mode="objective",
        loss="l1",
        loss_reduction="mean",
        huber_delta=1.0,
        eta_schedule="constant",
        lr_schedule="cosine",
        batch_size=32,
        max_epochs=400,
        lr=1e-2,
        latent_lr=3e-2,
        betas=(0.9, 0.999),
        adam_eps=1e-8,
        tol=1e-4,
        n_iter_no_change=None,
        init="auto",
        h_update="lazy",
        backend="auto",
        dtype=None,
        n_threads=None,
        nan_policy="raise",
        random_state=None,
        verbose=0,
        callback=None,
        checkpoint_path=None,
        checkpoint_every=None,
    ):
        self.ranks = ranks
        self.eta = eta
        self.l2 = l2
        self.l2_mode = l2_mode
        self.loss = loss
        self.loss_reduction = loss_reduction
        self.huber_delta = huber_delta
        self.eta_schedule = eta_schedule
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.latent_lr = latent_lr
        self.betas = betas
        self.adam_eps = adam_eps
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.h_update = h_update
        self.backend = backend
        self.dtype = dtype
        self.n_threads = n_threads
        self.nan_policy = nan_policy
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every

    # ---------------------------------------------------------------- hooks
    def _make_model(self, n_features: int) -> DeepModel:
        return DeepModel(tuple(int(r) for r in self.ranks))

    def _latents_of(self, params: dict, eta: float):
        """Layer-1 latents φη(H); :meth:`_layer` lifts them to other layers."""
        return leaky_relu(params["H"], eta)

    def _factors(self) -> dict:
        """φη(W_l) of every layer ("W1" … "WL") and the latents φη(H)."""
        factors = {name: leaky_relu(self.params_[name], self.final_eta_) for name in self.model_.names}
        return {**factors, "latents": self.latents_}

    def _set_derived(self, backend) -> None:
        """components_, layer_components_, latents_ and layer_latents_ from ``params_``."""
        xp = backend.xp
        model, params, eta = self.model_, self.params_, self.final_eta_
        self.n_layers_ = model.n_layers
        self.layer_components_ = [
            xp.ascontiguousarray(model.basis(params, eta, layer)) for layer in range(1, model.n_layers + 1)
        ]
        self.components_ = self.layer_components_[0]
        Z = leaky_relu(params["H"], eta)
        self.layer_latents_ = [Z]
        for layer in range(1, model.n_layers):
            Z = model.layer_up(params, Z, eta, layer, layer + 1)
            self.layer_latents_.append(Z)
        self.latents_ = self.layer_latents_[0]

    def _warm_start_latents(self, params: dict, X, observed, backend: Backend):
        """φη⁻¹ of the ridge least-squares latents A = X Cᵀ (C Cᵀ + εI)⁻¹, C = ``components_``.

        The activated problem X ≈ φη(H) C is linear in φη(H) once the weights are fixed,
        so its least-squares solution is the natural start (as for WNMF, whose start this
        is for L = 1). Rows are solved independently; observed entries are not used. Under
        the KL loss: the mean training latent (see ``_mean_training_latents``).
        """
        if self.loss == "kl":
            return self._mean_training_latents(X, backend)
        xp = backend.xp
        A = ridge_least_squares(backend.asarray(self.components_), X, xp, WARM_START_RIDGE)
        limit = float(np.finfo(X.dtype).max) / 4
        return xp.ascontiguousarray(xp.clip(inverse_leaky_relu(A, self.final_eta_), -limit, limit).astype(X.dtype))

    def _decode(self, Z, layer: int = 1):
        basis = self.layer_components_[layer - 1]
        xp = namespace_of(basis)
        return check_latents(Z, basis.shape[0], xp, basis.dtype) @ basis

    # --------------------------------------------------------------- layers
    def _check_layer(self, layer) -> int:
        n_layers = len(check_parameter(self, "ranks"))
        if layer is None:
            return 1
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral) or not 1 <= layer <= n_layers:
            raise ValueError(f"layer must be an integer in [1, {n_layers}] (or None for 1), got {layer!r}.")
        return int(layer)

    def _layer(self, params: dict, Z1, layer: int):
        """Layer-``layer`` latents from layer-1 latents: Z1 φη(W_1)ᵀ ⋯ φη(W_{layer−1})ᵀ."""
        return self.model_.layer_up(params, Z1, self.final_eta_, 1, layer)

    # ------------------------------------------------------------ public API
    def fit_transform(self, X, y=None, *, mask=None, layer=None):
        """Fit and return the training latents of ``layer`` (default 1), (n_samples, r_layer)."""
        layer = self._check_layer(layer)
        self._fit(X, mask)
        return self._layer(self.params_, self._latents_of(self.params_, self.final_eta_), layer)

    def transform(self, X, *, mask=None, layer=None):
        """Latents of new samples at ``layer`` (default 1) with the weights fixed.

        The layer-1 latents φη(H) are fitted exactly as :meth:`wnmf_np.WNMF.transform`
        does (least-squares start, then AdamW on the latents only, each row independent),
        then lifted: Z_layer = φη(H) φη(W_1)ᵀ ⋯ φη(W_{layer−1})ᵀ.

        Parameters
        ----------
        X : array-like of shape (n_samples_new, n_features)
        mask : bool array-like like X, optional
        layer : int in [1, L] or None (1)

        Returns
        -------
        Z : array of shape (n_samples_new, r_layer), on X's backend
        """
        check_is_fitted(self)
        layer = self._check_layer(layer)
        with limit_threads(self.n_threads):
            Z1 = self._transform(X, mask)
        xp = namespace_of(Z1)
        params = {name: xp.asarray(self.params_[name]) for name in self.model_.names}
        return self._layer(params, Z1, layer)

    def inverse_transform(self, Z, *, layer=None):
        """Reconstruct samples from layer latents Z (n, r_layer): Z @ layer_components_[layer − 1]."""
        check_is_fitted(self)
        return self._decode(Z, self._check_layer(layer))
