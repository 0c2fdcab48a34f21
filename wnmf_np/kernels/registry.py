"""The one kernel registry: every kernel set, keyed by (family, backend, implementation).

A *family* is a group of operations with one interface, each implementation of which
sits in its own module beside the family's reference oracle:

==========  =====================================  ==================================
family      interface                              implementations (backends)
==========  =====================================  ==================================
``dense``   :class:`.dense.KernelSet`              reference (numpy, cupy), numba
                                                   (numpy), cupy (cupy)
``deconv``  :class:`.deconv.DeconvKernels`         reference (numpy), xp (numpy, cupy),
                                                   numba (numpy), cupy (cupy)
``mu``      :class:`.mu.MUKernels`                 reference (numpy, cupy), numba
                                                   (numpy), cupy (cupy)
==========  =====================================  ==================================

Callers ask with :func:`lookup`, passing an implementation name or the family's
per-backend alias (``"fast"`` for dense and mu, ``"auto"`` for deconv: the fastest
measured implementation of the backend). Each entry is a loader that imports its module
on first use, so importing the registry compiles no numba code and imports no CuPy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from .deconv import CPU_DEFAULT_IMPL

#: resolved backend names (``Backend.name``) that have kernels
BACKEND_NAMES = ("numpy", "cupy")


class Family(NamedTuple):
    """How callers name the implementations of one family.

    Attributes
    ----------
    alias : str
        The name that picks the fastest implementation of the backend (``default``).
    default : dict
        Backend name -> implementation that ``alias`` stands for.
    public : tuple of str
        The implementation names a caller may pass besides ``alias``.
    """

    alias: str
    default: dict[str, str]
    public: tuple[str, ...]


FAMILIES: dict[str, Family] = {
    "dense": Family("fast", {"numpy": "numba", "cupy": "cupy"}, ("reference",)),
    "deconv": Family("auto", {"numpy": CPU_DEFAULT_IMPL, "cupy": "cupy"}, ("reference", "xp", "numba", "cupy")),
    "mu": Family("fast", {"numpy": "numba", "cupy": "cupy"}, ("reference",)),
}


# ------------------------------------------------------------------------ loaders
# One function per implementation module; the imports are lazy on purpose (see above).
def _dense_reference():
    from .dense import reference

    return reference.KERNELS


def _dense_numba():
    from .dense import numba

    return numba.KERNELS


def _dense_cupy():
    from .dense import cupy

    return cupy.get_kernel_set()


def _deconv(impl: str) -> Callable[[], Any]:
    def load():
        from .deconv import kernel_set

        return kernel_set(impl, importlib.import_module(f"{__package__}.deconv.{impl}"))

    return load


def _mu_reference():
    from .mu import reference

    return reference.KERNELS


def _mu_numba():
    from .mu import numba

    return numba.KERNELS


def _mu_cupy():
    from .mu import cupy

    return cupy.KERNELS


#: (family, backend, implementation) -> loader of the kernel set
REGISTRY: dict[tuple[str, str, str], Callable[[], Any]] = {
    ("dense", "numpy", "reference"): _dense_reference,
    ("dense", "cupy", "reference"): _dense_reference,
    ("dense", "numpy", "numba"): _dense_numba,
    ("dense", "cupy", "cupy"): _dense_cupy,
    ("deconv", "numpy", "reference"): _deconv("reference"),
    ("deconv", "numpy", "xp"): _deconv("xp"),
    ("deconv", "cupy", "xp"): _deconv("xp"),
    ("deconv", "numpy", "numba"): _deconv("numba"),
    ("deconv", "cupy", "cupy"): _deconv("cupy"),
    ("mu", "numpy", "reference"): _mu_reference,
    ("mu", "cupy", "reference"): _mu_reference,
    ("mu", "numpy", "numba"): _mu_numba,
    ("mu", "cupy", "cupy"): _mu_cupy,
}


# ------------------------------------------------------------------------- lookup
def _either(names: tuple[str, ...]) -> str:
    """``'a'`` / ``'a' or 'b'`` / ``'a' or one of ('b', 'c')``: the valid names for an error."""
    head, rest = names[0], names[1:]
    if not rest:
        return repr(head)
    return f"{head!r} or {rest[0]!r}" if len(rest) == 1 else f"{head!r} or one of {rest}"


def resolve(family: str, backend_name: str, impl: str) -> tuple[str, str, str]:
    """The registry key that ``(family, backend_name, impl)`` names, or a one-line error.

    Parameters
    ----------
    family : {"dense", "deconv", "mu"}
    backend_name : {"numpy", "cupy"}
        A resolved backend name (``Backend.name``), not ``"auto"``.
    impl : str
        The family's alias (``"fast"`` or ``"auto"``) or one of its public names.

    Returns
    -------
    (family, backend_name, implementation) : tuple of str
        A key of :data:`REGISTRY`.

    Raises
    ------
    ValueError
        Naming the valid families, backends or implementations.
    """
    spec = FAMILIES.get(family)
    if spec is None:
        raise ValueError(f"kernel family must be one of {tuple(FAMILIES)}, got {family!r}.")
    if backend_name not in BACKEND_NAMES:
        raise ValueError(f"backend_name must be {_either(BACKEND_NAMES)}, got {backend_name!r}.")
    if impl != spec.alias and impl not in spec.public:
        raise ValueError(f"impl must be {_either((spec.alias, *spec.public))}, got {impl!r}.")
    name = spec.default[backend_name] if impl == spec.alias else impl
    key = (family, backend_name, name)
    if key not in REGISTRY:
        backends = tuple(b for (f, b, i) in REGISTRY if f == family and i == name)
        raise ValueError(f"impl={name!r} works on backends {backends}, not {backend_name!r}.")
    return key


def lookup(family: str, backend_name: str, impl: str) -> Any:
    """The kernel set of ``family`` for a resolved backend (see :func:`resolve` for the names).

    The implementation module is imported on first use; the kernel set is the family's
    interface type (e.g. :class:`.dense.KernelSet`) and its ``name`` the implementation.
    """
    return REGISTRY[resolve(family, backend_name, impl)]()
