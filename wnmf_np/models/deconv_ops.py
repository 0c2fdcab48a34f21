"""Geometry and dispatch of the deconvolution kernels (paper, section 3.3, eq. 12).

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

Implementations live in ``wnmf_np/kernels/deconv_*.py`` and share the signatures::

    forward(F, K, out_shape, stride) -> Y            (b, h, w)
    grad_factors(G, K, in_shape, stride) -> dF       (r, hi, wi), summed over the batch
    grad_kernels(G, F, stride) -> dK                 (b, r, 2s, 2s)
    forward_keep, grads                              optional, see DeconvKernels
    to_phase, forward_phase_keep, grads_phase        optional, see DeconvKernels

where ``out_shape = (h, w)``, ``in_shape = (hi, wi)`` and ``G = dL/dY`` of shape
``(b, h, w)``. :func:`get_deconv_kernels` picks one by backend name.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "CPU_DEFAULT_IMPL",
    "DeconvGeometry",
    "DeconvKernels",
    "check_deconv_operands",
    "factor_shape",
    "get_deconv_kernels",
    "output_crop",
    "phase_map",
    "result_dtype",
    "validate_deconv_geometry",
]

# Fastest CPU implementation measured by bench/bench_deconv_kernels.py at ORL size
# (b=32, 112x92, r=40, s=2 and 4, float32) on the 2-core development VM; see
# docs/deconv_kernels.md for the table. Change it only with a new measurement.
CPU_DEFAULT_IMPL = "xp"

# implementation name -> (module, backends it accepts)
_IMPLS = {
    "reference": ("wnmf_np.kernels.deconv_reference", ("numpy",)),
    "xp": ("wnmf_np.kernels.deconv_xp", ("numpy", "cupy")),
    "numba": ("wnmf_np.kernels.deconv_numba", ("numpy",)),
    "cupy": ("wnmf_np.kernels.deconv_cupy", ("cupy",)),
}
_AUTO = {"numpy": CPU_DEFAULT_IMPL, "cupy": "cupy"}


# ------------------------------------------------------------------------ geometry
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


# ------------------------------------------------------------------------ dispatch
class DeconvKernels(NamedTuple):
    """The deconvolution operations of one implementation.

    Besides the three operations of the module docstring, a training step uses

    * ``forward_keep(F, K, out_shape, stride) -> (Y, operands)``: ``forward`` plus
      whatever the same step's backward can reuse (None when nothing);
    * ``grads(G, F, K, stride, need=("F", "K"), operands=None) -> (dF, dK)``: both
      adjoints in one call (None for the one not in ``need``).

    An implementation that shares work (the xp one keeps its GEMM operands and gathers
    ``G`` into phase space once) provides its own; the others get the plain compositions
    of :func:`_plain_forward_keep` and :func:`_separate_grads`.

    An implementation that can train on data kept in its phase layout (the xp one and
    CuPy) also provides, else they are None (see ``wnmf_np/kernels/deconv_xp.py``):

    * ``to_phase(images, out_shape, stride) -> Z``: rows of images (n, h*w) in the phase
      layout (n, s*s*(hi+1)*(wi+1)), zero where the crop cuts;
    * ``forward_phase_keep(F, K, out_shape, stride) -> (Z, operands)``: ``forward_keep``
      with ``Z`` (b, s*s*(hi+1)*(wi+1)) in that layout;
    * ``grads_phase(Gph, F, K, out_shape, stride, need, operands) -> (dF, dK)``: ``grads``
      for a gradient in that layout (its cut entries are zeroed in place).
    """

    name: str
    forward: Callable
    grad_factors: Callable
    grad_kernels: Callable
    forward_keep: Callable
    grads: Callable
    to_phase: Callable | None = None
    forward_phase_keep: Callable | None = None
    grads_phase: Callable | None = None


def _plain_forward_keep(forward: Callable) -> Callable:
    """``forward_keep`` that keeps nothing."""

    def forward_keep(F, K, out_shape, stride):
        return forward(F, K, out_shape, stride), None

    return forward_keep


def _separate_grads(grad_factors: Callable, grad_kernels: Callable) -> Callable:
    """``grads`` from the two single adjoints (no shared work; ``operands`` is ignored)."""

    def grads(G, F, K, stride, *, need=("F", "K"), operands=None):
        dF = grad_factors(G, K, tuple(F.shape[1:]), stride) if "F" in need else None
        dK = grad_kernels(G, F, stride) if "K" in need else None
        return dF, dK

    return grads


def get_deconv_kernels(backend_name: str, impl: str = "auto") -> DeconvKernels:
    """Deconvolution kernels for a resolved backend.

    Parameters
    ----------
    backend_name : {"numpy", "cupy"}
        A resolved backend name (``Backend.name``), not ``"auto"``.
    impl : {"auto", "reference", "xp", "numba", "cupy"}
        ``"auto"``: the fastest measured implementation for the backend
        (:data:`CPU_DEFAULT_IMPL` on NumPy, ``"cupy"`` on CuPy). ``"reference"`` and
        ``"numba"`` work on NumPy only, ``"cupy"`` on CuPy only, ``"xp"`` on both.

    Returns
    -------
    DeconvKernels
        The implementation module is imported on first use, so neither numba
        compilation nor CuPy is triggered by importing this module.
    """
    if backend_name not in _AUTO:
        raise ValueError(f"backend_name must be 'numpy' or 'cupy', got {backend_name!r}.")
    name = _AUTO[backend_name] if impl == "auto" else impl
    if name not in _IMPLS:
        raise ValueError(f"impl must be 'auto' or one of {tuple(_IMPLS)}, got {impl!r}.")
    module_name, backends = _IMPLS[name]
    if backend_name not in backends:
        raise ValueError(f"impl={name!r} works on backends {backends}, not {backend_name!r}.")
    module = importlib.import_module(module_name)
    forward_keep = getattr(module, "forward_keep", None) or _plain_forward_keep(module.forward)
    grads = getattr(module, "grads", None) or _separate_grads(module.grad_factors, module.grad_kernels)
    phase = tuple(getattr(module, op, None) for op in ("to_phase", "forward_phase_keep", "grads_phase"))
    return DeconvKernels(name, module.forward, module.grad_factors, module.grad_kernels, forward_keep, grads, *phase)
