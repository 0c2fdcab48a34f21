"""The deconvolutional WNMF estimator (paper eq. 12, section 3.3); the model is in
:mod:`wnmf_np.models.deconv`."""

from __future__ import annotations

import copy
import math
import numbers

from ..core.activations import leaky_relu
from ..core.backend import Backend, namespace_of
from ..core.params import POSITIVE_INT, Satisfies, check_parameter, document_parameters, options
from ..core.regularization import AUTO_L2
from ..core.validation import check_latents
from ..models.deconv import LATENTS, TRAIN_LAYOUTS, DeconvModel
from ..models.deconv_ops import validate_deconv_geometry
from .base import BaseWNMF
from .params import WNMF_FAMILY_CONSTRAINTS, WNMF_FAMILY_DOCS, WNMF_FAMILY_PARAMETERS


def resolve_image_shape(image_shape, stride, n_features: int) -> tuple:
    """(h, w, s) for ``image_shape`` and ``stride``; errors name them.

    ``image_shape=None`` means square images; one entry of ``image_shape`` may be -1, the
    other is then inferred from ``n_features`` as ``numpy.reshape`` does.
    """
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"image_shape=None means square images, but {n_features} features is not a perfect "
                "square; pass image_shape=(height, width)."
            )
        image_shape = (side, side)
    elif isinstance(image_shape, (tuple, list)) and len(image_shape) == 2 and _count_minus_one(image_shape) == 1:
        known = image_shape[1] if _is_minus_one(image_shape[0]) else image_shape[0]
        if isinstance(known, numbers.Integral) and not isinstance(known, bool) and known >= 1:
            if n_features % known:
                raise ValueError(
                    f"image_shape={tuple(image_shape)}: {n_features} features do not split into images "
                    f"with a side of {known}."
                )
            other = n_features // int(known)
            image_shape = (other, int(known)) if _is_minus_one(image_shape[0]) else (int(known), other)
    return validate_deconv_geometry(image_shape, stride, n_features)


