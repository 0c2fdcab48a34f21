"""The parameters of the WNMF family (WNMF, DeepWNMF, DeconvWNMF), declared once.

:data:`WNMF_FAMILY_CONSTRAINTS` is the ``_parameter_constraints`` table every estimator of
the family extends with its own parameters (:mod:`wnmf_np.core.params`);
:data:`WNMF_FAMILY_DOCS` holds the numpydoc entry of each shared parameter, which
:func:`wnmf_np.core.params.document_parameters` writes into each class docstring with the
class's own default.
"""

from __future__ import annotations

import os

from sklearn.utils._param_validation import StrOptions

from ..core.init import WNMF_INITS
from ..core.losses import LOSS_NAMES
from ..core.params import COMMON_CONSTRAINTS, NON_NEGATIVE, POSITIVE, POSITIVE_INT, Real, Satisfies, adam_betas, options
from ..core.regularization import L2_MODES
from ..core.schedules import ETA_SCHEDULES, LR_SCHEDULES
from ..core.validation import NAN_POLICIES
from ..training.state import H_UPDATES

LOSS_REDUCTIONS = ("mean", "sum")

WNMF_FAMILY_CONSTRAINTS = {
    **COMMON_CONSTRAINTS,
    "eta": [Real(0.0, 1.0)],
    "l2": [StrOptions({"auto"}), NON_NEGATIVE],
    "l2_mode": [options(L2_MODES)],
    "loss": [options(LOSS_NAMES)],
    "loss_reduction": [options(LOSS_REDUCTIONS)],
    "huber_delta": [POSITIVE],
    "eta_schedule": [options(ETA_SCHEDULES), callable],
    "lr_schedule": [options(LR_SCHEDULES)],
    "batch_size": [POSITIVE_INT],
    "max_epochs": [POSITIVE_INT],
    "lr": [POSITIVE],
    "latent_lr": [POSITIVE, None],
    "betas": [Satisfies(adam_betas, "a pair (beta1, beta2) of finite floats in [0, 1)")],
    "adam_eps": [POSITIVE],
    "tol": [NON_NEGATIVE],
    "n_iter_no_change": [POSITIVE_INT, None],
    "init": [options(WNMF_INITS)],
    "h_update": [options(H_UPDATES)],
    "nan_policy": [options(NAN_POLICIES)],
    "callback": [callable, None],
    "checkpoint_path": [str, os.PathLike, None],
    "checkpoint_every": [POSITIVE_INT, None],
}

#: the shared parameters in the order the docstrings list them
WNMF_FAMILY_PARAMETERS = (
    "eta", "l2", "l2_mode", "loss", "loss_reduction", "huber_delta", "eta_schedule", "lr_schedule",
    "batch_size", "max_epochs", "lr", "latent_lr", "betas", "adam_eps", "tol", "n_iter_no_change", "init",
    "h_update", "backend", "dtype", "n_threads", "nan_policy", "random_state", "verbose", "callback",
    "checkpoint_path", "checkpoint_every",
)  # fmt: skip

