"""Forward and backward of shallow WNMF, X ≈ φη(H) φη(W) (paper eq. 9, sklearn orientation).

Orientation: the paper factorises its m × n matrix (samples as columns) as φη(W) φη(H)
with W (m, r) and H (r, n). Here, as everywhere inside wnmf_np, data has samples as rows,
X of shape (n_samples, n_features) = the paper's X transposed. The parameters are

    W : (n_features, r)   = the paper's W      (φη(W)ᵀ is ``components_``)
    H : (n_samples, r)    = the paper's H ᵀ    (φη(H) is what ``transform`` returns)

both with the rank as the last, contiguous axis, so a batch of rows ``b`` is
reconstructed as Y = φη(H_b) φη(W)ᵀ, shape (b, n_features).

Backward, with G = dL/dY of shape (b, n_features), A = φη(H_b), B = φη(W):

    dL/dB = Gᵀ A          (n_features, r)     dL/dW = dL/dB ⊙ φη'(W)
    dL/dA = G B           (b, r)              dL/dH_b = dL/dA ⊙ φη'(H_b)

Layout: W is stored in the paper's (m, r) shape so that both gradient products are plain
row-major GEMMs (Gᵀ A and G B). bench/bench_wnmf_step.py times both layouts: on an idle
2-core machine they are within 5 % of each other at the ORL size (each product about
0.5 ms on one thread, 0.3-0.45 ms on two); under load the transposed variants of the other
layout were up to 2x slower, so the choice costs nothing and sometimes helps.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.activations import leaky_relu, leaky_relu_grad
from .layout import StoredLayout


def _chain(grad_act, param, eta, kernels):
    """dL/dparam = dL/dφη(param) ⊙ φη'(param)."""
    if kernels is None:
        return grad_act * leaky_relu_grad(param, eta)
    kernels.leaky_grad_mul_(grad_act, param, eta)
    return grad_act


class ShallowCache(NamedTuple):
    """What backward needs from forward."""

    W: object
    H_rows: object
    A: object  # φη(H_b), (b, r)
    B: object  # φη(W), (n_features, r)
    eta: float


class ShallowModel(StoredLayout):
    """The shallow WNMF forward/backward pair over a parameter dict ``{"W", "H"}``.

    ``H`` is the per-sample parameter (rows = samples): the training driver gathers the
    batch rows ``H[rows]`` and passes them in, and gets the gradient of those rows back.
    """

    sample_param = "H"
    #: a product of two factors: each starts from its own fan-in (:func:`wnmf_np.core.init.init_factor`)
    inner_dims = None

    def __init__(self, n_components: int):
        self.n_components = n_components

    def param_shapes(self, n_samples: int, n_features: int) -> dict:
        """Shapes of the parameters for data of shape (n_samples, n_features)."""
        r = self.n_components
        return {"W": (n_features, r), "H": (n_samples, r)}

    def fan_in(self, name: str) -> int:
        """Inner dimension of the product each parameter enters (for the init scale)."""
        return self.n_components

    def forward(self, params: dict, H_rows, eta: float, kernels=None):
        """Reconstruct a batch.

        Parameters
        ----------
        params : dict with "W" of shape (n_features, r)
        H_rows : array of shape (b, r), the batch rows of H
        eta : float
        kernels : KernelSet, optional
            Computes φη in one pass (:meth:`backward` uses it for φη'); without it the
            plain formula is used.

        Returns
        -------
        Y : array of shape (b, n_features)
        cache : ShallowCache
        """
        W = params["W"]
        activate = leaky_relu if kernels is None else kernels.leaky_relu
        A = activate(H_rows, eta)
        B = activate(W, eta)
        return A @ B.T, ShallowCache(W, H_rows, A, B, eta)

    def backward(self, G, cache: ShallowCache, need=("W", "H"), kernels=None) -> dict:
        """Gradients of the loss w.r.t. W (full) and H_b (batch rows), given G = dL/dY.

        ``need`` names the parameters whose gradient is wanted (a frozen W is skipped).
        ``kernels`` (a :class:`wnmf_np.kernels.KernelSet`) applies φη' in place without
        temporaries; without it the plain formula is used.
        """
        grads = {}
        if "W" in need:
            grads["W"] = _chain(G.T @ cache.A, cache.W, cache.eta, kernels)
        if "H" in need:
            grads["H"] = _chain(G @ cache.B, cache.H_rows, cache.eta, kernels)
        return grads

    def reconstruct(self, params: dict, H_rows, eta: float):
        """φη(H_rows) φη(W)ᵀ, shape (b, n_features)."""
        return leaky_relu(H_rows, eta) @ leaky_relu(params["W"], eta).T

    def latents(self, params: dict, eta: float):
        """φη(H), shape (n_samples, r)."""
        return leaky_relu(params["H"], eta)
