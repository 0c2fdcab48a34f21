"""wnmf_np: weakly non-negative matrix factorisation on NumPy/numba and CuPy.

X ≈ φη(H) φη(W) with the leaky ReLU φη(a) = max(a, η a), trained end to end by mini-batch
AdamW with hand-written gradients (Kobayashi & Watanabe, "End-to-end trainable weakly
non-negative factorization"). Importing this package never imports CuPy.
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
