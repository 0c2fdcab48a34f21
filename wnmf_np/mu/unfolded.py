"""The estimator :class:`UnfoldedNMF`: deep unfolding of the multiplicative updates.

Forward, backward and the W-step live in :mod:`wnmf_np.mu.unfolded_model`; this module holds
the initialisations, the training loop (Adam + projection, NNLS for W) and the sklearn
shell. Convention at the boundary (sklearn's): ``X`` (n_samples, n_features); inside,
the paper's orientation with samples as columns, the latents as ``Ht`` (r, n) and the basis
as ``Wt`` (r, m) (names: :mod:`wnmf_np`, :mod:`wnmf_np.mu.unfolded_model`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError

from ..core.backend import Backend, resolve_backend
from ..core.optim import AdamWConfig
from ..core.params import POSITIVE, POSITIVE_INT, document_parameters, options
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
from ..estimators.persistence import ModelFileMixin, fitted_common
from ..kernels import get_kernels
from ..training.driver import DivergenceError
from .params import L1, MU_FAMILY_CONSTRAINTS, MU_FAMILY_DOCS, N_COMPONENTS
from .shallow import MultiplicativeNMF, reconstruction_error
from .unfolded_model import Layers, backward, forward, nnls_active_set, nnls_scipy, objective
from .updates import Penalty, Problem, divergence

UNFOLDED_INITS = ("faithful", "mu", "perturbed")
NNLS_SOLVERS = ("active-set", "scipy")
#: the authors' constant for every entry of every A_k and B_k
FAITHFUL_VALUE = 0.1
#: init="perturbed": entries 0.1 (1 + δ u), u ~ U(−1, 1)
PERTURBATION = 0.1
#: init="mu": Lee–Seung iterations of MultiplicativeNMF that give W₀
MU_INIT_ITER = 20
#: Adam as in torch.optim.Adam (the authors' optimizer): plain, no weight decay
ADAM = AdamWConfig(lr=5e-4, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, l2_penalty=0.0)


@document_parameters(MU_FAMILY_DOCS, ("backend", "dtype", "n_threads"))
class UnfoldedNMF(ModelFileMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """NMF by deep unfolding of the multiplicative H-update (Nasser, Eldar & Sharan 2022).

    ``K = n_layers`` layers map the data to latents: with samples as columns
    (X = ``X.T``, m × n), ``H⁽⁰⁾ = 1`` and, per layer,

    .. math::

        H^{(k+1)} = H^{(k)} \\odot (A_k X) \\oslash (B_k H^{(k)} + \\lambda_2 H^{(k)} + \\lambda_1 + \\varepsilon),

    ``A_k`` (r × m) ≥ 0 and ``B_k`` (r × r) ≥ 0 learnt per layer (in the roles of Wᵀ and
    WᵀW: with ``A_k = Wᵀ``, ``B_k = WᵀW`` a layer is one Lee–Seung H-update), ε the float32
    machine epsilon. Training minimises
    ``L = [½‖X − W H⁽ᴷ⁾‖²_F + λ₁ ΣH⁽ᴷ⁾ + ½λ₂ Σ(H⁽ᴷ⁾)²] / n`` over the layers by Adam
    (back-propagation written by hand, :mod:`wnmf_np.mu.unfolded_model`), projecting every
    ``A_k``, ``B_k`` onto ≥ 0 after each step. ``W`` (m × r) is not trained by gradient:
    before every step it is re-solved by non-negative least squares given H⁽ᴷ⁾, so the
    step follows the gradient of ``min_W L`` (the authors solve it right after the step;
    the W of a step is the same up to that one-step shift).

    Parameters
    ----------
    n_components : int
        Rank ``r``.
    n_layers : int, default 10
        ``K``, the number of unrolled updates (each with its own ``A_k``, ``B_k``).
    l1, l2 : float, default 0
        λ₁, λ₂ (≥ 0): penalties on the latents, in the loss and in every layer's denominator.
    max_iter : int, default 500
        Epochs (passes over the data); with the default full batch, Adam steps.
    lr : float, default 5e-4
        Adam's learning rate (β = (0.9, 0.999), ε = 1e-8, no weight decay).
    batch_size : int or None, default None
        ``None``: full batch (the authors' setting). Otherwise each epoch takes Adam steps
        on shuffled batches of samples, each step's loss divided by the batch size, with
        ``W`` re-solved from all samples at the start of each epoch.
    init : {"faithful", "mu", "perturbed"}, default "faithful"
        "faithful": the authors' start, every entry of every ``A_k``, ``B_k`` = 0.1 and
        ``W = 1/m``. All components then start identical and only rounding tells them
        apart. "mu" (ours): ``A_k = W₀ᵀ``, ``B_k = W₀ᵀW₀`` and ``W = W₀`` from 20
        Lee–Seung iterations of :class:`MultiplicativeNMF` (random init, the same seed):
        the untrained network is then 10 MU H-updates with a reasonable W. "perturbed"
        (ours): the faithful start times ``1 + 0.1 u``, ``u ~ U(−1, 1)`` per entry.
    nnls : {"active-set", "scipy"}, default "active-set"
        Solver of the W-step; both exact. "active-set": Lawson–Hanson (SciPy's
        algorithm) per feature on the shared Gram matrix ``H Hᵀ`` and ``H Xᵀ``, in a
        float64 numba kernel on the host (:func:`wnmf_np.mu.unfolded_model.nnls_active_set`;
        it agrees with SciPy to ~1e-9, tested). "scipy": ``scipy.optimize.nnls`` per
        feature on the n × r data, the authors' solver; NumPy only and 50–100× slower
        (ORL: 1.2–2.2 s per step).
    random_state : int >= 0, Generator, RandomState or None, default None
        Seeds the "mu" and "perturbed" starts and the batch order.
    verbose : int >= 0, default 0
        Print the loss every ``max(1, max_iter // 10)`` epochs when > 0.
    <shared parameters>

    Attributes
    ----------
    components_ : array (n_components, n_features)
        Wᵀ, the NNLS solution given the latents returned by ``fit_transform``.
    layers_ : Layers
        ``A`` (K, r, m) and ``B`` (K, r, r), on the input's backend.
    n_components_, n_features_in_, n_iter_ : int
    loss_curve_ : list of float
        ``min_W L`` at the start of every epoch and after the last.
    reconstruction_err_ : float
        ``‖X − Z components_‖_F`` of the training data (sklearn's definition).

    Notes
    -----
    Memory: the forward of a batch of b samples keeps H⁽⁰⁾ … H⁽ᴷ⁾ and ``A_k X`` for the
    backward, ``(2K + 1) r b`` numbers (``Q_k``, ``R_k`` are recomputed, ``r² b`` flops
    each). The parameters, their gradients and Adam's two moments take ``4 K r (m + r)``.
    One step costs about ``2 (2K + 2) r m b`` flops: one GEMM ``[A_0; …] X`` for all
    layers, one for all ``∂L/∂A_k``, plus ``WᵀX`` and ``H Xᵀ``. Sparse ``X`` is densified.
    """

    _parameter_constraints = {
        **MU_FAMILY_CONSTRAINTS,
        "n_components": N_COMPONENTS,
        "n_layers": [POSITIVE_INT],
        "l1": L1,
        "lr": [POSITIVE],
        "batch_size": [POSITIVE_INT, None],
        "init": [options(UNFOLDED_INITS)],
        "nnls": [options(NNLS_SOLVERS)],
    }

    def __init__(
        self,
        n_components,
        *,
        n_layers=10,
        l1=0.0,
        l2=0.0,
        max_iter=500,
        lr=5e-4,
        batch_size=None,
        init="faithful",
        nnls="active-set",
        backend="auto",
        dtype=None,
        random_state=None,
        verbose=0,
        n_threads=None,
    ):
        self.n_components = n_components
        self.n_layers = n_layers
        self.l1 = l1
        self.l2 = l2
        self.max_iter = max_iter
        self.lr = lr
        self.batch_size = batch_size
        self.init = init
        self.nnls = nnls
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True  # accepted and densified (Notes)
        tags.transformer_tags.preserves_dtype = preserved_dtypes(self.dtype)
        return tags

    @property
    def _n_features_out(self) -> int:
        """Columns of ``transform``'s output (``get_feature_names_out`` names them)."""
        return int(self.components_.shape[0])

    # ------------------------------------------------------------------ checking
    def _check_params(self) -> None:
        """Check the hyper-parameters (``_parameter_constraints``)."""
        self._validate_params()

    def _check_X(self, X, dtype, backend: Backend):
        """Dense, finite, non-negative ``X`` on the backend, with MultiplicativeNMF's messages."""
        if sp.issparse(X):
            X = X.toarray()  # documented: the layers' GEMMs are dense anyway
        try:
            X, observed = check_data(X, backend, dtype, nan_policy="raise", non_negative=True)
            if observed is not None:
                raise ValueError(
                    "X is a masked array with masked entries; UnfoldedNMF needs complete data "
                    "(impute them, or use MultiplicativeNMF, which leaves masked entries out)."
                )
        except ValueError as exc:
            if "NaN" in str(exc) and "nan_policy" in str(exc):
                raise ValueError(
                    "X contains NaN; UnfoldedNMF needs complete data "
                    "(impute it, or use MultiplicativeNMF(nan_policy='omit'))."
                ) from None
            raise
        if self.nnls == "scipy" and backend.name != "numpy":
            raise ValueError("nnls='scipy' needs the NumPy backend; use nnls='active-set' with CuPy.")
        return X

    # ------------------------------------------------------------------ init
    def _initial(self, X, rng, dtype, backend: Backend):
        """Initial ``(Layers, Wt)`` on the backend, following ``init``."""
        xp = backend.xp
        K, r, m = self.n_layers, self.n_components, X.shape[1]
        if self.init == "mu":
            mu = MultiplicativeNMF(r, max_iter=MU_INIT_ITER, tol=0.0, init="random", dtype=dtype,
                                   random_state=int(rng.integers(2**31 - 1)), backend=backend.name)  # fmt: skip
            mu.fit(X)
            Wt = xp.asarray(mu.components_, dtype=dtype)
            A = xp.ascontiguousarray(xp.broadcast_to(Wt, (K, r, m)))
            B = xp.ascontiguousarray(xp.broadcast_to(Wt @ Wt.T, (K, r, r)))
            return Layers(A, B), Wt.copy()
        A = np.full((K, r, m), FAITHFUL_VALUE)
        B = np.full((K, r, r), FAITHFUL_VALUE)
        if self.init == "perturbed":
            A *= 1.0 + PERTURBATION * rng.uniform(-1.0, 1.0, size=A.shape)
            B *= 1.0 + PERTURBATION * rng.uniform(-1.0, 1.0, size=B.shape)
        layers = Layers(backend.asarray(A, dtype=dtype), backend.asarray(B, dtype=dtype))
        return layers, xp.full((r, m), 1.0 / m, dtype=dtype)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Learn the layers and ``components_`` from ``X`` (n_samples, n_features)."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return the latents ``H⁽ᴷ⁾ᵀ`` (n_samples, n_components).

        Parameters
        ----------
        X : array-like or scipy sparse matrix (n_samples, n_features), ≥ 0
        """
        with limit_threads(self.n_threads):
            return self._fit_transform(X)

    def _fit_transform(self, X):
        self._check_params()
        dtype = resolve_dtype(self.dtype, X)
        backend = resolve_backend(self.backend, X)
        original, X = X, self._check_X(X, dtype, backend)
        record_feature_names(self, original)
        rng = check_random_state_seed(self.random_state)
        layers, Wt = self._initial(X, rng, dtype, backend)
        layers, Wt, Ht, losses = self._train(X, layers, Wt, rng, backend)
        self.layers_ = layers
        self.components_ = Wt
        self.n_components_ = int(self.n_components)
        self.n_features_in_ = int(X.shape[1])
        self.n_iter_ = int(self.max_iter)
        self.loss_curve_ = losses
        self.reconstruction_err_ = _reconstruction_err(X, Ht.T, Wt, backend)
        return Ht.T

    def _train(self, X, layers: Layers, Wt, rng, backend: Backend):
        """The epoch loop; returns the trained ``(layers, Wt)``, ``Ht`` = H⁽ᴷ⁾ (r, n) of all of
        ``X`` and the loss curve."""
        xp = backend.xp
        kernels = get_kernels(backend.name)
        n = X.shape[0]
        l1, l2 = float(self.l1), float(self.l2)
        b = n if self.batch_size is None else min(int(self.batch_size), n)
        row_sq = xp.sum(X.astype(np.float64) ** 2, axis=1)  # ‖x_i‖², for the loss of any batch
        x_sq = float(row_sq.sum())
        moments = [(xp.zeros_like(p), xp.zeros_like(p)) for p in layers]
        losses, t = [], 0
        report = max(1, self.max_iter // 10)
        for epoch in range(self.max_iter + 1):
            refresh_threads()  # follow the machine's load (n_threads=None)
            Ht, cache = forward(layers, X, l1, l2, keep=(b == n and epoch < self.max_iter))
            Wt = self._solve_W(Wt, Ht, X)
            value, G = objective(Wt, Ht, X, x_sq, l1, l2, n, grad=cache is not None)
            if not np.isfinite(value):
                raise DivergenceError(
                    f"UnfoldedNMF: the loss became non-finite at epoch {epoch}; lower lr or rescale X."
                )
            losses.append(value)
            if self.verbose and (epoch % report == 0 or epoch == self.max_iter):
                print(f"UnfoldedNMF epoch {epoch}: loss {value:.6g}")
            if epoch == self.max_iter:
                return layers, Wt, Ht, losses
            batches = [None] if b == n else np.array_split(rng.permutation(n), -(-n // b))
            for rows in batches:
                if rows is None:  # full batch: reuse the forward above
                    Xb = X
                else:
                    idx = xp.asarray(rows)
                    Xb = X[idx]
                    Ht, cache = forward(layers, Xb, l1, l2)
                    _, G = objective(Wt, Ht, Xb, float(row_sq[idx].sum()), l1, l2, len(rows))
                grads, _ = backward(G, cache, layers, Xb, l1, l2)
                t += 1
                for p, g, (m1, m2) in zip(layers, grads, moments):
                    kernels.adamw_(p, g, m1, m2, t, float(self.lr), ADAM.beta1, ADAM.beta2, ADAM.eps, 0.0, 0.0)
                    xp.maximum(p, 0.0, out=p)  # the projection onto A_k, B_k >= 0 (not in the graph)

    def _solve_W(self, Wt, Ht, X):
        if self.nnls == "scipy":
            return nnls_scipy(Ht, X)
        return nnls_active_set(Ht, X, Wt0=Wt)[0]

    def transform(self, X):
        """Latents ``H⁽ᴷ⁾ᵀ`` (n_samples, n_components): the trained layers from H⁽⁰⁾ = 1.

        Samples are independent (each column of H runs through the layers alone), so a
        subset of the training data gets the rows of ``fit_transform``'s latents.
        """
        with limit_threads(self.n_threads):
            return self._transform(X)

    def _transform(self, X):
        self._check_fitted()
        self._check_params()
        dtype = self.components_.dtype.type
        check_feature_names(self, X)
        backend = resolve_backend(self.backend, X, self.components_)
        X = self._check_X(X, dtype, backend)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input.")
        layers = Layers(*(backend.asarray(p, dtype=dtype) for p in self.layers_))
        return forward(layers, X, float(self.l1), float(self.l2), keep=False)[0].T

    def inverse_transform(self, Z):
        """Reconstruction ``Z @ components_`` (n_samples, n_features)."""
        self._check_fitted()
        backend = resolve_backend(self.backend, Z, self.components_)
        Wt = backend.asarray(self.components_)
        return check_latents(Z, Wt.shape[0], backend.xp, Wt.dtype, name="Z") @ Wt

    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise NotFittedError("This UnfoldedNMF instance is not fitted yet; call fit first.")

    # ------------------------------------------------------------ save / load
    def _file_state(self):
        """Arrays and scalars of :meth:`save`: the layers A, B and ``components_``."""
        arrays = {"A": self.layers_.A, "B": self.layers_.B, "components": self.components_}
        fitted = {"n_components_": self.n_components_, "n_features_in_": self.n_features_in_, "n_iter_": self.n_iter_,
                  "reconstruction_err_": self.reconstruction_err_, "loss_curve_": [float(v) for v in self.loss_curve_]}  # fmt: skip
        return arrays, fitted

    def _restore_file_state(self, fitted, entries, backend: Backend) -> None:
        """Validate and set what :meth:`_file_state` saved."""
        self._check_params()
        dtype = declared_dtype(self.dtype)
        common = fitted_common(fitted, self, n_iter_high=self.max_iter)
        r = fitted.int("n_components_", low=1)
        if r != self.n_components:
            raise fitted.error("n_components_", f"is {r}, but the saved parameter n_components is {self.n_components}")
        K, m = self.n_layers, common["n_features_in_"]
        A = entries.get("param/A", shape=(K, r, m), dtype=dtype, non_negative=True)
        B = entries.get("param/B", shape=(K, r, r), dtype=dtype, non_negative=True)
        Wt = entries.get("param/components", shape=(r, m), dtype=dtype, non_negative=True)
        self.layers_ = Layers(backend.asarray(A), backend.asarray(B))
        self.components_ = backend.asarray(Wt)
        self.n_components_ = r
        for key, value in common.items():
            setattr(self, key, value)


def _reconstruction_err(X, H, Wt, backend: Backend) -> float:
    """‖X − H Wt‖_F (``H`` the latents (n, r)) in row blocks with float64 sums (MultiplicativeNMF's routine)."""
    eps = float(np.finfo(X.dtype).eps)
    prob = Problem(backend.xp, X, None, 2.0, 1.0, eps, Penalty(), True)
    return reconstruction_error(divergence(prob, backend.xp.ascontiguousarray(H), Wt))
