"""Forward and backward of deconvolutional WNMF (paper eq. 12), in sklearn orientation.

Each image is a transposed convolution of stride s of r shared small factor images by
its own r kernels of size 2s × 2s::

    X^(i) ≈ φη(W) *ᵀ_s φη(H^(i)),     X^(i) (h, w),  W (r, hi, wi),  H^(i) (r, 2s, 2s)

with (hi, wi) = (ceil(h / s), ceil(w / s)). Data rows are the images flattened in C order,
X of shape (n_samples, h·w). Parameters (channel-first, the kernels' layout, see
:mod:`wnmf_np.models.deconv_ops` and docs/deconv_kernels.md for the crop convention):

    "W" : (r, hi, wi)              the factor images (the paper's W, h/s × w/s × r)
    "H" : (n_samples, r, 2s, 2s)   the per-image kernels (the per-sample parameter)

Forward of a batch of b rows (left) and backward with G = dL/dY (right), F = φη(W),
K = φη(H_b), T = the transposed convolution and T_F*, T_K* its adjoints (the kernels'
``grad_kernels`` and ``grad_factors``):

    F = φη(W)                (r, hi, wi)          G3      = G reshaped (b, h, w)
    K = φη(H_b)              (b, r, 2s, 2s)       dL/dF   = T_K*(G3)  = grad_factors(G3, K)   (r, hi, wi)
    Y3 = T(F, K)             (b, h, w)            dL/dW   = dL/dF ⊙ φη'(W)
    Y  = Y3 reshaped         (b, h·w)             dL/dK   = T_F*(G3)  = grad_kernels(G3, F)   (b, r, 2s, 2s)
                                                  dL/dH_b = dL/dK ⊙ φη'(H_b)

T is bilinear in (F, K), so the two adjoints are the exact partial derivatives; the
factor gradient sums over the batch because W is shared, the kernel gradient is per image.

Training: with ``train_layout="phase"`` (and the default kernels) the driver trains on
the data kept in the kernels' phase layout (:meth:`DeconvModel.training_layout`,
:class:`PhaseLayoutStep`), which saves the image <-> phase copies of every step; Y and G
then have that layout.

Latents (paper, section 3.3 and Table 4): "raw" flattens φη(H^(i)) into 4s²r values
(C order: rank, then kernel row, then column); "sum" adds each rank's 2s × 2s kernel
entries, giving r values per image like the shallow model's latents.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.activations import leaky_relu
from ..core.backend import is_cupy_array, namespace_of
from .deconv_ops import factor_shape, get_deconv_kernels
from .layout import TrainingLayout
from .shallow import _chain

LATENTS = ("sum", "raw")
TRAIN_LAYOUTS = ("image", "phase")


class DeconvCache(NamedTuple):
    """What backward needs from forward."""

    W: object  # (r, hi, wi)
    H_rows: object  # (b, r, 2s, 2s)
    F: object  # φη(W)
    K: object  # φη(H_b)
    ops: object  # the DeconvKernels used by forward
    eta: float
    operands: object = None  # what ops.forward_keep kept for ops.grads (or None)


class DeconvModel:
    """The deconvolutional WNMF forward/backward pair over ``{"W", "H"}``.

    Parameters
    ----------
    n_components : int
        Rank r (number of factor images).
    image_shape : (int, int)
        (h, w) of one image; rows of X are flattened in C order.
    stride : int
        Upsampling factor s; kernels are 2s × 2s.
    impl : str, default "auto"
        Deconvolution implementation (see :func:`wnmf_np.models.deconv_ops.get_deconv_kernels`),
        chosen per backend on first use from the arrays' namespace.
    train_layout : {"image", "phase"}, default "image"
        "image": train on the images as they are; "phase": on a copy of the data in the
        kernels' phase layout where the kernels offer one (:meth:`training_layout`).

    The arguments are validated by the estimator.
    """

    sample_param = "H"
    #: a product of two factors: each starts from its own fan-in (:func:`wnmf_np.core.init.init_factor`)
    inner_dims = None

    def __init__(self, n_components: int, image_shape, stride: int, impl: str = "auto", train_layout: str = "image"):
        if train_layout not in TRAIN_LAYOUTS:
            raise ValueError(f"train_layout must be one of {TRAIN_LAYOUTS}, got {train_layout!r}.")
        self.n_components = int(n_components)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.stride = int(stride)
        self.impl = impl
        self.train_layout = train_layout
        self.factor_shape = factor_shape(*self.image_shape, self.stride)
        self._ops = {}

    def __getstate__(self):
        # the kernel functions are looked up again after unpickling (they are module-level)
        state = dict(self.__dict__)
        state["_ops"] = {}
        return state

    def ops_for(self, a):
        """The deconvolution kernels for the namespace of array ``a`` (cached per backend)."""
        backend = "cupy" if is_cupy_array(a) else "numpy"
        if backend not in self._ops:
            self._ops[backend] = get_deconv_kernels(backend, self.impl)
        return self._ops[backend]

    def param_shapes(self, n_samples: int, n_features: int) -> dict:
        """Shapes: "W" (r, hi, wi), then "H" (n_samples, r, 2s, 2s)."""
        r, k = self.n_components, 2 * self.stride
        return {"W": (r, *self.factor_shape), "H": (n_samples, r, k, k)}

    def fan_in(self, name: str) -> int:
        """4r for both factors: each output pixel sums 4r products.

        Every pixel of the full transposed convolution receives 2 × 2 overlapping kernel
        taps from each of the r channels (the kernel is twice the stride), so 4r plays the
        role the rank r plays in the matrix product of shallow WNMF.
        """
        return 4 * self.n_components

    def forward(self, params: dict, H_rows, eta: float, kernels=None):
        """Reconstruct a batch of flattened images.

        Parameters
        ----------
        params : dict with "W" of shape (r, hi, wi)
        H_rows : array of shape (b, r, 2s, 2s), the batch's kernels
        eta : float
        kernels : KernelSet, optional
            Computes φη in one pass; without it the plain formula is used.

        Returns
        -------
        Y : array of shape (b, h·w)
        cache : DeconvCache
        """
        W = params["W"]
        ops = self.ops_for(W)
        activate = leaky_relu if kernels is None else kernels.leaky_relu
        F = activate(W, eta)
        K = activate(H_rows, eta)
        Y, operands = ops.forward_keep(F, K, self.image_shape, self.stride)
        return Y.reshape(Y.shape[0], -1), DeconvCache(W, H_rows, F, K, ops, eta, operands)

    def backward(self, G, cache: DeconvCache, need=("W", "H"), kernels=None) -> dict:
        """Gradients w.r.t. W (full) and H_b (batch rows), given G = dL/dY of shape (b, h·w).

        ``need`` names the parameters whose gradient is wanted; ``kernels`` (a KernelSet)
        applies φη' in place, else the plain formula. G is read, not modified.
        """
        G3 = G.reshape(G.shape[0], *self.image_shape)
        dF, dK = cache.ops.grads(G3, cache.F, cache.K, self.stride, need=_wanted(need), operands=cache.operands)
        return _param_grads(dF, dK, cache, kernels)

    def training_layout(self, X, observed, loss_name: str):
        """With ``train_layout="phase"``, the training data in the kernels' phase layout
        when they have one (see :mod:`wnmf_np.models.layout`); None otherwise.

        The padding is zero in both the data and the reconstruction, so it adds nothing
        to the L1, L2 and Huber losses; with a mask it is unobserved. Unmasked KL (whose
        f(0, 0) is not zero) trains on the images as they are. Costs one copy of X in
        the padded layout (``s²(hi+1)(wi+1)`` entries per image instead of ``h·w``); the
        loss means stay over the ``h·w`` true entries of an image (``entries_per_row``).

        Parameters
        ----------
        X : array of shape (n_samples, h·w)
        observed : bool array like X, or None
        loss_name : str

        Returns
        -------
        TrainingLayout with X and observed of shape (n_samples, s²(hi+1)(wi+1)), or None
        """
        ops = self.ops_for(X)
        has_phase_ops = None not in (ops.to_phase, ops.forward_phase_keep, ops.grads_phase)
        if self.train_layout == "image" or not has_phase_ops or (loss_name == "kl" and observed is None):
            return None

        def to_phase(A):
            return None if A is None else ops.to_phase(A, self.image_shape, self.stride)

        h, w = self.image_shape
        return TrainingLayout(PhaseLayoutStep(self, ops), to_phase(X), to_phase(observed), h * w)

    def reconstruct(self, params: dict, H_rows, eta: float):
        """φη(W) *ᵀ_s φη(H_rows), flattened: shape (b, h·w)."""
        return self.decode(leaky_relu(params["W"], eta), leaky_relu(H_rows, eta))

    def decode(self, F, K):
        """Images T(F, K) from activated factors F (r, hi, wi) and kernels K (b, r, 2s, 2s), (b, h·w)."""
        Y = self.ops_for(F).forward(F, K, self.image_shape, self.stride)
        return Y.reshape(Y.shape[0], -1)

    def latents(self, K, latent: str):
        """Latent vectors from activated kernels K (n, r, 2s, 2s).

        "raw": K flattened, (n, 4s²r); "sum": K summed over its 2s × 2s positions, (n, r).
        """
        if latent == "raw":
            return K.reshape(K.shape[0], -1)
        return K.sum(axis=(2, 3))


class PhaseLayoutStep:
    """:class:`DeconvModel`'s training step on data in the kernels' phase layout.

    ``forward`` returns the reconstruction as ``ops.forward_phase_keep`` lays it out,
    (b, s²(hi+1)(wi+1)) with zeros where the crop cuts, and ``backward`` takes
    ``G = dL/dY`` in that layout (its cut entries are zeroed in place). Used by the
    training driver only (see :meth:`DeconvModel.training_layout`).
    """

    sample_param = "H"

    def __init__(self, model: DeconvModel, ops):
        self.model = model
        self.ops = ops

    def forward(self, params: dict, H_rows, eta: float, kernels=None):
        """Y (b, s²(hi+1)(wi+1)) and the cache, as :meth:`DeconvModel.forward`."""
        W = params["W"]
        activate = leaky_relu if kernels is None else kernels.leaky_relu
        F = activate(W, eta)
        K = activate(H_rows, eta)
        Y, operands = self.ops.forward_phase_keep(F, K, self.model.image_shape, self.model.stride)
        return Y, DeconvCache(W, H_rows, F, K, self.ops, eta, operands)

    def backward(self, G, cache: DeconvCache, need=("W", "H"), kernels=None) -> dict:
        """Gradients w.r.t. W and H_b from G (b, s²(hi+1)(wi+1)), as :meth:`DeconvModel.backward`."""
        m = self.model
        dF, dK = cache.ops.grads_phase(
            G, cache.F, cache.K, m.image_shape, m.stride, need=_wanted(need), operands=cache.operands
        )
        return _param_grads(dF, dK, cache, kernels)


def _wanted(need) -> tuple:
    """The kernels' names ("F", "K") of the wanted parameters ("W", "H")."""
    return tuple(name for name, p in (("F", "W"), ("K", "H")) if p in need)


def _param_grads(dF, dK, cache: DeconvCache, kernels) -> dict:
    """dL/dW and dL/dH_b from dL/dF and dL/dK (None when not wanted): the chain through φη."""
    grads = {}
    if dF is not None:
        # the fused φη' kernel needs C order; the overlap-add result normally has it
        dF = namespace_of(dF).ascontiguousarray(dF)
        grads["W"] = _chain(dF, cache.W, cache.eta, kernels)
    if dK is not None:
        grads["H"] = _chain(dK, cache.H_rows, cache.eta, kernels)
    return grads
