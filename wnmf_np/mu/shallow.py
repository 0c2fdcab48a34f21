"""Lee–Seung multiplicative-update NMF: the baseline estimator :class:`MultiplicativeNMF`.

The update formulas live in :mod:`wnmf_np.mu.updates`, the initialisations in
:mod:`wnmf_np.mu.init`; this module holds the driver loop (stopping, loss curve) and the
sklearn-style estimator shell. Names (the package convention, :mod:`wnmf_np`): ``X``
(n_samples, n_features) ≈ ``H @ Wt`` with ``H`` (n_samples, n_components) the latents
returned by ``transform`` and ``Wt`` (n_components, n_features) = ``components_``, the
transposed basis; the paper's matrix is ``X.T``. Only the public arguments keep
scikit-learn's names (``fit(W=, H=)``, ``inverse_transform(W)``: ``W`` the latents, ``H``
the components); :meth:`MultiplicativeNMF.fit_transform` and
:meth:`MultiplicativeNMF.inverse_transform` translate them.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from ..core.backend import Backend, resolve_backend
from ..core.params import document_parameters, options
from ..core.threads import limit_threads, refresh_threads
from ..core.validation import (
    check_data,
    check_feature_names,
    check_latents,
    check_random_state_seed,
    declared_dtype,
    preserved_dtypes,
    record_feature_names,
    resolve_dtype,
)
from ..core.warn import warn
from ..estimators.persistence import ModelFileMixin, fitted_common
from ..training.data import OutOfCoreData, is_out_of_core
from .chunked import ChunkedMatrix
from .init import MU_INITS, check_custom_factor, nndsvd_init, random_init
from .params import (
    BETA_LOSS,
    L1,
    MU_FAMILY_CONSTRAINTS,
    MU_FAMILY_DOCS,
    MU_FAMILY_PARAMETERS,
    N_COMPONENTS,
    NAN_POLICY,
    TOL,
)
from .rows import CHECK_EVERY, row_start, solve_rows
from .updates import (
    TRACE_MAX_REL_ERROR,
    Problem,
    Scaling,
    beta_from_loss,
    divergence,
    frobenius_trace,
    gamma_exponent,
    ldexp,
    objective,
    penalty_value,
    pow2,
    scale_exponent,
    scaled_penalty,
    squared_norm,
    update_H,
    update_Wt,
    uses_gram,
)


class MUResult(NamedTuple):
    """Output of :func:`run_mu`: the latents ``H`` (n_samples, r) and the basis ``Wt`` (r, n_features)."""

    H: Any
    Wt: Any
    n_iter: int
    losses: list
    divergence: float
    converged: bool


def run_mu(prob: Problem, H, Wt, *, max_iter: int, tol: float, update_w: bool = True, verbose: int = 0,
           objective_scale: float | None = None) -> MUResult:  # fmt: skip
    """Alternate MU steps on the latents ``H`` and the basis ``Wt`` (in place) until the objective stalls.

    Every ``CHECK_EVERY`` iterations (only when ``tol > 0``) the objective ``f`` is
    evaluated and the run stops when ``(f_prev - f) / f_0 < tol``, ``f_0`` being the
    objective of the initial factors (sklearn's criterion, applied to the objective
    instead of to ``sqrt(2 D)``). ``losses`` holds ``f_0``, every checked value and the
    final value; ``divergence`` is the final ``D_β``, in the problem's units. With
    ``objective_scale`` (``Scaling.objective_factor`` of a rescaled problem) the losses
    are reported in the caller's units, and a start whose objective is beyond float64 in
    those units is refused with a ValueError before any iteration. With
    ``update_w=False`` only ``H`` moves (``transform``); the products ``XW = X Wtᵀ`` and
    ``WtW = Wt Wtᵀ`` are then computed once.
    """
    xp = prob.xp
    xp.maximum(H, prob.eps, out=H)  # an exact 0 would stay 0 forever under MU
    if update_w:
        xp.maximum(Wt, prob.eps, out=Wt)
    fixed = {}
    if not update_w and uses_gram(prob):
        fixed = {"XW": xp.asarray(prob.X @ Wt.T), "WtW": Wt @ Wt.T}
    # Frobenius, nothing masked: the objective by the trace identity from XW = X @ Wt.T,
    # which the next H-update reuses, so that evaluating it costs no pass over X (while
    # its error bound allows; see frobenius_trace).
    x_sq = squared_norm(prob) if update_w and uses_gram(prob) else None

    def evaluate(needed_rel=TRACE_MAX_REL_ERROR, needed_abs=math.inf):
        """``(divergence, objective, XW = X @ Wt.T or None)`` of the current factors."""
        if x_sq is None:
            return (*objective(prob, H, Wt), None)
        XW = xp.asarray(prob.X @ Wt.T)
        div, bound = frobenius_trace(x_sq, XW, H, Wt)
        if bound > min(needed_rel * div, needed_abs):
            div = divergence(prob, H, Wt)  # too close to cancellation: entry-wise
        return div, div + penalty_value(prob, H, Wt), XW

    _, f0, XW = evaluate()
    if objective_scale is not None and not math.isfinite(f0 * objective_scale):
        raise ValueError(
            "the objective of this fit (loss_curve_) is beyond the float64 range: X is too large in magnitude "
            "(or a penalty l1, l2 far too strong). Divide X by a constant (e.g. X / X.max()) and scale the result back."
        )
    losses, prev, converged, n_iter = [f0], f0, False, 0
    for n_iter in range(1, max_iter + 1):
        refresh_threads()  # follow the machine's load (n_threads=None), at most once a second
        update_H(prob, H, Wt, **(fixed if XW is None else {"XW": XW}))
        XW = None
        if update_w:
            update_Wt(prob, H, Wt)
        if tol > 0 and n_iter % CHECK_EVERY == 0:
            div, f, XW = evaluate(needed_abs=0.1 * tol * f0)  # noise well below the stopping threshold
            losses.append(f)
            if verbose:
                print(f"MU iteration {n_iter}: objective {f * (objective_scale or 1.0):.6g}")
            if (prev - f) / max(f0, np.finfo(np.float64).tiny) < tol:
                converged = True
                break
            prev = f
    if n_iter == 0 or tol <= 0 or n_iter % CHECK_EVERY:  # else the last check evaluated these factors
        div, f, _ = evaluate()
        losses.append(f)
    if objective_scale is not None and objective_scale != 1.0:
        losses = [v * objective_scale for v in losses]
    return MUResult(H, Wt, n_iter, losses, div, converged)


def reconstruction_error(divergence: float) -> float:
    """sklearn's ``reconstruction_err_``: ``sqrt(2 D_β)`` (the Frobenius norm for β = 2)."""
    return float(np.sqrt(2.0 * max(divergence, 0.0)))


