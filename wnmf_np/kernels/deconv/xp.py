"""Array-namespace-generic deconvolution kernels: one GEMM per call plus slicing.

Works for any namespace with NumPy's slicing, ``reshape``/``transpose`` and ``matmul``
(``numpy``, ``cupy``); the namespace is taken from the inputs unless ``xp`` is given.

Why this shape of computation
-----------------------------
A kernel of size 2s moved by stride s covers each full-output pixel exactly 2 x 2
times. Split the kernel index ``u = a*s + u'`` (``a`` in {0, 1}, ``u' < s``) and the
full-output row ``R = s*P + u'`` (block ``P``, phase ``u'``); then pixel ``(P, u')``
receives factor row ``p = P - a`` for ``a = 0, 1`` only. In this *phase space*::

    Z[i, u', v', P, Q] = Σ_{a, b, c} K[i, c, a*s + u', b*s + v'] F[c, P - a, Q - b]

which is one GEMM ``Kmat (b*s*s, 4r) @ Fshift (4r, (hi+1)(wi+1))``, where ``Fshift``
stacks the four copies of ``F`` shifted by ``(a, b)`` (zero-padded by one block).
The 2 x 2 overlap-add is thus done as four shifted slice copies of the *small* factor
array before the GEMM instead of four shifted additions of the large
``(b, 2s, 2s, hi, wi)`` product after it; the GEMM has the same flop count either way
but writes about 4x less memory. Both orders were measured (docs/deconv_kernels.md).
``Z`` is then copied into the image in ``s * s`` strided slices, one per phase, which
also performs the crop (:func:`wnmf_np.kernels.deconv.geometry.phase_map`).

The adjoints run the same steps backwards: ``G`` is gathered into phase space
(zero where the crop cut), then

* ``grad_kernels``: ``Gph (b*s*s, N) @ Fshift.T (N, 4r)``, reordered to ``(b, r, 2s, 2s)``;
* ``grad_factors``: ``Kmat.T (4r, b*s*s) @ Gph (b*s*s, N)``, then the four shifted
  ``(r, hi, wi)`` blocks are added (the overlap-add, on the small array).

All GEMM operands are C-contiguous or plain transposed views, which BLAS takes with a
transpose flag (no copy). Layouts and the crop: see :mod:`wnmf_np.kernels.deconv.geometry`.

In a training step, :func:`forward_keep` hands ``Kmat`` and ``Fshift`` to :func:`grads`,
which gathers ``G`` into phase space once for both adjoints: per step that is one
``Kmat``, one ``Fshift`` and one gather instead of two of each.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from ...core.backend import namespace_of
from .geometry import (
    DeconvGeometry,
    check_deconv_operands,
    factor_shape,
    output_crop,
    phase_map,
    result_dtype,
)


# ------------------------------------------------------------------- rearrangements
def _uninitialised(xp, shape, dtype):
    """``(array, zero_borders)``: ``empty`` on the CPU, where zeroing only what the copies
    leave uncovered saves a pass over memory; ``zeros`` elsewhere (one memset on a GPU is
    cheaper than the extra kernel launches of the border fills)."""
    if xp is np:
        return xp.empty(shape, dtype=dtype), True
    return xp.zeros(shape, dtype=dtype), False


def _shifted_factors(F, g, xp, dtype):
    """``Fshift[(a, b, c), (P, Q)] = F[c, P - a, Q - b]`` (zero outside): (4r, (hi+1)(wi+1))."""
    out, zero_borders = _uninitialised(xp, (2, 2, g.r, g.hi + 1, g.wi + 1), dtype)
    for a in (0, 1):
        for b in (0, 1):
            out[a, b, :, a : a + g.hi, b : b + g.wi] = F
            if zero_borders:  # each shifted copy leaves one block row and column uncovered
                out[a, b, :, g.hi if a == 0 else 0, :] = 0
                out[a, b, :, :, g.wi if b == 0 else 0] = 0
    return out.reshape(4 * g.r, (g.hi + 1) * (g.wi + 1))


def _kernel_matrix(K, g, xp, dtype):
    """``Kmat[(i, u', v'), (a, b, c)] = K[i, c, a*s + u', b*s + v']``: (b*s*s, 4r), a copy."""
    k6 = xp.asarray(K, dtype=dtype).reshape(g.b, g.r, 2, g.s, 2, g.s)
    return xp.ascontiguousarray(k6.transpose(0, 3, 5, 2, 4, 1)).reshape(g.b * g.s * g.s, 4 * g.r)


def _phase_pairs(g):
    """Row and column phase maps of the crop, see :func:`phase_map`."""
    top, left = output_crop(g.h, g.w, g.s)
    return phase_map(g.h, g.s, top), phase_map(g.w, g.s, left)


def _phase_to_image(Z, g, xp, dtype):
    """Crop phase-space ``Z`` (b, s, s, hi+1, wi+1) into the image ``Y`` (b, h, w)."""
    Y = xp.empty((g.b, g.h, g.w), dtype=dtype)
    rows, cols = _phase_pairs(g)
    for u, y0, p0, n in rows:
        for v, x0, q0, m in cols:
            Y[:, y0 :: g.s, x0 :: g.s] = Z[:, u, v, p0 : p0 + n, q0 : q0 + m]
    return Y


def _image_to_phase(G, g, xp, dtype):
    """Adjoint of :func:`_phase_to_image`: ``G`` (b, h, w) -> (b*s*s, (hi+1)(wi+1)), zero-padded."""
    Z, zero_borders = _uninitialised(xp, (g.b, g.s, g.s, g.hi + 1, g.wi + 1), dtype)
    rows, cols = _phase_pairs(g)
    for u, y0, p0, n in rows:
        for v, x0, q0, m in cols:
            Z[:, u, v, p0 : p0 + n, q0 : q0 + m] = G[:, y0 :: g.s, x0 :: g.s]
    if zero_borders:
        _zero_cut(Z, g, xp)
    return Z.reshape(g.b * g.s * g.s, (g.hi + 1) * (g.wi + 1))


def _zero_cut(Z, g, xp):
    """Zero, in place, the entries of phase-space ``Z`` (b, s, s, hi+1, wi+1) that the crop
    cuts: for phase ``(u, v)`` everything outside ``[p0, p0 + n) x [q0, q0 + m)``.

    One indexed assignment over the flat rows: on a GPU one kernel launch instead of four
    slice fills per phase, and on the CPU it measured 1.6-4x faster than the slices too."""
    if not Z.flags.c_contiguous:  # the flat view must be a view, or the zeros would be lost
        raise ValueError("phase-space array must be C-contiguous to zero its cut entries in place.")
    device = getattr(getattr(Z, "device", None), "id", None)  # a CuPy array's GPU; None on the CPU
    Z.reshape(g.b, -1)[:, _cut_entries(g.h, g.w, g.s, xp, device)] = 0


@functools.lru_cache(maxsize=64)
def _cut_entries(h, w, s, xp, device):
    """Flat indices, within one phase-space row (s, s, hi+1, wi+1), of the entries the crop
    cuts, as an ``xp`` array (on GPU ``device``: the cache keeps one copy per device)."""
    hi, wi = factor_shape(h, w, s)
    top, left = output_crop(h, w, s)
    kept = np.zeros((s, s, hi + 1, wi + 1), dtype=bool)
    for u, _, p0, n in phase_map(h, s, top):
        for v, _, q0, m in phase_map(w, s, left):
            kept[u, v, p0 : p0 + n, q0 : q0 + m] = True
    return xp.asarray(np.flatnonzero(~kept))


# ----------------------------------------------------------------------- operations
class PhaseOperands(NamedTuple):
    """The GEMM operands of :func:`forward`, kept for :func:`grads` of the same step."""

    Kmat: Any  # (b*s*s, 4r)
    Fshift: Any  # (4r, (hi+1)(wi+1))


def forward(F, K, out_shape, stride, *, xp=None):
    """Transposed convolution of stride ``s``, cropped to the image shape (phase GEMMs).

    Operands, shapes and values: those of
    :func:`wnmf_np.kernels.deconv.reference.forward` (documented once there). ``xp``: the array
    namespace, by default that of the first operand.

    Returns
    -------
    Y : array of shape (b, h, w), C-contiguous, in ``xp``
    """
    return forward_keep(F, K, out_shape, stride, xp=xp)[0]


def forward_keep(F, K, out_shape, stride, *, xp=None):
    """:func:`forward` that also returns its GEMM operands, for :func:`grads` of ``(F, K)``.

    Returns
    -------
    Y : array of shape (b, h, w)
    operands : PhaseOperands
        Valid for these ``F`` and ``K`` only (the caller must not change them in between).
    """
    xp = namespace_of(F) if xp is None else xp
    Z, operands, g = _phase_product(F, K, out_shape, stride, xp)
    return _phase_to_image(Z.reshape(g.b, g.s, g.s, g.hi + 1, g.wi + 1), g, xp, Z.dtype), operands


def _phase_product(F, K, out_shape, stride, xp):
    """The forward's GEMM in phase space: ``(Z (b*s*s, (hi+1)(wi+1)), operands, geometry)``."""
    F, K = xp.asarray(F), xp.asarray(K)
    g = check_deconv_operands(stride=stride, F=F, K=K, out_shape=out_shape)
    dtype = result_dtype(xp, F, K)
    operands = PhaseOperands(_kernel_matrix(K, g, xp, dtype), _shifted_factors(F, g, xp, dtype))
    return operands.Kmat @ operands.Fshift, operands, g


