"""Geometry of the deconvolution kernels (paper, section 3.3, eq. 12): shapes, the crop, checks.

The deconvolutional factorisation reconstructs each image as a transposed convolution
of stride ``s`` of ``r`` shared small factor images by per-image ``2s x 2s`` kernels::

    X^(i) ≈ φ(W) *ᵀ_s φ(H^(i))

Layouts (channel-first, C-contiguous, float32 or float64), used by every implementation:

=========  =======================  ==============================================
name       shape                    meaning
=========  =======================  ==============================================
``F``      ``(r, hi, wi)``          factor images, the paper's φ(W)
``K``      ``(b, r, 2s, 2s)``       per-image kernels, the paper's φ(H^(i)), batched
``Y``      ``(b, h, w)``            reconstructed images
=========  =======================  ==============================================

with ``(hi, wi) = factor_shape(h, w, s) = (ceil(h / s), ceil(w / s))``.

Crop convention (the only one; see :func:`output_crop`): the full transposed convolution
``full[i, s*p + u, s*q + v] += Σ_c F[c, p, q] K[i, c, u, v]`` has ``(hi + 1) * s`` rows
and ``(wi + 1) * s`` columns. ``Y`` keeps ``h`` rows starting at row ``top = s // 2``
and ``w`` columns starting at column ``left = s // 2``: the ``s`` surplus rows of the
full output are split ``s // 2`` at the start and ``s - s // 2`` at the end (so for odd
``s``, e.g. ``s = 1``, the extra row goes to the end), and when ``h`` is not a multiple
of ``s`` the ``hi * s - h`` rows that rounding up added are also cut at the end.
Columns likewise.

Kernels import these helpers from here (never from :mod:`wnmf_np.models`), and
:mod:`wnmf_np.models.deconv_ops` re-exports them for the model: the imports point
downward only, models -> kernels -> core.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

__all__ = [
    "DeconvGeometry",
    "check_deconv_operands",
    "factor_shape",
    "output_crop",
    "phase_map",
    "result_dtype",
    "validate_deconv_geometry",
]


def factor_shape(h: int, w: int, s: int) -> tuple[int, int]:
    """Spatial shape ``(hi, wi) = (ceil(h / s), ceil(w / s))`` of the factor images."""
    return -(-h // s), -(-w // s)


def output_crop(h: int, w: int, s: int) -> tuple[int, int]:
    """Offsets ``(top, left)`` of the ``h x w`` image inside the full transposed conv.

    The full output has ``(hi + 1) * s`` rows (``hi = ceil(h / s)``); the image is rows
    ``top : top + h`` with ``top = s // 2`` (columns likewise with ``left = s // 2``).
    Everything else is cut: ``s // 2`` rows at the start, the rest at the end. This is
    the single definition of the crop; every implementation calls it.
    """
    del h, w  # the offsets do not depend on the image size, only on the stride
    return s // 2, s // 2


class DeconvGeometry(NamedTuple):
    """Validated sizes of one deconvolution: batch, rank, image, factor and stride."""

    b: int
    r: int
    h: int
    w: int
    hi: int
    wi: int
    s: int


def _check_stride(stride: Any) -> int:
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral):
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}.")
    if stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride}.")
    return int(stride)


def _check_pair(name: str, shape: Any) -> tuple[int, int]:
    """A pair of positive ints, e.g. an image shape ``(h, w)``."""
    try:
        pair = tuple(shape)
    except TypeError:
        pair = ()
    ok = len(pair) == 2 and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in pair
    )
    if not ok:
        raise ValueError(f"{name} must be two positive integers (height, width), got {shape!r}.")
    return int(pair[0]), int(pair[1])


def validate_deconv_geometry(
    image_shape: Any, stride: Any, n_features: int | None = None
) -> tuple[int, int, int]:
    """Check the image geometry of a deconvolutional factorisation.

    Parameters
    ----------
    image_shape : pair of int
        ``(h, w)``, the height and width of one image.
    stride : int
        Upsampling factor ``s >= 1``; kernels are ``2s x 2s``.
    n_features : int, optional
        Number of columns of the flattened data; must equal ``h * w`` when given.

    Returns
    -------
    (h, w, s) : tuple of int

    Raises
    ------
    ValueError
        If ``stride`` is not an integer >= 1, ``image_shape`` is not two positive
        integers, or ``h * w != n_features``.
    """
    s = _check_stride(stride)
    h, w = _check_pair("image_shape", image_shape)
    if n_features is not None and h * w != n_features:
        raise ValueError(
            f"image_shape {(h, w)} holds {h * w} pixels but the data have "
            f"{n_features} features per sample; pass the true (height, width)."
        )
    return h, w, s


def _check_ndim(name: str, a: Any, ndim: int, layout: str) -> None:
    if getattr(a, "ndim", None) != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {getattr(a, 'shape', None)}.")


def check_deconv_operands(
    *,
    stride: Any,
    F: Any = None,
    K: Any = None,
    G: Any = None,
    out_shape: Any = None,
    in_shape: Any = None,
) -> DeconvGeometry:
    """Check that the given operands of one kernel call fit together.

    Pass the operands the call has (keyword only): ``F`` (r, hi, wi), ``K``
    (b, r, 2s, 2s), ``G`` (b, h, w), ``out_shape`` (h, w), ``in_shape`` (hi, wi).
    Sizes not fixed by the given operands are derived (``hi, wi`` from ``h, w``).

    Returns
    -------
    DeconvGeometry

    Raises
    ------
    ValueError
        Naming the operand whose shape disagrees.
    """
    s = _check_stride(stride)
    b = r = h = w = None
    if G is not None:
        _check_ndim("G", G, 3, "(b, h, w)")
        b, h, w = (int(n) for n in G.shape)
    if out_shape is not None:
        h, w = _check_pair("out_shape", out_shape)
    if h is None:  # grad_kernels: the image size is G's, which is required then
        raise ValueError("the image shape is unknown: pass G or out_shape.")
    hi, wi = factor_shape(h, w, s)
    if in_shape is not None and _check_pair("in_shape", in_shape) != (hi, wi):
        raise ValueError(
            f"in_shape must be the factor shape ceil((h, w) / s) = {(hi, wi)} for images "
            f"{(h, w)} and stride {s}, got {tuple(in_shape)}."
        )
    if F is not None:
        _check_ndim("F", F, 3, "(r, hi, wi)")
        r = int(F.shape[0])
        if tuple(F.shape[1:]) != (hi, wi):
            raise ValueError(
                f"F must have spatial shape ceil((h, w) / s) = {(hi, wi)} for images {(h, w)} "
                f"and stride {s}, got F.shape={tuple(F.shape)}."
            )
    if K is not None:
        _check_ndim("K", K, 4, "(b, r, 2s, 2s)")
        if tuple(K.shape[2:]) != (2 * s, 2 * s):
            raise ValueError(
                f"K must have kernels of size 2s x 2s = {(2 * s, 2 * s)}, got K.shape={tuple(K.shape)}."
            )
        if b is not None and K.shape[0] != b:
            raise ValueError(f"K has {K.shape[0]} kernels but G has {b} images.")
        if r is not None and K.shape[1] != r:
            raise ValueError(f"K has {K.shape[1]} channels but F has {r} factor images.")
        b, r = int(K.shape[0]), int(K.shape[1])
    return DeconvGeometry(b, r, h, w, hi, wi, s)


def result_dtype(xp: Any, *arrays: Any):
    """Floating dtype of a kernel's output: the inputs' promoted type, at least float32.

    float32 inputs stay float32; mixing float32 with float64 gives float64; integer
    inputs follow the namespace's promotion with float32 (int64 -> float64).
    """
    return xp.result_type(xp.float32, *(a.dtype for a in arrays))


def phase_map(n: int, s: int, offset: int) -> list[tuple[int, int, int, int]]:
    """How an image axis of length ``n`` splits into the ``s`` phases of the full output.

    Full-output index ``R = s * P + u`` (block ``P``, phase ``u < s``) lands on image
    index ``y = R - offset``, where ``offset`` is ``top`` or ``left`` from
    :func:`output_crop` for the row or column axis. For each phase ``u`` the
    image indices ``y0, y0 + s, ...`` (``count`` of them) come from blocks
    ``P0, P0 + 1, ...``.

    Returns
    -------
    list of (u, y0, P0, count)
        One entry per phase ``u = 0 .. s - 1``; ``count`` may be 0 when ``n < s``.
    """
    out = []
    for u in range(s):
        y0 = (u - offset) % s
        p0 = (y0 + offset - u) // s  # 0 or 1 since 0 <= offset < s
        out.append((u, y0, p0, len(range(y0, n, s))))
    return out
