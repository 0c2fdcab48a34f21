"""wnmf_np: weakly non-negative matrix factorisation on NumPy/numba and CuPy.

X ≈ φη(H) φη(W) with the leaky ReLU φη(a) = max(a, η a), trained end to end by mini-batch
AdamW with hand-written gradients (Kobayashi & Watanabe, "End-to-end trainable weakly
non-negative factorization"). Importing this package never imports CuPy.

Names, one convention in every family (the module docstrings point here): data ``X`` is
(n_samples, n_features), samples as rows (the paper's matrix transposed); ``W`` is the
basis and ``H`` the latents, the paper's names, stored as ``W`` (n_features, r) and ``H``
(n_samples, r): X ≈ φη(H) φη(W)ᵀ (WNMF), X ≈ H Wᵀ (the multiplicative baselines). A
trailing ``t`` marks the transpose of that stored orientation: ``Wt`` (r, n_features),
e.g. ``components_``; ``Ht`` (r, n_samples) and ``Xt = X.T`` where code works with samples
as columns (deep MU, deep unfolding). Products are named by what they are: ``XW = X @
Wt.T`` and ``WtW = Wt @ Wt.T`` (the Gram WᵀW). Deep models keep the paper's layer
factors ``W_l`` (r_{l+1}, r_l). Only public arguments that follow
scikit-learn keep its names: ``MultiplicativeNMF.fit(X, W=, H=)`` (``W`` the latents,
``H`` the components) and ``inverse_transform(W)``; each estimator translates them once.
"""

from .core.backend import BackendUnavailableError
from .estimators.deconv import DeconvWNMF
from .estimators.deep import DeepWNMF
from .estimators.wnmf import WNMF, wnmf
from .mu.deep import DeepMultiplicativeNMF
from .mu.shallow import MultiplicativeNMF
from .mu.unfolded import UnfoldedNMF
from .training.checkpoint import CheckpointError
from .training.driver import DivergenceError

__version__ = "0.1.0"

__all__ = [
    "WNMF",
    "wnmf",
    "DeepWNMF",
    "DeconvWNMF",
    "MultiplicativeNMF",
    "DeepMultiplicativeNMF",
    "UnfoldedNMF",
    "BackendUnavailableError",
    "CheckpointError",
    "DivergenceError",
    "__version__",
]
