"""Forward and backward of deep WNMF (paper eq. 11), in sklearn orientation.

The paper stacks L weakly non-negative factorisations of its m × n matrix (samples as
columns)::

    X_paper ≈ φη(W_L) ⋯ φη(W_2) φη(W_1) φη(H_1),
    W_l ∈ R^{r_{l+1} × r_l},  H_1 ∈ R^{r_1 × n},  r_{L+1} = m.

Inside wnmf_np data has samples as rows, X = X_paperᵀ of shape (n_samples, n_features),
so the same model reads

    X ≈ φη(H) φη(W_1)ᵀ φη(W_2)ᵀ ⋯ φη(W_L)ᵀ.

Parameters (a dict, the names used everywhere, e.g. ``DeepWNMF.params_``):

    "W1" … "WL" : (r_{l+1}, r_l)   the paper's W_l, in the paper's shape
    "H"         : (n_samples, r_1) the paper's H_1 transposed (the per-sample parameter)

With ``ranks=(r,)`` (L = 1) this is the shallow model exactly: "W1" is (n_features, r),
the layout of :class:`wnmf_np.models.shallow.ShallowModel`'s "W", and every product below is
the one the shallow model computes.

Forward of a batch of b rows (left) and backward with G = dL/dY (right), B_l = φη(W_l):

    P_1     = φη(H_b)          (b, r_1)            G_{L+1} = G                       (b, m)
    P_{l+1} = P_l B_lᵀ         (b, r_{l+1})        dL/dB_l = G_{l+1}ᵀ P_l            (r_{l+1}, r_l)
    Y       = P_{L+1}          (b, m)              dL/dW_l = dL/dB_l ⊙ φη'(W_l)
                                                   G_l     = G_{l+1} B_l              (b, r_l)
                                                   dL/dH_b = G_1 ⊙ φη'(H_b)          (b, r_1)

Multiplication order: activations are propagated up and gradients down one layer at a
time, so every product has the batch (b) on one side and costs b·r_l·r_{l+1}; the
m × r_1 basis φη(W_L)⋯φη(W_1) is never formed in a step. Forming it would cost
m·Σ r_l r_{l+1} per step on top of b·m·r_1, more than the chain for the sizes of the paper
(b = 32, ranks (20, 40), m = 10304: 13.2 vs 14.8 million multiply-adds per forward).

The latent of layer l (paper, section 3.2) is φη(W_{l−1})⋯φη(W_1)φη(H_1); here
Z_1 = φη(H) (n, r_1) and Z_{l+1} = Z_l φη(W_l)ᵀ (n, r_{l+1}).
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.activations import leaky_relu
from .layout import StoredLayout
from .shallow import _chain


def layer_names(n_layers: int) -> tuple:
    """Names "W1" … "WL" of the weight parameters, bottom (next to H) to top (next to X)."""
    return tuple(f"W{layer}" for layer in range(1, n_layers + 1))


class DeepCache(NamedTuple):
    """What backward needs from forward."""

    Ws: tuple  # raw W_1 … W_L
    H_rows: object  # (b, r_1)
    Ps: tuple  # P_1 … P_L, the inputs of each layer's product, (b, r_l)
    Bs: tuple  # φη(W_1) … φη(W_L)
    eta: float


class DeepModel(StoredLayout):
    """The deep WNMF forward/backward pair over ``{"W1", …, "WL", "H"}``.

    Parameters
    ----------
    ranks : tuple of int
        ``(r_1, …, r_L)``, bottom layer first (r_1 is the rank of H); r_{L+1} is the
        number of features. Validated by the estimator.

    It trains on the data as it is (:class:`wnmf_np.models.layout.StoredLayout`).
    """

    sample_param = "H"

    def __init__(self, ranks):
        self.ranks = tuple(int(r) for r in ranks)
        self.names = layer_names(len(self.ranks))

    @property
    def n_layers(self) -> int:
        return len(self.ranks)

    def param_shapes(self, n_samples: int, n_features: int) -> dict:
        """Shapes: "W1" … "WL" (r_{l+1}, r_l) with r_{L+1} = n_features, then "H" (n, r_1).

        The order (weights bottom-up, then H) fixes the order of the random draws of the
        initialisation; with L = 1 it is the shallow model's ("W", then "H").
        """
        outer = self.ranks[1:] + (n_features,)
        shapes = {name: (r_out, r_in) for name, r_out, r_in in zip(self.names, outer, self.ranks)}
        shapes["H"] = (n_samples, self.ranks[0])
        return shapes

    @property
    def inner_dims(self) -> tuple:
        """The inner dimensions of the whole product φ(W_L)…φ(W_1)φ(H): the ranks."""
        return self.ranks

    def fan_in(self, name: str) -> int:
        """Inner dimension of the product the parameter enters: r_l for W_l, r_1 for H."""
        if name == "H":
            return self.ranks[0]
        return self.ranks[self.names.index(name)]

    def forward(self, params: dict, H_rows, eta: float, kernels=None):
        """Reconstruct a batch.

        Parameters
        ----------
        params : dict with "W1" … "WL", W_l of shape (r_{l+1}, r_l)
        H_rows : array of shape (b, r_1), the batch rows of H
        eta : float
        kernels : KernelSet, optional
            Computes φη in one pass; without it the plain formula is used.

        Returns
        -------
        Y : array of shape (b, n_features)
        cache : DeepCache
        """
        Ws = tuple(params[name] for name in self.names)
        activate = leaky_relu if kernels is None else kernels.leaky_relu
        Bs = tuple(activate(W, eta) for W in Ws)
        Ps = [activate(H_rows, eta)]
        for B in Bs:
            Ps.append(Ps[-1] @ B.T)
        Y = Ps.pop()  # P_{L+1} is the output; backward needs only P_1 … P_L
        return Y, DeepCache(Ws, H_rows, tuple(Ps), Bs, eta)

    def backward(self, G, cache: DeepCache, need=None, kernels=None) -> dict:
        """Gradients w.r.t. the weights (full) and H_b (batch rows), given G = dL/dY.

        Parameters
        ----------
        G : array of shape (b, n_features)
            dL/dY; read, not modified.
        cache : DeepCache from :meth:`forward`
        need : iterable of parameter names, optional
            Gradients to compute (default: all). The downward pass stops at the lowest
            needed layer, so with only the top weights trainable nothing below is touched.
        kernels : KernelSet, optional
            Applies φη' in place (``leaky_grad_mul_``); else the plain formula.

        Returns
        -------
        dict name -> gradient, "Wl" of shape (r_{l+1}, r_l), "H" of shape (b, r_1)
        """
        need = set(self.names + ("H",)) if need is None else set(need)
        # the lowest layer index whose gradient is wanted (0 stands for H)
        wanted = [0] if "H" in need else []
        wanted += [i + 1 for i, name in enumerate(self.names) if name in need]
        if not wanted:
            return {}
        lowest = min(wanted)
        grads = {}
        g = G  # G_{l+1}, the gradient w.r.t. the output of layer l
        for i in range(self.n_layers - 1, max(lowest, 1) - 2, -1):  # layers L … max(lowest, 1), i = l − 1
            name = self.names[i]
            if name in need:
                grads[name] = _chain(g.T @ cache.Ps[i], cache.Ws[i], cache.eta, kernels)
            if i + 1 > lowest:  # something below still needs the gradient: pass it down
                g = g @ cache.Bs[i]
        if "H" in need:
            # g is now G_1 = dL/dP_1, a fresh product (L >= 1), so φη' may act in place
            grads["H"] = _chain(g, cache.H_rows, cache.eta, kernels)
        return grads

    def reconstruct(self, params: dict, H_rows, eta: float):
        """φη(H_rows) φη(W_1)ᵀ ⋯ φη(W_L)ᵀ, shape (b, n_features)."""
        return self.layer_up(params, leaky_relu(H_rows, eta), eta, 1, self.n_layers + 1)

    def layer_up(self, params: dict, Z, eta: float, start: int, stop: int):
        """Map layer-``start`` latents Z (n, r_start) to layer ``stop``: Z φη(W_start)ᵀ ⋯.

        ``stop = L + 1`` gives the reconstruction; ``start == stop`` returns Z.
        """
        for name in self.names[start - 1 : stop - 1]:
            Z = Z @ leaky_relu(params[name], eta).T
        return Z

    def basis(self, params: dict, eta: float, layer: int = 1):
        """φη(W_layer)ᵀ ⋯ φη(W_L)ᵀ of shape (r_layer, n_features): layer latents -> data.

        Multiplied from the top down, so each product has the (smaller) rank on the left.
        """
        out = None
        for name in reversed(self.names[layer - 1 :]):
            Bt = leaky_relu(params[name], eta).T
            out = Bt if out is None else Bt @ out
        return out
