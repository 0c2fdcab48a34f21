"""The leaky ReLU φη and its derivative, side by side.

φη(a) = max(a, η a) for 0 <= η <= 1, element-wise:

    φη(a) = a      if a >= 0
          = η a    if a < 0

    φη'(a) = 1     if a >= 0   (the right derivative at the kink a = 0)
           = η     if a < 0

η = 1 is the identity (plain MF), η = 0 the ReLU (hard NMF), η = 0.1 the paper's weak setting.
"""

from __future__ import annotations

from .backend import namespace_of


def leaky_relu(a, eta: float, out=None):
    """φη(a) = max(a, η a), element-wise.

    Parameters
    ----------
    a : array of any shape (NumPy or CuPy)
    eta : float in [0, 1]
    out : array like ``a``, optional
        Written in place when given (may not alias ``a``).

    Returns
    -------
    array of the shape, dtype and namespace of ``a``
    """
    xp = namespace_of(a)
    # max(a, ηa) equals the two-branch definition exactly because 0 <= η <= 1.
    if out is None:
        return xp.maximum(a, a * eta)
    xp.multiply(a, eta, out=out)
    return xp.maximum(out, a, out=out)


def leaky_relu_grad(a, eta: float):
    """φη'(a): 1 where a >= 0, η where a < 0 (same shape and dtype as ``a``)."""
    xp = namespace_of(a)
    one = xp.ones((), dtype=a.dtype)
    return xp.where(a >= 0, one, xp.asarray(eta, dtype=a.dtype))


def inverse_leaky_relu(y, eta: float):
    """A pre-image of φη: a with φη(a) = y (for η = 0, negative y map to 0, the closest point).

    Used to start latents from a least-squares solution of the activated problem.
    """
    xp = namespace_of(y)
    if eta == 0.0:
        return xp.maximum(y, 0)
    return xp.where(y >= 0, y, y / eta)