WNMF_FAMILY_DOCS = {
    "eta": """eta : float in [0, 1], default {default}
        Slope of φη on negatives: 1 = plain MF, 0 = ReLU (hard NMF, hard to optimise).
        With an η schedule, the final η.""",
    "l2": """l2 : float >= 0 or "auto", default {default}
        λ, the weight of the L2 regularisation of {regularised}. It is what keeps the
        negative parts small: in ``l2_mode="objective"`` a negative entry of φη(·) settles
        at about −η² ĝ/(2λ) times a typical positive one (ĝ ≤ 1, docs/math.md); λ = 0
        gives signed, eigenface-like factors. "auto": {auto_l1} for the L1 loss and
        {auto_other} for the L2, Huber and KL losses. Its meaning depends on ``l2_mode``;
        in ``"eq9"`` it is the paper's λ (0.1 there).""",
    "l2_mode": """l2_mode : {"objective", "eq9", "penalty", "decoupled"}, default {default}
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
          library's earlier default; under Adam it barely changes the negativity).""",
    "loss": """loss : {"l1", "l2", "huber", "kl"}, default {default}
        Mean reduction over observed entries; see :mod:`wnmf_np.core.losses`. "kl" needs X >= 0.""",
    "loss_reduction": """loss_reduction : {"mean", "sum"}, default {default}
        "mean": the loss is averaged over the observed entries of the batch (PyTorch's
        default). "sum": summed, the paper's ‖X_b − Y_b‖₁. Adam is invariant to the
        scale of the loss, so this matters only against ``l2_mode="penalty"``; the
        objective forms fix the weighting themselves and require "mean".""",
    "huber_delta": """huber_delta : float > 0, default {default}
        Threshold δ of the Huber loss.""",
    "eta_schedule": """eta_schedule : {"constant", "linear", "cosine"} or callable, default {default}
        "linear"/"cosine": curriculum from η = 1 down to ``eta`` over ``max_epochs``;
        a callable maps the epoch (0-based) to η.""",
    "lr_schedule": """lr_schedule : {"constant", "cosine"}, default {default}
        Learning-rate schedule over the steps of the fit.""",
    "batch_size": """batch_size : int >= 1, default {default}
        Samples per mini-batch.""",
    "max_epochs": """max_epochs : int >= 1, default {default}
        Epochs of ``fit``, and of the latents' training in ``transform``.""",
    "lr": """lr : float > 0, default {default}
        AdamW learning rate (the paper uses 1e-3 with several hundred epochs; see
        docs/performance.md for how the default was chosen).""",
    "latent_lr": """latent_lr : float > 0 or None, default {default}
        Learning rate of the latents H (None: ``lr``). With ``h_update="lazy"`` each
        latent row takes one step per epoch while W takes n_samples / batch_size, so a
        larger latent rate balances their progress.""",
    "betas": """betas : (float, float), default {default}
        Adam's β₁, β₂, each in [0, 1).""",
    "adam_eps": """adam_eps : float > 0, default {default}
        Adam's ε.""",
    "tol": """tol : float >= 0, default {default}
        Relative improvement of the epoch loss that counts as progress.""",
    "n_iter_no_change": """n_iter_no_change : int >= 1 or None, default {default}
        Stop after this many epochs without progress (relative improvement ``tol``);
        None (default) trains all ``max_epochs``: with the cosine learning-rate schedule
        the loss keeps falling to the end, and a plateau early in training (common from the
        signed He initialisation) must not end the fit.""",
    "init": """init : {"auto", "he_uniform", "random_nonneg"}, default {default}
        "he_uniform": the paper's recipe, uniform values of both signs; "random_nonneg":
        non-negative, scaled to the data mean; "auto": "random_nonneg" for the KL loss
        and "he_uniform" otherwise. See :mod:`wnmf_np.core.init`.""",
    "h_update": """h_update : {"lazy", "dense"}, default {default}
        "lazy": only the batch's latents (and their Adam moments) change in a step, O(r b);
        "dense": all latents step every time, as a framework optimizer over the whole H.""",
    "backend": """backend : {"auto", "numpy", "cupy"}, default {default}
        "auto" follows X (a CuPy X is factorised on the GPU).""",
    "dtype": """dtype : {"float32", "float64"} or None, default {default}
        Working precision. None follows X, as scikit-learn's NMF does: float32 data is
        fitted in float32, float64 data in float64, anything else (integers, booleans)
        in float32. ``transform``, ``partial_fit`` and ``fit(resume=True)`` work in the
        precision of the fit. float32 is about twice as fast on the CPU.""",
    "n_threads": """n_threads : int >= 1 or None, default {default}
        Threads of the BLAS/OpenMP pools and numba's parallel loops during ``fit``,
        ``transform`` and ``partial_fit`` (restored afterwards). None is load-aware: the
        pools keep their size on an idle machine and shrink to the CPUs other processes
        leave idle (checked at the start and once a second), so a fit beside other
        CPU-bound work does not stall on descheduled BLAS threads (docs/performance.md).""",
    "nan_policy": """nan_policy : {"raise", "omit"}, default {default}
        "omit": NaN entries of X are missing values, left out of the loss.""",
    "random_state": """random_state : int >= 0, Generator, RandomState or None, default {default}
        Seeds the initialisation and the batch order; the same seed on the same backend
        gives identical factors.""",
    "verbose": """verbose : int >= 0, default {default}
        1: a progress line at most every second; 2: a line per epoch.""",
    "callback": """callback : callable(epoch, info) -> bool or None, default {default}
        Called after each epoch with a dict (epoch, loss, eta, lr, elapsed); return True
        to stop training.""",
    "checkpoint_path": """checkpoint_path : str, Path or None, default {default}
        Where ``fit`` writes checkpoints (see ``checkpoint_every``, :meth:`save`).""",
    "checkpoint_every": """checkpoint_every : int >= 1 or None, default {default}
        Write a checkpoint every this many epochs (and at the end of the fit); needs
        ``checkpoint_path``.""",
}
