"""CuPy deconvolution kernels: the array-generic path of :mod:`.xp` on the GPU.

The work is one cuBLAS GEMM per call plus a few slice copies per phase, so there is
nothing a hand-written CUDA kernel would clearly win on ORL-sized problems except the
launch count of those copies; no ``RawKernel`` is added because it could not be tested
on the machines this library is developed on (tests are marked ``gpu`` and skipped
without CuPy). Host arrays are moved to the device; results stay on the device.

CuPy is imported inside the functions only: importing this module never imports CuPy.
Layouts and the crop: see :mod:`wnmf_np.kernels.deconv.geometry`.
"""

from __future__ import annotations

from ...core.backend import import_cupy
from . import xp as xp_kernels


def forward(F, K, out_shape, stride):
    """Transposed convolution of stride ``s`` on the GPU, cropped to ``out_shape``.

    Parameters
    ----------
    F : array of shape (r, hi, wi)
        Factor images (NumPy input is copied to the device).
    K : array of shape (b, r, 2s, 2s)
    out_shape : (int, int)
        Image shape ``(h, w)``; ``(hi, wi) = ceil((h, w) / s)``.
    stride : int

    Returns
    -------
    Y : cupy.ndarray of shape (b, h, w)
    """
    cp = import_cupy()
    return xp_kernels.forward(cp.asarray(F), cp.asarray(K), out_shape, stride, xp=cp)


def grad_factors(G, K, in_shape, stride):
    """Adjoint of :func:`forward` with respect to ``F``, summed over the batch.

    Parameters
    ----------
    G : array of shape (b, h, w)
    K : array of shape (b, r, 2s, 2s)
    in_shape : (int, int)
        Factor shape ``(hi, wi)``.
    stride : int

    Returns
    -------
    dF : cupy.ndarray of shape (r, hi, wi)
    """
    cp = import_cupy()
    return xp_kernels.grad_factors(cp.asarray(G), cp.asarray(K), in_shape, stride, xp=cp)


def grad_kernels(G, F, stride):
    """Adjoint of :func:`forward` with respect to ``K``.

    Parameters
    ----------
    G : array of shape (b, h, w)
    F : array of shape (r, hi, wi)
    stride : int

    Returns
    -------
    dK : cupy.ndarray of shape (b, r, 2s, 2s)
    """
    cp = import_cupy()
    return xp_kernels.grad_kernels(cp.asarray(G), cp.asarray(F), stride, xp=cp)


def forward_keep(F, K, out_shape, stride):
    """:func:`forward` plus the GEMM operands for :func:`grads` (see :func:`.xp.forward_keep`)."""
    cp = import_cupy()
    return xp_kernels.forward_keep(cp.asarray(F), cp.asarray(K), out_shape, stride, xp=cp)


def grads(G, F, K, stride, *, need=("F", "K"), operands=None):
    """Both adjoints from one gather of ``G`` into phase space (see :func:`.xp.grads`)."""
    cp = import_cupy()
    return xp_kernels.grads(cp.asarray(G), cp.asarray(F), cp.asarray(K), stride, need=need, operands=operands, xp=cp)


def to_phase(images, out_shape, stride):
    """Rows of images in the phase layout (see :func:`.xp.to_phase`)."""
    cp = import_cupy()
    return xp_kernels.to_phase(cp.asarray(images), out_shape, stride, xp=cp)


def forward_phase_keep(F, K, out_shape, stride):
    """:func:`forward_keep` in the phase layout (see :func:`.xp.forward_phase_keep`)."""
    cp = import_cupy()
    return xp_kernels.forward_phase_keep(cp.asarray(F), cp.asarray(K), out_shape, stride, xp=cp)


def grads_phase(Gph, F, K, out_shape, stride, *, need=("F", "K"), operands=None):
    """:func:`grads` for a phase-layout gradient (see :func:`.xp.grads_phase`)."""
    cp = import_cupy()
    return xp_kernels.grads_phase(
        cp.asarray(Gph), cp.asarray(F), cp.asarray(K), out_shape, stride, need=need, operands=operands, xp=cp
    )