@document_parameters(MU_FAMILY_DOCS, MU_FAMILY_PARAMETERS)
class MultiplicativeNMF(ModelFileMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Non-negative matrix factorisation by Lee–Seung multiplicative updates.

    Factorises ``X`` (n_samples, n_features) ≈ ``H Wᵀ``, ``H`` (n_samples,
    n_components) ≥ 0 the latents, ``Wᵀ = components_`` (n_components, n_features) ≥ 0
    (the package's names, :mod:`wnmf_np`; scikit-learn writes ``X ≈ W H``), by minimising

    .. math::

        f(H, W) = D_\\beta(X \\mid H W^T)
          + l_1 (m \\|H\\|_1 + n \\|W\\|_1)
          + \\tfrac12 l_2 (m \\|H\\|_F^2 + n \\|W\\|_F^2),

    with ``n = n_samples``, ``m = n_features`` (sklearn's scaling: this equals
    ``sklearn.decomposition.NMF(alpha_W=l1 + l2, l1_ratio=l1 / (l1 + l2))``) and
    :math:`D_\\beta` summed over observed entries only (:math:`D_2 = \\tfrac12
    \\|X - H W^T\\|_F^2`, :math:`D_1` generalised KL, :math:`D_0` Itakura–Saito; see
    :mod:`wnmf_np.mu.updates` for all formulas and where ``eps`` enters). Each iteration
    updates ``H`` then ``W`` with ``F ← F ⊙ (∇⁻ / ∇⁺)^γ(β)`` and floors both at ``eps``
    (the dtype's machine epsilon) relative to the data: the updates run on X divided by
    the power of four nearest its maximum, the factors and penalty weights rescaled to
    match, so the fit of ``c X`` is ``√c`` times the factors of the fit of X (``c^β``
    times its objective) at any scale the dtype holds (docs/baselines.md, "Scale").

    Parameters
    ----------
    n_components : int
        Rank ``r`` (≥ 1).
    beta_loss : {"frobenius", "kullback-leibler", "itakura-saito"} or float
        β of the divergence (2, 1, 0 or any real number).
    l1, l2 : float, default 0
        Penalty weights (≥ 0), scaled by ``n_features`` for the latents ``H`` and by
        ``n_samples`` for the basis ``W`` as above.
    max_iter : int, default 200
    tol : float, default 1e-4
        Stop when the objective decreased by less than ``tol × f(H_0, W_0)`` over the
        last 10 iterations; ``tol = 0`` runs exactly ``max_iter`` iterations and
        evaluates the objective only at the start and the end.
    init : {"random", "nndsvd", "nndsvda", "nndsvdar", "custom"}
        See :mod:`wnmf_np.mu.init`; "custom" takes ``W`` and ``H`` passed to ``fit``
        (scikit-learn's names: ``W`` the latents, ``H`` the components).
    <shared parameters>

    Attributes
    ----------
    components_ : array (n_components, n_features)
        ``Wᵀ``, on the input's backend.
    n_components_, n_features_in_ : int
    n_iter_ : int
    reconstruction_err_ : float
        ``sqrt(2 D_β(X | H Wᵀ))`` at the end of ``fit`` (sklearn's definition; the
        Frobenius norm of the residual for β = 2).
    loss_curve_ : list of float
        Objective ``f`` at the start, at every check and at the end. Data for which it
        would exceed the float64 range are refused (ValueError) before any iteration.

    Notes
    -----
    Sparse ``X`` (CSR/CSC) is never densified for β = 2 (only ``X W`` and ``Hᵀ X``
    products) nor for β = 1 (``H Wᵀ`` is evaluated at the stored entries only). For other
    β, with a mask, NaN under ``nan_policy="omit"`` or on the CuPy backend, sparse input
    is converted to a dense array. For β ≤ 0 zero entries of ``X`` are replaced by
    ``eps`` (the divergence is undefined at ``x = 0``). Zeros in initial factors are
    lifted to ``eps`` so that they can still move.
    """

    #: use the fused kernels; tests switch it off to compare with the reference formulas
    _fused = True
    _parameter_constraints = {
        **MU_FAMILY_CONSTRAINTS,
        "n_components": N_COMPONENTS,
        "beta_loss": BETA_LOSS,
        "l1": L1,
        "tol": TOL,
        "init": [options(MU_INITS)],
        "nan_policy": NAN_POLICY,
    }

    def __init__(
        self,
        n_components,
        *,
        beta_loss="frobenius",
        l1=0.0,
        l2=0.0,
        max_iter=200,
        tol=1e-4,
        init="random",
        backend="auto",
        dtype=None,
        nan_policy="raise",
        random_state=None,
        verbose=0,
        n_threads=None,
    ):
        self.n_components = n_components
        self.beta_loss = beta_loss
        self.l1 = l1
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.backend = backend
        self.dtype = dtype
        self.nan_policy = nan_policy
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True  # CSR/CSC, kept sparse for β ∈ {1, 2} (Notes)
        tags.input_tags.allow_nan = self.nan_policy == "omit"
        tags.transformer_tags.preserves_dtype = preserved_dtypes(self.dtype)
        return tags

    @property
    def _n_features_out(self) -> int:
        """Columns of ``transform``'s output (``get_feature_names_out`` names them)."""
        return int(self.components_.shape[0])

    # ------------------------------------------------------------------ checking
    def _check_params(self) -> float:
        """Check the hyper-parameters (``_parameter_constraints``); returns β."""
        self._validate_params()
        return beta_from_loss(self.beta_loss)

    def _problem(self, X, mask, beta, dtype, backend: Backend, n_for_penalty=None, scaling=None) -> Problem:
        """Validate ``X`` (dense or sparse) and bundle it with the loss settings.

        ``scaling``: None (the data as they are) or a callable ``max(X) -> Scaling``; the
        problem is then the rescaled one (module :mod:`wnmf_np.mu.updates`, "Scale"),
        with ``X'``, the penalty weights and the zero lift of β ≤ 0 in its units.
        """
        X, mask = _check_input(X, mask, beta, dtype, backend, self.nan_policy)
        n, m = X.shape
        scale = Scaling() if scaling is None else scaling(_max_entry(X))
        X = _rescaled_data(X, -scale.kx, backend)
        eps = float(np.finfo(dtype).eps)
        if beta <= 0.0:  # d_β(0 | y) is infinite for β ≤ 0: lift zeros as sklearn advises
            X = X.copy()
            X[X == 0] = eps
        pen = scaled_penalty(float(self.l1), float(self.l2), n if n_for_penalty is None else n_for_penalty, m)
        return Problem(backend.xp, X, mask, beta, gamma_exponent(beta), eps, scale.penalty(pen, beta), self._fused, scale)

    def _initial_factors(self, prob: Problem, H, Wt, rng, dtype, backend: Backend):
        """Initial ``(H, Wt)`` on the backend, following ``init``; with "custom" ``H`` and
        ``Wt`` are what the caller passed to ``fit`` as ``W`` and ``H``."""
        n, m = prob.X.shape
        r = self.n_components
        if self.init == "custom":  # given in the caller's units: into the problem's
            H0 = ldexp(np, check_custom_factor("W", H, (n, r), dtype), -prob.scaling.kh, inplace=True)
            Wt0 = ldexp(np, check_custom_factor("H", Wt, (r, m), dtype), -prob.scaling.kw, inplace=True)
        elif self.init == "random":
            H0, Wt0 = random_init(_observed_mean(prob), (n, m), r, rng, dtype)
        else:
            if isinstance(prob.X, ChunkedMatrix):
                raise ValueError(f"init={self.init!r} needs the whole matrix (an SVD); use init='random' with out-of-core X.")
            if r > min(n, m):
                raise ValueError(f"init={self.init!r} needs n_components <= min(n_samples, n_features) = {min(n, m)}, got {r}.")
            H0, Wt0 = nndsvd_init(_host_matrix(prob, backend), r, self.init, rng, dtype)
        return backend.asarray(H0), backend.asarray(Wt0)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, *, mask=None, W=None, H=None):
        """Learn ``components_`` from ``X`` (n_samples, n_features); see :meth:`fit_transform`."""
        self.fit_transform(X, mask=mask, W=W, H=H)
        return self

    def fit_transform(self, X, y=None, *, mask=None, W=None, H=None):
        """Fit and return the latents (n_samples, n_components).

        Parameters
        ----------
        X : array-like or scipy sparse matrix (n_samples, n_features), ≥ 0
        mask : bool array (n_samples, n_features), optional
            True where an entry is observed (the entries masked in a NumPy masked array X
            are unobserved as well).
        W, H : array-like, optional
            Initial factors, required (and only used) with ``init="custom"``, named as in
            scikit-learn: ``W`` the latents (n_samples, n_components), ``H`` the
            components (n_components, n_features).
        """
        with limit_threads(self.n_threads):
            beta = self._check_params()
            dtype = resolve_dtype(self.dtype, X)
            backend = resolve_backend(self.backend, X)
            rng = check_random_state_seed(self.random_state)
            prob = self._problem(X, mask, beta, dtype, backend, scaling=Scaling.balanced)
            record_feature_names(self, X)
            # the public W, H are scikit-learn's (latents, components): internally H and Wt
            H0, Wt0 = self._initial_factors(prob, W, H, rng, dtype, backend)
            res = run_mu(prob, H0, Wt0, max_iter=self.max_iter, tol=self.tol, verbose=self.verbose,
                         objective_scale=prob.scaling.objective_factor(beta))  # fmt: skip
            if not res.converged and self.tol > 0 and self.max_iter > 0:
                warn(
                    f"MultiplicativeNMF: max_iter={self.max_iter} reached before the objective "
                    f"converged (tol={self.tol}); increase max_iter or tol.",
                    ConvergenceWarning,
                )
            xp, scale = backend.xp, prob.scaling
            self.components_ = ldexp(xp, res.Wt, scale.kw, inplace=True)
            self.n_components_ = int(self.n_components)
            self.n_features_in_ = int(prob.X.shape[1])
            self.n_iter_ = int(res.n_iter)
            self.reconstruction_err_ = reconstruction_error(res.divergence) * pow2(beta * scale.kx / 2)
            self.loss_curve_ = [float(v) for v in res.losses]
            self._beta = beta
            self._train_mean = math.ldexp(_observed_mean(prob), scale.kx)  # the start of transform
            return ldexp(xp, res.H, scale.kh, inplace=True)

    def transform(self, X, *, mask=None):
        """Latents (n_samples, n_components) of ``X`` with ``components_`` fixed.

        Solves the subproblem of the latents ``H`` by MU (``max_iter``, ``tol`` as in
        ``fit``) row by row (:mod:`wnmf_np.mu.rows`): each sample starts from ``mean(x_i) / sqrt(r ·
        mean(X_fit))`` (proportional to the row; ``sqrt(mean(x_i) / r)`` after an all-zero
        fit) and stops on its own objective, so its latents do not depend on the other
        samples passed with it. The penalty on the latents is scaled by ``n_features`` as in
        ``fit``; the precision is the one of the fit. Like ``fit`` it runs on rescaled
        data and factors, so the latents of ``c X`` are ``c`` times those of X.
        """
        with limit_threads(self.n_threads):
            self._check_fitted()
            beta = self._check_params()
            dtype = self.components_.dtype.type
            check_feature_names(self, X)
            backend = resolve_backend(self.backend, X, self.components_)
            xp = backend.xp
            Wt = backend.asarray(self.components_, dtype=dtype)
            kw = scale_exponent(float(xp.max(Wt)))
            prob = self._problem(X, mask, beta, dtype, backend, scaling=lambda max_x: Scaling(kh=scale_exponent(max_x) - kw, kw=kw))
            if prob.X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {prob.X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input.")
            scale, r = prob.scaling, self.n_components_
            train_mean = getattr(self, "_train_mean", 0.0)
            # all-zero training data: the scale of a random start of this data
            per_mean = math.ldexp(1.0, kw) / math.sqrt(r * train_mean) if train_mean > 0 else None
            H0 = row_start(prob, r, dtype, per_mean=per_mean)
            H = solve_rows(prob, H0, ldexp(xp, Wt, -kw), max_iter=self.max_iter, tol=self.tol)[0]
            H = ldexp(xp, H, scale.kh, inplace=True)
            if not bool(xp.isfinite(H).all()):
                raise ValueError(
                    f"the latents of X overflow {np.dtype(dtype).name}: X is far larger than the data the model was "
                    "fitted on; rescale X or use dtype='float64'."
                )
            return H

    def inverse_transform(self, W):
        """Reconstruction ``W @ components_`` (n_samples, n_features) of the latents ``W``."""
        self._check_fitted()
        H = W  # the public name is scikit-learn's (W = latents); internally H
        backend = resolve_backend(self.backend, H, self.components_)
        Wt = backend.asarray(self.components_)
        return check_latents(H, Wt.shape[0], backend.xp, Wt.dtype, name="W") @ Wt

    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise NotFittedError("This MultiplicativeNMF instance is not fitted yet; call fit first.")

    # ------------------------------------------------------------ save / load
    def _file_state(self):
        """Arrays and scalars of :meth:`save` (:class:`wnmf_np.estimators.persistence.ModelFileMixin`)."""
        fitted = {"n_components_": self.n_components_, "n_features_in_": self.n_features_in_, "n_iter_": self.n_iter_,
                  "reconstruction_err_": self.reconstruction_err_, "loss_curve_": self.loss_curve_,
                  "train_mean": getattr(self, "_train_mean", 0.0)}  # fmt: skip
        return {"components": self.components_}, fitted

    def _restore_file_state(self, fitted, entries, backend: Backend) -> None:
        """Validate and set what :meth:`_file_state` saved."""
        common = fitted_common(fitted, self, n_iter_high=self.max_iter)
        r = fitted.int("n_components_", low=1)
        if r != self.n_components:
            raise fitted.error("n_components_", f"is {r}, but the saved parameter n_components is {self.n_components}")
        train_mean = fitted.float("train_mean", low=0.0)
        Wt = entries.get("param/components", shape=(r, common["n_features_in_"]), dtype=declared_dtype(self.dtype),
                        non_negative=True)  # fmt: skip
        self.components_ = backend.asarray(Wt)
        self.n_components_ = r
        for key, value in common.items():
            setattr(self, key, value)
        self._beta = beta_from_loss(self.beta_loss)
        self._train_mean = train_mean


# --------------------------------------------------------------------- input helpers
def _check_input(X, mask, beta: float, dtype, backend: Backend, nan_policy: str):
    """``(X, mask)`` ready for :class:`Problem`: CSR for sparse-capable cases, a
    :class:`ChunkedMatrix` for out-of-core data, else dense."""
    if is_out_of_core(X):
        return _check_out_of_core(X, mask, beta, dtype, backend), None
    if sp.issparse(X):
        X = _check_sparse(X, dtype, nan_policy)
        keep_sparse = beta in (1.0, 2.0) and mask is None and backend.name == "numpy"
        if keep_sparse and not np.isnan(X.data).any():
            return X, None
        X = X.toarray()  # documented densification (other β, masks, NaN, GPU)
    # MU never writes into X (a rescaling makes a new array), so it need not be copied
    X, observed = check_data(X, backend, dtype, nan_policy=nan_policy, mask=mask, non_negative=True, copy=False)
    if observed is not None and bool(observed.all()):
        observed = None  # the unweighted formulas are cheaper
    return X, observed


def _check_out_of_core(X, mask, beta: float, dtype, backend: Backend):
    """Stream-validate a memmap / h5py / zarr / Dask ``X`` and wrap it for chunked products."""
    if beta != 2.0 or mask is not None or backend.name != "numpy":
        raise ValueError(
            "out-of-core X (memmap, h5py, zarr or Dask) is supported with beta_loss='frobenius', "
            "no mask and the NumPy backend; load X into memory for other settings."
        )
    try:
        scanned = OutOfCoreData(X, backend, dtype, nan_policy="raise", non_negative=True)
    except ValueError as exc:
        if "NaN" in str(exc):
            raise ValueError("out-of-core X contains NaN; missing values need in-memory X with nan_policy='omit'.") from None
        raise
    return ChunkedMatrix(X, dtype, max_value=scanned.max_abs(np))


def _check_sparse(X, dtype, nan_policy: str):
    """Validate a scipy sparse ``X`` without densifying it; returns a sorted CSR copy."""
    X = sp.csr_matrix(X, dtype=dtype, copy=True)
    X.sum_duplicates()
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X is empty: shape {X.shape}.")
    data = X.data
    if np.isinf(data).any():
        raise ValueError("X contains infinite values; remove or clip them before fitting.")
    if np.isnan(data).any() and nan_policy == "raise":
        raise ValueError(
            "X contains NaN. If NaN marks missing entries, pass nan_policy='omit' "
            "(missing entries are then left out of the loss); otherwise clean the data."
        )
    if (data < 0).any():
        raise ValueError(f"Negative values in data passed to X (min {np.nanmin(data):g}); this needs non-negative data.")
    return X


def _max_entry(X) -> float:
    """The largest entry of validated (non-negative, missing = 0) dense, sparse or chunked X."""
    if isinstance(X, ChunkedMatrix):
        return X.max_value
    if sp.issparse(X):
        return float(X.data.max()) if X.nnz else 0.0
    return float(X.max())


def _rescaled_data(X, k: int, backend: Backend):
    """``X · 2^k`` (exact), never in place: the validated dense ``X`` may be the caller's
    own array (``check_data(copy=False)``)."""
    if k == 0:
        return X
    if isinstance(X, ChunkedMatrix):
        return X.rescaled(k)
    if sp.issparse(X):
        X.data = np.ldexp(X.data, np.int32(k))
        return X
    return ldexp(backend.xp, X, k)


def _observed_mean(prob: Problem) -> float:
    """Mean of the observed entries of ``X`` (sets the scale of the random init)."""
    X = prob.X
    if prob.mask is None:
        return float(X.sum()) / (X.shape[0] * X.shape[1])
    return float(X.sum()) / max(float(prob.mask.sum()), 1.0)


def _host_matrix(prob: Problem, backend: Backend):
    """``X`` on the host for the SVD of NNDSVD; missing entries filled with the mean."""
    if prob.sparse:
        return prob.X
    X = backend.to_numpy(prob.X)
    if prob.mask is not None:
        X = np.where(backend.to_numpy(prob.mask), X, _observed_mean(prob))
    return X