def grad_factors(G, K, in_shape, stride, *, xp=None):
    """Adjoint of :func:`forward` with respect to ``F``, summed over the batch (phase GEMMs).

    Operands, shapes and values: those of
    :func:`wnmf_np.kernels.deconv.reference.grad_factors` (documented once there). ``xp``: the array
    namespace, by default that of the first operand.

    Returns
    -------
    dF : array of shape (r, hi, wi), in ``xp``
    """
    xp = namespace_of(G) if xp is None else xp
    G, K = xp.asarray(G), xp.asarray(K)
    g = check_deconv_operands(stride=stride, G=G, K=K, in_shape=in_shape)
    dtype = result_dtype(xp, G, K)
    return _grad_factors_phase(_image_to_phase(G, g, xp, dtype), _kernel_matrix(K, g, xp, dtype), g)


def _grad_factors_phase(Gph, Kmat, g):
    """``dF`` (r, hi, wi) from the phase-space gradient ``Gph`` (b*s*s, (hi+1)(wi+1))."""
    M = Kmat.T @ Gph
    M = M.reshape(2, 2, g.r, g.hi + 1, g.wi + 1)
    # overlap-add of the four block shifts, on the small (r, hi, wi) array
    dF = M[0, 0, :, : g.hi, : g.wi] + M[0, 1, :, : g.hi, 1:]
    dF += M[1, 0, :, 1:, : g.wi]
    dF += M[1, 1, :, 1:, 1:]
    return dF


