"""Multilayer (deep) NMF by multiplicative updates: :class:`DeepMultiplicativeNMF`.

Paper orientation inside this module (Cichocki & Zdunek 2006; paper eq. 11 with
φ = identity): the data matrix is ``Xt = X.T`` of shape (m, n) = (n_features, n_samples)
and

.. math::

    X^T \\approx W_L W_{L-1} \\cdots W_1 H_1, \\qquad
    W_l \\in \\mathbb{R}_+^{r_{l+1} \\times r_l},\\;
    H_1 \\in \\mathbb{R}_+^{r_1 \\times n},\\; r_{L+1} = m,

so ``ranks=(20, 40)`` gives ``H_1`` (20, n), ``W_1`` (40, 20) and ``W_2`` (m, 40).
The latent of layer ``l`` is ``Z_l = W_{l-1} ⋯ W_1 H_1`` (r_l, n); at the sklearn
boundary it is returned transposed, (n_samples, r_l).

Names (the package convention, :mod:`wnmf_np`; a trailing ``t`` marks a transpose):
``Xt = X.T`` and ``mask_t`` (m, n); ``Ws = [W_1, …, W_L]``, the paper's ``W_l`` in its
shape (r_{l+1}, r_l), as ``DeepWNMF``'s ``"W1"`` … ``"WL"``; ``Ht`` (r_1, n) = the paper's
``H_1``, the transpose of the latents ``H`` (n, r_1) (``DeepWNMF``'s ``"H"``). The
transform's sub-problem is written in the shallow MU names: ``H`` (n, r_1) and the
product basis ``Wt = (W_L ⋯ W_1)ᵀ`` (r_1, m).

Objective of the joint fine-tuning (paper eq. 2 with ℓ the squared Frobenius norm):

.. math::

    f = \\| M \\odot (X^T - W_L \\cdots W_1 H_1) \\|_F^2
        + \\lambda \\Big(\\|H_1\\|_F^2 + \\sum_l \\|W_l\\|_F^2\\Big).

MU for a factor in the middle of the product, ``Xt ≈ A F B`` with ``A``, ``B`` fixed
(``A = W_L ⋯ W_{l+1}``, ``B = W_{l-1} ⋯ H_1``; identities at the ends)::

    F ← max(F ⊙ (Aᵀ Xt Bᵀ) / max(Aᵀ A F B Bᵀ + λ F, eps), eps)

(with a mask: ``Aᵀ (M ⊙ Xt) Bᵀ / (Aᵀ (M ⊙ A F B) Bᵀ + λ F)``). The diagonal
majoriser of Lee & Seung applies unchanged because ``AᵀA ⊗ BBᵀ`` is entry-wise
non-negative, so each step does not increase ``f``. Products are ordered by cost:
``Aᵀ Xt Bᵀ`` passes over ``Xt`` once, through the thinner of ``A`` and ``Bᵀ``, and the
denominator uses the small Gram matrices ``AᵀA`` and ``BBᵀ``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from ..core.backend import resolve_backend
from ..core.init import ridge_least_squares
from ..core.params import NON_NEGATIVE_INT, Satisfies, document_parameters, options, rank_sequence
from ..core.threads import limit_threads, refresh_threads
from ..core.validation import (
    check_data,
    check_feature_names,
    check_int,
    check_latents,
    check_random_state_seed,
    declared_dtype,
    preserved_dtypes,
    record_feature_names,
    resolve_dtype,
)
from ..core.warn import warn
from ..estimators.persistence import ModelFileMixin, fitted_common
from ..training.driver import DivergenceError
from .init import MU_COMPUTED_INITS
from .params import MU_FAMILY_CONSTRAINTS, MU_FAMILY_DOCS, MU_FAMILY_PARAMETERS, NAN_POLICY, TOL
from .rows import solve_rows
from .shallow import CHECK_EVERY, MultiplicativeNMF, run_mu
from .updates import Penalty, Problem, ldexp, mu_step, pow2, scale_exponent


def chain(mats):
    """Product ``mats[0] @ mats[1] @ …``, or None (the identity) when ``mats`` is empty."""
    if not mats:
        return None
    out = mats[0]
    for A in mats[1:]:
        out = out @ A
    return out


class DeepProblem:
    """Data and settings of the fine-tuning (paper orientation: ``Xt = X.T`` (m, n), ``mask_t`` likewise).

    ``lam`` weighs ``‖H_1‖²`` and ``lam_w`` (default ``lam``) every ``‖W_l‖²``: on data
    rescaled by ``s`` they differ (``λ`` and ``λ / s²``, see :class:`DeepMultiplicativeNMF`).
    """

    def __init__(self, xp, Xt, mask_t, lam: float, eps: float, fused: bool, lam_w: float | None = None):
        self.xp, self.Xt, self.mask_t = xp, Xt, mask_t
        self.lam, self.eps = lam, eps
        self.lam_w = lam if lam_w is None else lam_w
        # a Problem only to reuse the element-wise MU kernel (β = 2, γ = 1)
        self.step = Problem(xp, None, None, 2.0, 1.0, eps, Penalty(), fused)
        self.norm_x = float(xp.vdot(Xt.ravel().astype(np.float64), Xt.ravel().astype(np.float64)))


def factor_update(dp: DeepProblem, A, F, B, lam: float | None = None):
    """One MU step on ``F`` for ``Xt ≈ A F B`` (in place), with ``λ‖F‖²`` (``lam``,
    default ``dp.lam``).

    ``A`` (m, p), ``F`` (p, q), ``B`` (q, n); ``A`` or ``B`` may be None for the identity
    (the ends of the chain), which is never materialised (it would be m × m or n × n).
    """
    lam = dp.lam if lam is None else lam
    xp, Xt = dp.xp, dp.Xt
    if dp.mask_t is None:
        num = _sandwich(A, Xt, B)  # one pass over Xt, through the thinner side
        den = F if A is None else (A.T @ A) @ F
        den = den if B is None else den @ (B @ B.T)
    else:
        fit = F if A is None else A @ F
        fit = (fit if B is None else fit @ B) * dp.mask_t
        num, den = _sandwich(A, Xt, B), _sandwich(A, fit, B)
    return mu_step(dp.step, F, xp.ascontiguousarray(num), xp.ascontiguousarray(den), 0.0, lam)


def _sandwich(A, Y, B):
    """``Aᵀ Y Bᵀ`` with None as the identity, multiplying through the thinner factor first."""
    if A is None:
        return Y if B is None else Y @ B.T
    if B is None:
        return A.T @ Y
    return (A.T @ Y) @ B.T if A.shape[1] <= B.shape[0] else A.T @ (Y @ B.T)


def deep_objective(dp: DeepProblem, Ws, Ht) -> tuple[float, float]:
    """``(‖M ⊙ (Xt − W_L⋯W_1 H_1)‖², f)`` (module docstring), as floats."""
    xp = dp.xp
    P = chain(Ws[::-1])  # W_L ⋯ W_1, (m, r_1)
    if dp.mask_t is None:
        # ‖Xt‖² − 2⟨Pᵀ Xt, Ht⟩ + ⟨PᵀP, Ht Htᵀ⟩ in float64 (no m×n residual)
        P64, Ht64 = P.astype(np.float64), Ht.astype(np.float64)
        cross = float(xp.vdot((P64.T @ dp.Xt.astype(np.float64)).ravel(), Ht64.ravel()))
        quad = float(xp.vdot((P64.T @ P64).ravel(), (Ht64 @ Ht64.T).ravel()))
        err = max(dp.norm_x - 2.0 * cross + quad, 0.0)
    else:
        R = ((dp.Xt - P @ Ht) * dp.mask_t).astype(np.float64).ravel()
        err = float(xp.vdot(R, R))
    if dp.lam_w == dp.lam:
        reg = sum(float(xp.vdot(F.ravel(), F.ravel())) for F in [Ht, *Ws])
        return err, err + dp.lam * reg
    reg_w = sum(float(xp.vdot(F.ravel(), F.ravel())) for F in Ws)
    return err, err + dp.lam * float(xp.vdot(Ht.ravel(), Ht.ravel())) + dp.lam_w * reg_w


def fine_tune_sweep(dp: DeepProblem, Ws, Ht):
    """Update ``Ht`` (``H_1``) then ``W_1``, …, ``W_L`` once each (all in place)."""
    factor_update(dp, chain(Ws[::-1]), Ht, None)
    below = Ht  # W_{l-1} ⋯ H_1
    for l in range(len(Ws)):
        above = chain(Ws[l + 1 :][::-1])  # W_L ⋯ W_{l+1}; None for l = L
        factor_update(dp, above, Ws[l], below, dp.lam_w)
        below = Ws[l] @ below


def _per_square(lam: float, scale: float) -> float:
    """``λ / scale²`` without overflow or division by zero (``inf`` beyond float64)."""
    return lam * pow2(-2 * math.log2(scale)) if lam else 0.0


#: ε of the ridge start of ``transform``, relative to the trace of the Gram matrix (at least λ)
WARM_START_RIDGE = 1e-8


def _warm_start(xp, X, Wt, lam: float, dtype):
    """Start for ``min_{H ≥ 0} ‖X − H Wt‖²``: the ridge solution, lifted to a small floor.

    MU alone crawls on this sub-problem from a constant start; the clipped ridge solution
    is already close, and the floor (1 % of the mean positive part of the row's solution,
    at least the dtype's smallest normal number) keeps every entry able to move
    multiplicatively. Each row uses its own values only, so a sample's start does not
    depend on the other samples of the batch, and both are linear in X: the start for
    c·X is c times the start for X. The ridge (float64, absolute: never singular, no
    overflow) is ``max(λ, 1e-8 tr(Wt Wtᵀ))``.
    """
    H = ridge_least_squares(Wt, X, xp, WARM_START_RIDGE, per_rank=False, at_least=lam)  # (n, r_1)
    floor = xp.maximum(0.01 * xp.maximum(H, 0.0).max(axis=1), float(np.finfo(dtype).tiny))[:, None]
    limit = float(np.finfo(dtype).max) / 4
    return xp.ascontiguousarray(xp.clip(H, floor, limit).astype(dtype))


@document_parameters(MU_FAMILY_DOCS, MU_FAMILY_PARAMETERS, notes={
    "nan_policy": "Missing entries are left out of the first pretraining stage and of the fine-tuning objective."})
class DeepMultiplicativeNMF(ModelFileMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Multilayer NMF ``X.T ≈ W_L ⋯ W_1 H_1`` fitted by multiplicative updates.

    ``X`` is (n_samples, n_features) at the boundary; inside, the paper's orientation
    ``X.T`` (module docstring for shapes, objective and update rule). Fitting has two
    stages:

    1. **Layer-wise pretraining** (Cichocki & Zdunek 2006), from the data side down:
       ``X.T ≈ W_L Z_L`` (rank r_L), then ``Z_L ≈ W_{L-1} Z_{L-1}``, …, ending with
       ``Z_1 = H_1``; each stage is a :class:`MultiplicativeNMF` fit (Frobenius, the
       same λ, ``pretrain_iter`` iterations).
    2. **Joint fine-tuning** of all factors on the whole product by the MU rule above,
       ``max_iter`` sweeps (``H_1`` then ``W_1 … W_L``), stopping like
       :class:`MultiplicativeNMF` (relative decrease of ``f`` every 10 sweeps < ``tol``).

    Parameters
    ----------
    ranks : sequence of int
        ``(r_1, …, r_L)``; ``r_1`` is the rank of ``H_1`` (the innermost code).
    l2 : float, default 0
        λ of the objective (not rescaled by the data size, unlike MultiplicativeNMF).
    max_iter : int, default 200
        Fine-tuning sweeps (0 keeps the pretrained factors).
    pretrain_iter : int, default 200
    tol : float, default 1e-4
    init : {"random", "nndsvda", "nndsvd", "nndsvdar"}
        Initialisation of every pretraining stage.
    <shared parameters>

    Attributes
    ----------
    factors_ : list of arrays
        ``[W_1, …, W_L]`` in paper orientation, ``W_l`` of shape (r_{l+1}, r_l).
    latents_ : array of shape (n_samples, r_1)
        ``H_1ᵀ``, the training latents of layer 1 (as :class:`wnmf_np.DeepWNMF`'s ``latents_``).
    layer_latents_ : list of L arrays, the l-th of shape (n_samples, r_l)
        ``layer_latents_[l-1] = Z_lᵀ`` for layer ``l = 1 … L``: ``H_1ᵀ``, ``(W_1 H_1)ᵀ``, …;
        ``layer_latents_[0] is latents_``.
    components_ : array of shape (r_1, n_features)
        ``(W_L ⋯ W_1)ᵀ``, the full product basis: ``latents_ @ components_`` is the
        reconstruction (as :class:`wnmf_np.DeepWNMF`'s ``components_``).
    layer_components_ : list of L arrays, the l-th of shape (r_l, n_features)
        ``layer_components_[l-1] = (W_L ⋯ W_l)ᵀ``, the basis that decodes layer-l latents:
        ``layer_latents_[l-1] @ layer_components_[l-1]`` is the reconstruction for every ``l``;
        ``layer_components_[0] is components_``.
    pretrain_objective_ : list of float
        ``‖Z − W Z'‖²`` of each pretraining stage at its initialisation and at its end,
        as ``[(initial, final), …]`` from layer L down to layer 1.
    n_iter_, reconstruction_err_, loss_curve_
        Fine-tuning sweeps, ``‖M ⊙ (X.T − W_L⋯H_1)‖_F`` and ``f`` per check.
    data_scale_ : float
        The power of two nearest the maximum of X (1 for data in [0.71, 1.41) such as
        pixels in [0, 1], and for all-zero X): the updates run on X divided by it, so that
        the floors at machine epsilon are relative to the data and float32 products
        cannot overflow, and ``H_1`` is multiplied back. The fit of ``c X`` therefore has
        ``c`` times the reconstruction and ``c²`` times the objective of the fit of X
        (for ``l2=0``, up to rounding: exactly, with the same ``factors_`` and ``c`` times
        the latents, when ``c`` is a power of two; otherwise each layer's latents and
        factors may differ by a constant factor, the products not). The objective is
        that of X itself: λ keeps its meaning (in the rescaled units the weights are λ for
        ``H_1`` and λ / data_scale_² for the ``W_l``).

    Notes
    -----
    ``fit_transform`` and ``transform`` return layer 1 (``H_1ᵀ``, the innermost and
    smallest code) unless ``layer`` is given; ``transform`` solves for ``H_1`` with all
    ``W_l`` fixed and maps it up through ``W_1 … W_{layer-1}``. ``get_feature_names_out``
    names the r_1 columns of layer 1 (so ``set_output(transform="pandas")`` applies to
    the default ``layer=1``).
    """

    _fused = True
    _parameter_constraints = {
        **MU_FAMILY_CONSTRAINTS,
        "ranks": [Satisfies(rank_sequence, "a non-empty sequence of positive integers (r_1, ..., r_L)")],
        "pretrain_iter": [NON_NEGATIVE_INT],
        "tol": TOL,
        "init": [options(MU_COMPUTED_INITS)],
        "nan_policy": NAN_POLICY,
    }

    def __init__(
        self,
        ranks=(20, 40),
        *,
        l2=0.0,
        max_iter=200,
        pretrain_iter=200,
        tol=1e-4,
        init="random",
        backend="auto",
        dtype=None,
        nan_policy="raise",
        random_state=None,
        verbose=0,
        n_threads=None,
    ):
        self.ranks = ranks
        self.l2 = l2
        self.max_iter = max_iter
        self.pretrain_iter = pretrain_iter
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
        tags.input_tags.allow_nan = self.nan_policy == "omit"
        tags.transformer_tags.preserves_dtype = preserved_dtypes(self.dtype)
        return tags  # sparse X is refused (input_tags.sparse stays False)

    @property
    def _n_features_out(self) -> int:
        """r_1, the columns of layer 1 (``get_feature_names_out`` names them)."""
        return int(self.factors_[0].shape[1])

    def _check_params(self):
        """Check the hyper-parameters (``_parameter_constraints``); returns the ranks."""
        self._validate_params()
        return tuple(int(r) for r in self.ranks)

    def _stage(self, rank: int, seed: int, dtype):
        """The shallow estimator of one pretraining stage (λ mapped to its scaling)."""
        return MultiplicativeNMF(
            rank, max_iter=self.pretrain_iter, tol=0.0, init=self.init, backend=self.backend,
            dtype=dtype, nan_policy=self.nan_policy, random_state=seed,
        )

    def _pretrain(self, X, mask, ranks, backend, dtype, rng, scale: float = 1.0):
        """Layer-wise factorisation from the data side down; returns ``(Ws, Ht)``.

        ``X`` is the data divided by ``scale``: every stage's latents carry that factor and
        its components do not, so the components' λ is ``λ / scale²`` in these units.
        """
        lam = float(self.l2)
        Ws = [None] * len(ranks)
        data, data_mask, self.pretrain_objective_ = X, mask, []
        to_caller = scale * scale  # objectives of the rescaled stages -> the caller's units
        for l in range(len(ranks) - 1, -1, -1):
            est = self._stage(ranks[l], int(rng.integers(2**31 - 1)), dtype)
            prob = est._problem(data, data_mask, 2.0, dtype, backend)
            # ‖Zᵀ − H Wtᵀ‖² + λ(‖H‖² + ‖Wt‖²) = 2 × (½‖·‖² + ½λ‖·‖² + ½λ‖·‖²): l2_H = l2_W = λ in
            # the caller's units; in those of Z / scale, λ for the latents H and λ / scale² for Wt
            prob = prob._replace(penalty=Penalty(l2_H=lam, l2_W=_per_square(lam, scale)))
            H, Wt = est._initial_factors(prob, None, None, rng, dtype, backend)
            res = run_mu(prob, H, Wt, max_iter=self.pretrain_iter, tol=0.0)
            self.pretrain_objective_.append((2.0 * res.losses[0] * to_caller, 2.0 * res.losses[-1] * to_caller))
            Ws[l] = backend.xp.ascontiguousarray(res.Wt.T)  # the stage's basis W = W_l (r_{l+1}, r_l)
            data, data_mask = res.H, None  # its latents (n, r_l) feed the next stage
        return Ws, backend.xp.ascontiguousarray(data.T)

    def fit(self, X, y=None, *, mask=None):
        """Pretrain and fine-tune on ``X`` (n_samples, n_features); returns ``self``."""
        self.fit_transform(X, mask=mask)
        return self

    def fit_transform(self, X, y=None, *, mask=None, layer=1):
        """Fit and return ``layer_latents_[layer - 1]`` (n_samples, r_layer); layer 1 by default."""
        with limit_threads(self.n_threads):
            ranks = self._check_params()
            dtype = resolve_dtype(self.dtype, X)
            backend = resolve_backend(self.backend, X)
            Xd, observed = check_data(X, backend, dtype, nan_policy=self.nan_policy, mask=mask, non_negative=True)
            record_feature_names(self, X)
            xp = backend.xp
            if observed is not None and bool(observed.all()):
                observed = None  # as MultiplicativeNMF: the unweighted formulas are cheaper
            # The updates run on X / 2^k, of order one (the floors at eps are then relative
            # and float32 products cannot overflow); H_1 carries the factor back.
            max_x = float(xp.max(Xd))
            k = scale_exponent(max_x)  # X / 2^k is of order one; exact, 2^k being a power of two
            self.data_scale_ = s = math.ldexp(1.0, k)
            Xd = ldexp(xp, Xd, -k, inplace=True)
            lam, to_caller = float(self.l2), s * s
            eps = float(np.finfo(dtype).eps)
            dp = DeepProblem(xp, Xd.T, None if observed is None else observed.T, lam, eps, self._fused,
                             lam_w=_per_square(lam, s))  # fmt: skip
            if not math.isfinite(dp.lam_w):
                raise ValueError(
                    f"l2={lam:g} is far too strong for data of this scale (max {max_x:.3g}): λ / max(X)², the weight "
                    "of the factors' penalty relative to the data term, exceeds float64. Rescale X or lower l2."
                )
            if not math.isfinite(dp.norm_x * to_caller):
                raise ValueError(
                    f"X is too large in magnitude (max {max_x:.3g}): the objective (loss_curve_) of its fit, of the "
                    "order of ‖X‖², is beyond the float64 range. Divide X by a constant (e.g. X / X.max())."
                )
            rng = check_random_state_seed(self.random_state)
            Ws, Ht = self._pretrain(Xd, observed, ranks, backend, dtype, rng, s)
            _, f0 = deep_objective(dp, Ws, Ht)
            losses, prev, converged, n_iter = [f0], f0, False, 0
            for n_iter in range(1, self.max_iter + 1):
                refresh_threads()  # follow the machine's load (n_threads=None)
                fine_tune_sweep(dp, Ws, Ht)
                if self.tol > 0 and n_iter % CHECK_EVERY == 0:
                    _, f = deep_objective(dp, Ws, Ht)
                    losses.append(f)
                    if self.verbose:
                        print(f"deep MU sweep {n_iter}: objective {f:.6g}")
                    if (prev - f) / max(f0, np.finfo(np.float64).tiny) < self.tol:
                        converged = True
                        break
                    prev = f
            err, f = deep_objective(dp, Ws, Ht)
            if n_iter == 0 or self.tol <= 0 or n_iter % CHECK_EVERY:
                losses.append(f)
            losses = [float(v) * to_caller for v in losses]
            error = float(np.sqrt(err)) * s
            Ht = ldexp(xp, Ht, k, inplace=True)
            finite = np.isfinite(error) and np.isfinite(losses).all() and all(bool(xp.isfinite(A).all()) for A in [Ht, *Ws])
            if not finite:  # never hand back NaN factors silently
                raise DivergenceError(
                    "DeepMultiplicativeNMF: the factors or the objective overflowed "
                    f"(objective {losses[-1]}); rescale X (max |X| = {max_x:.3g}) or use dtype='float64'."
                )
            if not converged and self.tol > 0 and self.max_iter > 0:
                warn(
                    f"DeepMultiplicativeNMF: max_iter={self.max_iter} reached before convergence (tol={self.tol}).",
                    ConvergenceWarning,
                )
            self.factors_ = Ws
            self.n_features_in_ = int(Xd.shape[1])
            self.n_iter_ = int(n_iter)
            self.loss_curve_ = losses
            self.reconstruction_err_ = error
            self.layer_latents_ = self._latents(Ht)
            self.latents_ = self.layer_latents_[0]
            self.layer_components_ = self._components()
            self.components_ = self.layer_components_[0]
            return self.layer_latents_[self._check_layer(layer) - 1]

    def transform(self, X, *, layer=1):
        """Latents of layer ``layer`` (n_samples, r_layer) for new data, all ``W_l`` fixed.

        Solves for ``H_1`` by MU (Frobenius, λ‖H_1‖², ``max_iter`` and ``tol`` of the
        fine-tuning), started from the clipped ridge solution, and returns ``(W_{layer-1} ⋯ W_1 H_1)ᵀ``.
        Every sample is solved on its own (its own start and stopping test,
        :mod:`wnmf_np.mu.rows`): its latents do not depend on the other samples of X.
        The precision is the one of the fit. Like ``fit`` it runs on X divided by the power
        of two nearest its maximum, so the latents of ``c X`` are ``c`` times those of X.
        """
        with limit_threads(self.n_threads):
            self._check_fitted()
            layer = self._check_layer(layer)
            self._check_params()
            dtype = self.factors_[0].dtype.type
            check_feature_names(self, X)
            backend = resolve_backend(self.backend, X, self.factors_[0])
            Xd, observed = check_data(X, backend, dtype, nan_policy=self.nan_policy, non_negative=True)
            if Xd.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {Xd.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input.")
            xp = backend.xp
            k = scale_exponent(float(xp.max(Xd)))
            t = math.ldexp(1.0, k)
            Xd = ldexp(xp, Xd, -k, inplace=True)
            Ws = [backend.asarray(W, dtype=dtype) for W in self.factors_]
            Wt = xp.ascontiguousarray(chain(Ws[::-1]).T)  # (r_1, m)
            lam = float(self.l2)
            # min ‖X − H Wt‖² + λ‖H‖² (+ λ‖Wt‖², constant) in the units of X / t (H carries t)
            penalty = Penalty(l2_H=lam, l2_W=_per_square(lam, t))
            prob = Problem(xp, Xd, observed, 2.0, 1.0, float(np.finfo(dtype).eps), penalty, self._fused)
            H = _warm_start(xp, Xd, Wt, lam, dtype)
            H = solve_rows(prob, H, Wt, max_iter=self.max_iter, tol=self.tol)[0]
            Ht = ldexp(xp, xp.ascontiguousarray(H.T), k, inplace=True)
            if not bool(xp.isfinite(Ht).all()):
                raise ValueError(f"the latents of X overflow {np.dtype(dtype).name}; rescale X or use dtype='float64'.")
            return self._latents(Ht)[layer - 1]

    def inverse_transform(self, Z, *, layer=1):
        """Reconstruction ``Z @ layer_components_[layer - 1]`` (n_samples, n_features) of
        layer-``layer`` latents ``Z`` (n_samples, r_layer), as ``transform`` returns them."""
        self._check_fitted()
        layer = self._check_layer(layer)
        basis = self.layer_components_[layer - 1]
        backend = resolve_backend(self.backend, Z, basis)
        basis = backend.asarray(basis)
        return check_latents(Z, basis.shape[0], backend.xp, basis.dtype) @ basis

    # ---------------------------------------------------------------- helpers

    def _latents(self, Ht):
        """``[Z_1ᵀ, …, Z_Lᵀ]`` with ``Z_1 = H_1`` (``Ht``) and ``Z_{l+1} = W_l Z_l``."""
        out, Z = [], Ht
        for W in [None, *self.factors_[:-1]]:
            Z = Z if W is None else W @ Z
            out.append(Z.T)
        return out

    def _components(self):
        """``[(W_L ⋯ W_l)ᵀ for l = 1 … L]``, each (r_l, n_features)."""
        comps, P = [], None
        for W in self.factors_[::-1]:
            P = W if P is None else P @ W
            comps.append(P.T)
        return comps[::-1]

    def _check_layer(self, layer) -> int:
        return check_int("layer", layer, low=1, high=len(self.factors_))

    def _check_fitted(self):
        if not hasattr(self, "factors_"):
            raise NotFittedError("This DeepMultiplicativeNMF instance is not fitted yet; call fit first.")

    # ------------------------------------------------------------ save / load
    def _file_state(self):
        """Arrays and scalars of :meth:`save`: the factors W_l and the training latents H_1ᵀ."""
        arrays = {f"W{l + 1}": W for l, W in enumerate(self.factors_)}
        arrays["latents"] = self.latents_
        fitted = {"n_features_in_": self.n_features_in_, "n_iter_": self.n_iter_,
                  "reconstruction_err_": self.reconstruction_err_, "loss_curve_": self.loss_curve_,
                  "data_scale_": self.data_scale_, "pretrain_objective_": [list(p) for p in self.pretrain_objective_]}  # fmt: skip
        return arrays, fitted

    def _restore_file_state(self, fitted, entries, backend) -> None:
        """Validate and set what :meth:`_file_state` saved."""
        ranks, dtype = self._check_params(), declared_dtype(self.dtype)
        common = fitted_common(fitted, self, n_iter_high=self.max_iter)
        scale = fitted.float("data_scale_", low=0.0)
        if scale <= 0:
            raise fitted.error("data_scale_", "must be positive")
        stages = fitted.value("pretrain_objective_")
        if not isinstance(stages, list) or len(stages) != len(ranks):
            raise fitted.error("pretrain_objective_", f"must hold one (initial, final) pair per layer ({len(ranks)})")
        pairs = []
        for i, pair in enumerate(stages):
            ok = isinstance(pair, list) and len(pair) == 2 and all(
                not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in pair
            )
            if not ok:
                raise fitted.error(f"pretrain_objective_[{i}]", f"must be a pair of finite numbers >= 0, got {pair!r}")
            pairs.append((float(pair[0]), float(pair[1])))
        outer = ranks[1:] + (common["n_features_in_"],)
        Ws = [entries.get(f"param/W{l + 1}", shape=(outer[l], ranks[l]), dtype=dtype, non_negative=True)
              for l in range(len(ranks))]  # fmt: skip
        Z = entries.get("param/latents", shape=(None, ranks[0]), dtype=dtype, non_negative=True)
        if Z.shape[0] < 1:
            raise entries.error("param/latents", "holds no sample")
        self.factors_ = [backend.xp.ascontiguousarray(backend.asarray(W)) for W in Ws]
        for key, value in common.items():
            setattr(self, key, value)
        self.data_scale_ = scale
        self.pretrain_objective_ = pairs
        self.layer_latents_ = self._latents(backend.xp.ascontiguousarray(backend.asarray(Z).T))
        self.latents_ = self.layer_latents_[0]
        self.layer_components_ = self._components()
        self.components_ = self.layer_components_[0]