def _is_minus_one(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value == -1


def _count_minus_one(pair) -> int:
    return sum(_is_minus_one(v) for v in pair)


def _image_shape(value) -> bool:
    """(h, w) of positive integers, one of which may be -1 (checked against the data in fit)."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_minus_one(v) or _is_positive_int(v) for v in value)


def _is_positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


@document_parameters(WNMF_FAMILY_DOCS, WNMF_FAMILY_PARAMETERS, regularised="W and every H^(i)",
                     auto_l1=AUTO_L2["l1"], auto_other=AUTO_L2["l2"], notes={
    "l2": """In ``l2_mode="objective"`` each factor's λ is weighted by its fan-in over its
    size (:mod:`wnmf_np.core.regularization`).""",
    "init": """``"he_uniform"`` draws W and H uniform on ±sqrt(6 / 4r): each output pixel
    sums 4r products (2 × 2 overlapping taps per rank), the analogue of the rank r of the
    matrix product.""",
    "batch_size": "The default (WNMF's is 64) was measured on ORL (docs/deep_and_deconv.md), as were those of ``max_epochs`` and ``latent_lr``.",
})  # fmt: skip
class DeconvWNMF(BaseWNMF):
    """Deconvolutional weakly non-negative factorisation of images (paper eq. 12).

    Every image is reconstructed as ``X^(i) ≈ φη(W) *ᵀ_s φη(H^(i))``: a transposed
    convolution of stride s (upsampling by s) of r shared factor images W, each (h/s) ×
    (w/s), by the image's own r kernels H^(i) of size 2s × 2s. Both are trained end to
    end like :class:`wnmf_np.WNMF` (mini-batch AdamW over images, hand-written backward;
    see :mod:`wnmf_np.models.deconv` for the equations and docs/deconv_kernels.md for the crop).

    Orientation: sklearn's. ``X`` is (n_samples, h·w), one image per row flattened in
    C order (height first), e.g. ``load_orl().data`` with ``image_shape=(112, 92)``.

    Parameters
    ----------
    n_components : int
        Rank r, the number of factor images (>= 1).
    stride : int, default 2
        Upsampling factor s >= 1; factor images are (ceil(h/s), ceil(w/s)), kernels 2s × 2s.
    image_shape : (int, int) or None, default None
        (h, w) of one image, with h·w = n_features. One of the two may be -1, inferred
        from n_features as in ``numpy.reshape``: ``(1, -1)`` factorises 1-D signals of any
        length. None: square images.
    latent : {"sum", "raw"}, default "sum"
        What ``transform``/``fit_transform`` return (paper, Table 4): "raw" flattens
        φη(H^(i)) into 4s²r values, "sum" adds each rank's 2s × 2s kernel entries (r
        values). It only changes how latents are read, not the training.
    train_layout : {"image", "phase"}, default "image"
        How the data are held while ``fit`` and ``transform`` train. "image": the images
        as they are (peak memory of a fit ≈ 1.4× X + parameters + optimizer state on
        ORL). "phase": also a copy in the deconvolution kernels' phase layout
        (``s²(hi+1)(wi+1)`` values per image, e.g. 10716 instead of 10304 for ORL at
        s = 2), which saves two copies per training step (0-35 % of an epoch on the CPU
        in docs/performance.md, more at larger strides) at the price of about twice the
        memory (≈ 2.2×). Both give the same result up to rounding. Out-of-core data and
        unmasked KL always train on the images.
    <shared parameters>

    Attributes
    ----------
    negativity_ : dict of str -> dict
        Negativity (:func:`wnmf_np.metrics.negativity`) of "components" (φη(W)) and
        "kernels" (φη(H)).
    components_ : array of shape (n_components, hi, wi)
        φη(W), the learnt factor images, (hi, wi) = (ceil(h/s), ceil(w/s)). Unlike WNMF's,
        these are smaller than the images and are not a (n_components, n_features) basis.
    kernels_ : array of shape (n_samples, n_components, 2s, 2s)
        φη(H), the kernels of the training images.
    latents_ : array of shape (n_samples, n_latent)
        The training latents as selected by ``latent`` at fit time; n_latent = r for
        "sum", 4s²r for "raw".
    params_ : dict
        Raw parameters: "W" (n_components, hi, wi) and "H" (n_samples, n_components, 2s, 2s).
    image_shape_ : (int, int)
        The (h, w) used.
    loss_curve_, n_iter_, reconstruction_err_, final_eta_, n_features_in_
        As for :class:`wnmf_np.WNMF`.
    """

    _parameter_constraints = {
        **WNMF_FAMILY_CONSTRAINTS,
        "n_components": [POSITIVE_INT],
        "stride": [POSITIVE_INT],
        "image_shape": [None, Satisfies(_image_shape, "a pair (height, width) of positive integers, one of them may be -1")],
        "latent": [options(LATENTS)],
        "train_layout": [options(TRAIN_LAYOUTS)],
    }

    def __init__(
        self,
        n_components,
        *,
        stride=2,
        image_shape=None,
        latent="sum",
        train_layout="image",
        eta=0.1,
        l2="auto",
        l2_mode="objective",
        loss="l1",
        loss_reduction="mean",
        huber_delta=1.0,
        eta_schedule="constant",
        lr_schedule="cosine",
        batch_size=32,
        max_epochs=200,
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
        self.n_components = n_components
        self.stride = stride
        self.image_shape = image_shape
        self.latent = latent
        self.train_layout = train_layout
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

    @property
    def _n_features_out(self) -> int:
        """Columns of ``transform``'s output: r for ``latent="sum"``, 4s²r for "raw"."""
        r, k = self.model_.n_components, 2 * self.model_.stride
        return r if check_parameter(self, "latent") == "sum" else r * k * k

    # ---------------------------------------------------------------- hooks
    def _validate_extra(self, n_features: int) -> None:
        resolve_image_shape(self.image_shape, self.stride, n_features)  # the geometry against the data

    def _make_model(self, n_features: int) -> DeconvModel:
        h, w, s = resolve_image_shape(self.image_shape, self.stride, n_features)
        return DeconvModel(int(self.n_components), (h, w), s, train_layout=self.train_layout)

    def _model_for_transform(self):
        """A copy of the fitted model set to the current ``train_layout`` (fitted state is
        left as it is)."""
        model = copy.copy(self.model_)
        model.train_layout = self.train_layout  # validated by transform
        return model

    def _latents_of(self, params: dict, eta: float):
        return self.model_.latents(leaky_relu(params["H"], eta), self.latent)

    def _factors(self) -> dict:
        """The factor images φη(W) and the per-image kernels φη(H) (not the summed latents)."""
        return {"components": self.components_, "kernels": self.kernels_}

    def _set_derived(self, backend) -> None:
        """components_, kernels_ and latents_ from ``params_``."""
        self.image_shape_ = self.model_.image_shape
        self.components_ = leaky_relu(self.params_["W"], self.final_eta_)
        self.kernels_ = leaky_relu(self.params_["H"], self.final_eta_)
        self.latents_ = self._latents_of(self.params_, self.final_eta_)

    def _warm_start_latents(self, params: dict, X, observed, backend: Backend):
        """Every new image starts from the mean raw kernel of the training images.

        A least-squares start (as for WNMF) would need the (4s²r)² Gram matrix of the
        deconvolution operator, 2560² at ORL size with s = 4; the mean kernel is a cheap,
        deterministic start that keeps the rows independent, and training then refines it.
        """
        return self._mean_training_latents(X, backend)

    def _decode(self, Z):
        """Images from raw latents Z (n, 4s²r); "sum" latents cannot be decoded."""
        if self.latent != "raw":
            raise ValueError(
                f"inverse_transform needs latent='raw' (the full kernels); latent={self.latent!r} "
                "keeps only per-rank sums, from which the images cannot be rebuilt."
            )
        F = self.components_
        xp = namespace_of(F)
        r, k = self.model_.n_components, 2 * self.model_.stride
        Z = check_latents(Z, r * k * k, xp, F.dtype)  # the same checks as every estimator's
        return self.model_.decode(F, xp.ascontiguousarray(Z.reshape(Z.shape[0], r, k, k)))