def grad_kernels(G, F, stride, *, xp=None):
    """Adjoint of :func:`forward` with respect to ``K`` (phase GEMMs).

    Operands, shapes and values: those of
    :func:`wnmf_np.kernels.deconv.reference.grad_kernels` (documented once there). ``xp``: the array
    namespace, by default that of the first operand.

    Returns
    -------
    dK : array of shape (b, r, 2s, 2s), C-contiguous, in ``xp``
    """
    xp = namespace_of(G) if xp is None else xp
    G, F = xp.asarray(G), xp.asarray(F)
    g = check_deconv_operands(stride=stride, G=G, F=F)
    dtype = result_dtype(xp, G, F)
    return _grad_kernels_phase(_image_to_phase(G, g, xp, dtype), _shifted_factors(F, g, xp, dtype), g, xp)


def _grad_kernels_phase(Gph, Fshift, g, xp):
    """``dK`` (b, r, 2s, 2s) from the phase-space gradient ``Gph`` (b*s*s, (hi+1)(wi+1))."""
    dKmat = Gph @ Fshift.T
    # rows (i, u', v'), columns (a, b, c) -> (i, c, a, u', b, v')
    dK = dKmat.reshape(g.b, g.s, g.s, 2, 2, g.r).transpose(0, 5, 3, 1, 4, 2)
    return xp.ascontiguousarray(dK).reshape(g.b, g.r, 2 * g.s, 2 * g.s)


def grads(G, F, K, stride, *, need=("F", "K"), operands=None, xp=None):
    """Both adjoints of :func:`forward` from one gather of ``G`` into phase space.

    Equals ``(grad_factors(G, K, F.shape[1:], stride), grad_kernels(G, F, stride))``
    but moves the image-sized gradient into phase space once instead of twice.

    Parameters
    ----------
    G : array of shape (b, h, w)
        ``dL/dY``.
    F : array of shape (r, hi, wi)
    K : array of shape (b, r, 2s, 2s)
    stride : int
    need : collection of {"F", "K"}
        Which gradients to compute; the other is returned as None.
    operands : PhaseOperands, optional
        From :func:`forward_keep` of the same ``F`` and ``K``: skips rebuilding them.
    xp : module, optional

    Returns
    -------
    dF : array of shape (r, hi, wi) or None
    dK : array of shape (b, r, 2s, 2s) or None
    """
    xp = namespace_of(G) if xp is None else xp
    G, F, K = xp.asarray(G), xp.asarray(F), xp.asarray(K)
    g = check_deconv_operands(stride=stride, G=G, F=F, K=K)
    dtype = result_dtype(xp, G, F, K)
    return _adjoints(_image_to_phase(G, g, xp, dtype), F, K, g, need, operands, xp, dtype)


def _adjoints(Gph, F, K, g, need, operands, xp, dtype):
    """``(dF, dK)`` from the phase-space gradient ``Gph`` (b*s*s, (hi+1)(wi+1)); the GEMM
    operands are built here when the forward did not keep them."""
    if operands is None:
        operands = PhaseOperands(
            _kernel_matrix(K, g, xp, dtype) if "F" in need else None,
            _shifted_factors(F, g, xp, dtype) if "K" in need else None,
        )
    dF = _grad_factors_phase(Gph, operands.Kmat, g) if "F" in need else None
    dK = _grad_kernels_phase(Gph, operands.Fshift, g, xp) if "K" in need else None
    return dF, dK


