"""The shallow WNMF estimator and its functional form in the paper's convention."""

from __future__ import annotations

import numpy as np

from ..core.activations import inverse_leaky_relu, leaky_relu
from ..core.backend import Backend, namespace_of
from ..core.init import ridge_least_squares
from ..core.params import POSITIVE_INT, document_parameters
from ..core.regularization import AUTO_L2
from ..core.validation import check_latents
from ..models.shallow import ShallowModel
from .base import BaseWNMF
from .params import WNMF_FAMILY_CONSTRAINTS, WNMF_FAMILY_DOCS, WNMF_FAMILY_PARAMETERS

#: ε of the least-squares warm start of ``transform``, relative to the mean diagonal of the Gram matrix
WARM_START_RIDGE = 1e-6


@document_parameters(WNMF_FAMILY_DOCS, WNMF_FAMILY_PARAMETERS, regularised="both factors",
                     auto_l1=AUTO_L2["l1"], auto_other=AUTO_L2["l2"], notes={"l2": """
    The L1 value gives ≤ 1 % negative mass in both factors on every data set measured
    (docs/results/negativity.md); the L2, Huber and KL losses' gradients shrink with the
    residual, so the λ they need depends on how well the data can be fitted (L2: 0.001
    suffices on ORL, multi-feature needs 0.01)."""})  # fmt: skip
class WNMF(BaseWNMF):
    """Weakly non-negative matrix factorisation, X ≈ φη(H) φη(W) (Kobayashi & Watanabe).

    φη(a) = max(a, η a) is a leaky ReLU; W and H are real-valued and trained end to end
    by mini-batch AdamW on a reconstruction loss (L1 by default) with L2 regularisation
    λ (``l2``). Small η (default 0.1) makes the factors *almost* non-negative.

    Orientation: sklearn's. ``X`` is (n_samples, n_features), the paper's matrix
    transposed; ``components_`` = φη(W) is (n_components, n_features) and the latents
    φη(H) returned by ``fit_transform``/``transform`` are (n_samples, n_components).

    Parameters
    ----------
    n_components : int
        Rank r (>= 1).
    <shared parameters>

    Attributes
    ----------
    components_ : array of shape (n_components, n_features)
        φη(W), the (almost non-negative) basis.
    latents_ : array of shape (n_samples, n_components)
        φη(H) of the training samples.
    params_ : dict
        Raw parameters: "W" (n_features, n_components), the paper's W, and "H"
        (n_samples, n_components), the paper's H transposed.
    loss_curve_ : list of float
        Mean mini-batch loss of each epoch.
    n_iter_ : int
        Epochs run.
    reconstruction_err_ : float
        ‖X − φη(H) φη(W)‖_F over the observed entries.
    negativity_ : dict of str -> dict
        For "components" (φη(W)ᵀ) and "latents" (φη(H)): ``frac_negative`` (fraction of
        entries < 0), ``negative_mass`` (Σ|a₋| / Σ|a|), ``min`` and ``max``; see
        :func:`wnmf_np.metrics.negativity`.
    final_eta_ : float
        η at the end of training (used by transform).
    n_features_in_ : int
    """

    _parameter_constraints = {**WNMF_FAMILY_CONSTRAINTS, "n_components": [POSITIVE_INT]}

    def __init__(
        self,
        n_components,
        *,
        eta=0.1,
        l2="auto",
        l2_mode="objective",
        loss="l1",
        loss_reduction="mean",
        huber_delta=1.0,
        eta_schedule="constant",
        lr_schedule="cosine",
        batch_size=64,
        max_epochs=300,
        lr=1e-2,
        latent_lr=5e-2,
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
        self.n_components = n_components
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

    def _make_model(self, n_features: int) -> ShallowModel:
        return ShallowModel(int(self.n_components))

    def _latents_of(self, params: dict, eta: float):
        return leaky_relu(params["H"], eta)

    def _set_derived(self, backend):
        xp = backend.xp
        self.components_ = xp.ascontiguousarray(leaky_relu(self.params_["W"], self.final_eta_).T)
        self.latents_ = leaky_relu(self.params_["H"], self.final_eta_)

    def _warm_start_latents(self, params: dict, X, observed, backend: Backend):
        """φη⁻¹ of the ridge least-squares latents A = X Bᵀ (B Bᵀ + εI)⁻¹, B = φη(W)ᵀ; under
        the KL loss the mean training latent instead (see ``_mean_training_latents``)."""
        if self.loss == "kl":
            return self._mean_training_latents(X, backend)
        xp = backend.xp
        A = ridge_least_squares(leaky_relu(params["W"], self.final_eta_).T, X, xp, WARM_START_RIDGE)
        H = inverse_leaky_relu(A, self.final_eta_)
        limit = float(np.finfo(X.dtype).max) / 4
        return xp.ascontiguousarray(xp.clip(H, -limit, limit).astype(X.dtype))

    def _decode(self, Z):
        xp = namespace_of(self.components_)
        Z = check_latents(Z, self.components_.shape[0], xp, self.components_.dtype)
        return Z @ self.components_


def wnmf(X, n_components, **kwargs):
    """Functional WNMF in the paper's convention.

    Parameters
    ----------
    X : array of shape (m, n)
        Data with samples as *columns* (the paper's convention).
    n_components : int
        Rank r.
    **kwargs
        Any :class:`WNMF` parameter.

    Returns
    -------
    W : array of shape (m, r)
        φη(W), the basis.
    H : array of shape (r, n)
        φη(H), the latents; X ≈ W @ H.
    """
    xp = namespace_of(X)
    model = WNMF(n_components, **kwargs)
    latents = model.fit_transform(xp.asarray(X).T)
    return model.components_.T, latents.T
