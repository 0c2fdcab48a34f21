"""wnmf_np: weakly non-negative matrix factorisation on NumPy/numba and CuPy.

X ≈ φη(H) φη(W) with the leaky ReLU φη(a) = max(a, η a), trained end to end by mini-batch
AdamW with hand-written gradients (Kobayashi & Watanabe, "End-to-end trainable weakly
non-negative factorization"). Importing this package never imports CuPy.
"""

from ._backend import BackendUnavailableError
from ._checkpoint import CheckpointError
from ._deconv_estimator import DeconvWNMF
from ._deep_estimator import DeepWNMF
from ._fit import DivergenceError
from ._mu import MultiplicativeNMF
from ._mu_deep import DeepMultiplicativeNMF
from ._unfold import UnfoldedNMF
from ._wnmf import WNMF, wnmf

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
