"""The parameters of the multiplicative-update family (MultiplicativeNMF,
DeepMultiplicativeNMF, UnfoldedNMF), declared once.

:data:`MU_FAMILY_CONSTRAINTS` is the ``_parameter_constraints`` table each estimator
extends with its own parameters (:mod:`wnmf_np.core.params`); :data:`MU_FAMILY_DOCS`
holds the numpydoc entries of the parameters they share, written into each class
docstring by :func:`wnmf_np.core.params.document_parameters`.
"""

from __future__ import annotations

from ..core.params import COMMON_CONSTRAINTS, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, Real, options
from ..core.validation import NAN_POLICIES
from .updates import BETA_NAMES

MU_FAMILY_CONSTRAINTS = {
    **COMMON_CONSTRAINTS,
    "l2": [NON_NEGATIVE],
    "max_iter": [NON_NEGATIVE_INT],
}

#: constraints of parameters some of the family take (each estimator picks its own)
N_COMPONENTS = [POSITIVE_INT]
BETA_LOSS = [options(BETA_NAMES), Real()]  # a divergence's name or any finite β
L1 = [NON_NEGATIVE]
TOL = [NON_NEGATIVE]
NAN_POLICY = [options(NAN_POLICIES)]
#: the parameters of :data:`MU_FAMILY_DOCS` in the order the docstrings list them
MU_FAMILY_PARAMETERS = ("backend", "dtype", "nan_policy", "random_state", "verbose", "n_threads")

MU_FAMILY_DOCS = {
    "backend": """backend : {"auto", "numpy", "cupy"}, default {default}
        "auto" follows X (a CuPy X is factorised on the GPU).""",
    "dtype": """dtype : {"float32", "float64"} or None, default {default}
        Working precision; None follows X (float32 stays float32, float64 stays float64,
        other input works in float32). ``transform`` works in the precision of the fit.""",
    "nan_policy": """nan_policy : {"raise", "omit"}, default {default}
        Under "omit" NaN marks a missing entry; missing entries (NaN or ``mask=False``)
        are left out of ``D_β`` and of the updates (weighted MU rule).""",
    "random_state": """random_state : int >= 0, Generator, RandomState or None, default {default}
        Seeds the initialisation; the same seed on the same backend gives identical factors.""",
    "verbose": """verbose : int >= 0, default {default}
        Print the objective at every check when > 0.""",
    "n_threads": """n_threads : int >= 1 or None, default {default}
        Threads of the BLAS/OpenMP pools and numba's parallel loops during ``fit`` and
        ``transform`` (restored afterwards). None is load-aware: the pools shrink to the
        CPUs that other processes leave idle (docs/performance.md).""",
}