# ------------------------------------------------------------ the phase layout of data
# A training step can keep its data in phase space (rows of ``to_phase``): the
# reconstruction then stays in the GEMM's output layout and the loss gradient is already
# where the adjoints need it, which removes the image <-> phase copies of every step.
def to_phase(images, out_shape, stride, *, xp=None):
    """Rows of images in the phase layout of :func:`forward_phase_keep`.

    Parameters
    ----------
    images : array of shape (n, h*w) or (n, h, w)
        Any dtype (a bool mask keeps its dtype).
    out_shape : (int, int)
        Image shape ``(h, w)``.
    stride : int
    xp : module, optional

    Returns
    -------
    array of shape (n, s*s*(hi+1)*(wi+1)), C-contiguous, ``images``' dtype
        Row ``i`` is ``(s, s, hi+1, wi+1)`` flattened: entry ``(u, v, P, Q)`` holds pixel
        ``(s*P + u - top, s*Q + v - left)`` of image ``i``; entries the crop cuts are 0
        (False for a mask).
    """
    xp = namespace_of(images) if xp is None else xp
    h, w = out_shape
    images = xp.asarray(images).reshape(-1, h, w)
    g = check_deconv_operands(stride=stride, G=images)
    return _image_to_phase(images, g, xp, images.dtype).reshape(g.b, -1)


def from_phase(Z, out_shape, stride, *, xp=None):
    """Inverse of :func:`to_phase` on the kept entries: (n, D) -> images (n, h, w)."""
    xp = namespace_of(Z) if xp is None else xp
    h, w = out_shape
    hi, wi = factor_shape(h, w, stride)
    Z = xp.asarray(Z).reshape(-1, stride, stride, hi + 1, wi + 1)
    g = DeconvGeometry(int(Z.shape[0]), 0, int(h), int(w), hi, wi, int(stride))  # r is not used here
    return _phase_to_image(Z, g, xp, Z.dtype)


def forward_phase_keep(F, K, out_shape, stride, *, xp=None):
    """:func:`forward_keep` with the images in the layout of :func:`to_phase`.

    Returns
    -------
    Z : array of shape (b, s*s*(hi+1)*(wi+1)), C-contiguous
        ``to_phase(forward(F, K, out_shape, stride))``: the GEMM's output with the
        entries the crop cuts set to zero.
    operands : PhaseOperands
    """
    xp = namespace_of(F) if xp is None else xp
    Z, operands, g = _phase_product(F, K, out_shape, stride, xp)
    _zero_cut(Z, g, xp)
    return Z.reshape(g.b, -1), operands


def grads_phase(Gph, F, K, out_shape, stride, *, need=("F", "K"), operands=None, xp=None):
    """:func:`grads` for a gradient in the layout of :func:`to_phase`.

    Equals ``grads(from_phase(Gph), F, K, stride, ...)``: the adjoints of
    :func:`forward_phase_keep`, which ignore the entries the crop cuts.

    Parameters
    ----------
    Gph : array of shape (b, s*s*(hi+1)*(wi+1)), C-contiguous
        ``dL/dZ``; its cut entries are set to zero **in place** (a scratch buffer, such as
        the loss gradient of a training step).
    F, K, stride, need, operands, xp
        As in :func:`grads`.
    out_shape : (int, int)
        Image shape ``(h, w)``.

    Returns
    -------
    dF : array of shape (r, hi, wi) or None
    dK : array of shape (b, r, 2s, 2s) or None
    """
    xp = namespace_of(Gph) if xp is None else xp
    F, K = xp.asarray(F), xp.asarray(K)
    g = check_deconv_operands(stride=stride, F=F, K=K, out_shape=out_shape)
    if tuple(Gph.shape) != (g.b, g.s * g.s * (g.hi + 1) * (g.wi + 1)):
        raise ValueError(
            f"Gph must have shape (b, s*s*(hi+1)*(wi+1)) = {(g.b, g.s * g.s * (g.hi + 1) * (g.wi + 1))}, "
            f"got {tuple(Gph.shape)}."
        )
    if not Gph.flags.c_contiguous:  # the in-place zeroing needs a view of the flat rows
        raise ValueError("Gph must be C-contiguous.")
    _zero_cut(Gph, g, xp)
    Gph = Gph.reshape(g.b * g.s * g.s, (g.hi + 1) * (g.wi + 1))
    return _adjoints(Gph, F, K, g, need, operands, xp, result_dtype(xp, Gph, F, K))
