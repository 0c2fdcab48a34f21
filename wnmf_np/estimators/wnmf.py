"""The shallow WNMF estimator and its functional form in the paper's convention."""

from __future__ import annotations

import numpy as np

from ..core.activations import inverse_leaky_relu, leaky_relu
from ..core.backend import Backend, namespace_of
from ..core.validation import check_int, check_latents
from ..models.shallow import ShallowModel
from .base import BaseWNMF


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
    eta : float in [0, 1], default 0.1
        Slope of φη on negatives: 1 = plain MF, 0 = ReLU (hard NMF, hard to optimise).
        With an η schedule, the final η.
    l2 : float >= 0 or "auto", default "auto"
        λ, the weight of the L2 regularisation of both factors. It is what keeps the
        negative parts small: in ``l2_mode="objective"`` a negative entry of φη(·) settles
        at about −η² ĝ/(2λ) times a typical positive one (ĝ ≤ 1, docs/math.md); λ = 0
        gives signed, eigenface-like factors. "auto": 0.03 for the L1 loss, which gives
        ≤ 1 % negative mass in both factors on every data set measured
        (docs/results/negativity.md), and 0.01 for the L2, Huber and KL losses: their
        gradients shrink with the residual, so the λ they need depends on how well the
        data can be fitted (L2: 0.001 suffices on ORL, multi-feature needs 0.01).
        Its meaning depends on ``l2_mode``; in ``"eq9"`` it is the paper's λ (0.1 there).
    l2_mode : {"objective", "eq9", "penalty", "decoupled"}, default "objective"
        How λ enters training (:mod:`wnmf_np.core.regularization`, docs/math.md):

        - ``"objective"``: mini-batch AdamW on the per-entry form of eq. (9),
          F = ℓ̄ + λ (‖W‖²/n_features + ‖H‖²/n_samples), ℓ̄ the mean loss per entry; a step
          on the batch B of b samples uses ℓ̄_B + λ‖W‖²/n_features + λ‖H_B‖²/b, which adds
          up to F over an epoch. F is eq. (9) with λ√(n_samples·n_features), up to a
          rescaling of W and H; λ means the same on any data size and scale (for L1/KL).
        - ``"eq9"``: the paper's eq. (9) literally, ‖X − φη(H)φη(W)ᵀ‖₁ + λ(‖W‖² + ‖H‖²),
          with the same mini-batch weighting; the effect of λ depends on the data's size.
        - ``"penalty"``: λ(‖W‖² + ‖H_B‖²) added to every step's loss (W's penalty then
          counts n/b times as often as the latents'; kept for comparison).
        - ``"decoupled"``: AdamW's decoupled weight decay, p ← p(1 − lr λ) per update (the
          library's earlier default; under Adam it barely changes the negativity).
    loss : {"l1", "l2", "huber", "kl"}, default "l1"
        Mean reduction over observed entries; see :mod:`wnmf_np.core.losses`. "kl" needs X >= 0.
    loss_reduction : {"mean", "sum"}, default "mean"
        "mean": the loss is averaged over the observed entries of the batch (PyTorch's
        default). "sum": summed, the paper's ‖X_b − Y_b‖₁. Adam is invariant to the
        scale of the loss, so this matters only against ``l2_mode="penalty"``; the
        objective forms fix the weighting themselves and require "mean".
    huber_delta : float > 0, default 1.0
        Threshold δ of the Huber loss.
    eta_schedule : {"constant", "linear", "cosine"} or callable, default "constant"
        "linear"/"cosine": curriculum from η = 1 down to ``eta`` over ``max_epochs``;
        a callable maps the epoch (0-based) to η.
    lr_schedule : {"constant", "cosine"}, default "cosine"
    batch_size : int, default 64
        Samples per mini-batch.
    max_epochs : int, default 300
    lr : float, default 1e-2
        AdamW learning rate (the paper uses 1e-3 with several hundred epochs; see
        docs/performance.md for how the default was chosen).
    latent_lr : float or None, default 5e-2
        Learning rate of the latents H (None: ``lr``). With ``h_update="lazy"`` each
        latent row takes one step per epoch while W takes n_samples / batch_size, so a
        larger latent rate balances their progress.
    betas : (float, float), default (0.9, 0.999)
    adam_eps : float, default 1e-8
    tol : float, default 1e-4
        Relative improvement of the epoch loss that counts as progress.
    n_iter_no_change : int or None, default None
        Stop after this many epochs without progress (relative improvement ``tol``);
        None (default) trains all ``max_epochs``: with the cosine learning-rate schedule
        the loss keeps falling to the end, and a plateau early in training (common from the
        signed He initialisation) must not end the fit.
    init : {"auto", "he_uniform", "random_nonneg"}, default "auto"
        "he_uniform": the paper's recipe, uniform values of both signs; "random_nonneg":
        non-negative, scaled to the data mean; "auto": "random_nonneg" for the KL loss
        and "he_uniform" otherwise. See :mod:`wnmf_np.core.init`.
    h_update : {"lazy", "dense"}, default "lazy"
        "lazy": only the batch's latents (and their Adam moments) change in a step, O(r b);
        "dense": all latents step every time, as a framework optimizer over the whole H.
    backend : {"auto", "numpy", "cupy"}, default "auto"
        "auto" follows X (a CuPy X is factorised on the GPU).
    dtype : {"float32", "float64"} or None, default None
        Working precision. None follows X, as scikit-learn's NMF does: float32 data is
        fitted in float32, float64 data in float64, anything else (integers, booleans)
        in float32. ``transform``, ``partial_fit`` and ``fit(resume=True)`` work in the
        precision of the fit. float32 is about twice as fast on the CPU.
    n_threads : int >= 1 or None, default None
        Threads of the BLAS/OpenMP pools and numba's parallel loops during ``fit``,
        ``transform`` and ``partial_fit`` (restored afterwards). None is load-aware: the
        pools keep their size on an idle machine and shrink to the CPUs other processes
        leave idle (checked at the start and once a second), so a fit beside other
        CPU-bound work does not stall on descheduled BLAS threads (docs/performance.md).
    nan_policy : {"raise", "omit"}, default "raise"
        "omit": NaN entries of X are missing values, left out of the loss.
    random_state : int, Generator or None
        Seeds the initialisation and the batch order; the same seed on the same backend
        gives identical factors.
    verbose : int, default 0
        1: a progress line at most every second; 2: a line per epoch.
    callback : callable(epoch, info) -> bool, optional
        Called after each epoch with a dict (epoch, loss, eta, lr, elapsed); return True
        to stop training.
    checkpoint_path : str or Path, optional
        Where ``fit`` writes checkpoints (see ``checkpoint_every``, :meth:`save`).
    checkpoint_every : int, optional
        Write a checkpoint every this many epochs (and at the end of the fit).

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
        return ShallowModel(check_int("n_components", self.n_components, low=1))

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
        # float64: the Gram matrix and solve must not overflow for large-valued float32 data
        B = leaky_relu(params["W"], self.final_eta_).T.astype(xp.float64)
        gram = B @ B.T
        ridge = 1e-6 * float(xp.trace(gram)) / gram.shape[0] + 1e-12
        gram = gram + ridge * xp.eye(gram.shape[0], dtype=gram.dtype)
        A = xp.linalg.solve(gram, B @ X.T.astype(xp.float64)).T
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
