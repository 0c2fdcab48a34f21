"""Hostile input for every estimator: property-based tests over shapes, dtypes, values, layouts.

The contract, for ``fit``/``fit_transform``/``transform``/``inverse_transform``:

* valid input (finite, NaN only under ``nan_policy="omit"`` with something observed,
  non-negative where the loss needs it, dense where the estimator needs it) gives a
  correct fit: outputs of the documented shape and dtype, no NaN/inf in the latents,
  components, ``reconstruction_err_`` or ``loss_curve_``;
* invalid input raises ValueError/TypeError whose message names the problem; never an
  obscure crash (IndexError, ZeroDivisionError, LinAlgError, numba errors), never a hang,
  never a silent NaN output;
* the caller's array is never modified, and read-only input is accepted.

Bugs found by these tests have a strict-xfail regression test below (``test_bug_*``). The
property tests skip exactly those inputs while the bug id is listed in ``KNOWN_BUGS``:
once a bug is fixed, drop its id from ``KNOWN_BUGS`` and the xfail mark of its test.

The classes an independent hostile run found handled badly (issue 19) are covered for
every estimator and method at the end of the file: malformed input to ``fit``,
``transform``, ``partial_fit`` and ``inverse_transform``; NumPy masked arrays (masked
entries are missing values, whatever they hold); extreme scales per working dtype (tiny
and huge, float32 and float64: a finite fit or an up-front ValueError, never inf reported,
and the multiplicative fits as good at any scale); saved files with every metadata field
removed, nulled, retyped or given a bad value and every array poisoned (checksums
recomputed), flipped bytes and malformed files (CheckpointError or a sound model).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import wnmf_np
from wnmf_np import WNMF, DeepMultiplicativeNMF, MultiplicativeNMF

try:  # exported once the deep/deconv work lands; the private modules exist before that
    DeepWNMF = getattr(wnmf_np, "DeepWNMF", None) or __import__("wnmf_np.estimators.deep", fromlist=["DeepWNMF"]).DeepWNMF
except ImportError:  # pragma: no cover - depends on the state of the tree
    DeepWNMF = None
try:
    DeconvWNMF = getattr(wnmf_np, "DeconvWNMF", None) or __import__(
        "wnmf_np.estimators.deconv", fromlist=["DeconvWNMF"]
    ).DeconvWNMF
except ImportError:  # pragma: no cover
    DeconvWNMF = None

pytestmark = pytest.mark.filterwarnings("ignore")  # ConvergenceWarning of the short runs, overflow casts

# Bugs found by this file (see the test_bug_* tests); remove an id once the bug is fixed.
KNOWN_BUGS = {





}

CLEAR_ERRORS = (ValueError, TypeError)
HUGE, TINY = 1e30, 1e-30
MAX_ROWS, MAX_COLS = 12, 9
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ------------------------------------------------------------------------ estimators
class Spec:
    """How to build one estimator for a data shape and what it promises.

    ``make(pick, k, shape, dtype, nan_policy)`` builds it; ``pick(options)`` chooses among
    the remaining settings (hypothesis draws there, the deterministic tests take the first).
    """

    def __init__(self, name, make, *, non_negative, sparse_ok, latent_dim, has_inverse=True):
        self.name, self.make = name, make
        self.non_negative = non_negative  # callable(est) -> bool
        self.sparse_ok = sparse_ok
        self.latent_dim = latent_dim  # callable(est) -> int
        self.has_inverse = has_inverse

    def __repr__(self):
        return self.name


def _wnmf(pick, k, shape, dtype, nan_policy):
    loss = pick(["l1", "l2", "huber", "kl"])
    return WNMF(k, loss=loss, max_epochs=3, batch_size=pick([4, 1, 3]), dtype=dtype, nan_policy=nan_policy, random_state=0)


def _mu(pick, k, shape, dtype, nan_policy):
    beta = pick(["frobenius", "kullback-leibler", "itakura-saito"])
    return MultiplicativeNMF(k, beta_loss=beta, max_iter=3, dtype=dtype, nan_policy=nan_policy, random_state=0)


def _dmu(pick, k, shape, dtype, nan_policy):
    k2 = pick([1, 2, 3, 4])
    return DeepMultiplicativeNMF(
        (k, k2), max_iter=3, pretrain_iter=3, dtype=dtype, nan_policy=nan_policy, random_state=0
    )


def _deep(pick, k, shape, dtype, nan_policy):
    k2 = pick([1, 2, 3, 4])
    loss = pick(["l1", "l2", "kl"])
    return DeepWNMF((k, k2), loss=loss, max_epochs=3, batch_size=pick([4, 1, 3]), dtype=dtype, nan_policy=nan_policy, random_state=0)


def _deconv(pick, k, shape, dtype, nan_policy):
    stride = pick([1, 2])
    image = pick([(shape[1], 1), (1, shape[1])])
    return DeconvWNMF(
        k, stride=stride, image_shape=image, latent="raw", max_epochs=3, batch_size=pick([4, 1, 3]),
        dtype=dtype, nan_policy=nan_policy, random_state=0,
    )


def _rank(est):
    return est.n_components


def _deconv_dim(est):
    return 4 * est.stride**2 * est.n_components


SPECS = [
    Spec("WNMF", _wnmf, non_negative=lambda e: e.loss == "kl", sparse_ok=False, latent_dim=_rank),
    Spec("MultiplicativeNMF", _mu, non_negative=lambda e: True, sparse_ok=True, latent_dim=_rank),
    Spec(
        "DeepMultiplicativeNMF", _dmu, non_negative=lambda e: True, sparse_ok=False,
        latent_dim=lambda e: e.ranks[0],
    ),
]
if DeepWNMF is not None:
    SPECS.append(Spec("DeepWNMF", _deep, non_negative=lambda e: e.loss == "kl", sparse_ok=False, latent_dim=lambda e: e.ranks[0]))
if DeconvWNMF is not None:
    SPECS.append(Spec("DeconvWNMF", _deconv, non_negative=lambda e: e.loss == "kl", sparse_ok=False, latent_dim=_deconv_dim))
SPEC_IDS = [s.name for s in SPECS]


# --------------------------------------------------------------------------- data
SPECIALS = [0.0, 1.0, 0.5, HUGE, TINY, -1.0, -HUGE, np.nan, np.inf, -np.inf, 7.25]
FINITE_SPECIALS = [0.0, 1.0, 0.5, HUGE, TINY, 3.0]


@st.composite
def matrices(draw, *, n_features=None, allow_bad=True):
    """A hostile (n_samples, n_features) input: returns (X as passed, dense float64 view)."""
    rows = draw(st.integers(1, MAX_ROWS))
    cols = n_features if n_features is not None else draw(st.integers(1, MAX_COLS))
    shape = (rows, cols)
    specials = SPECIALS if allow_bad else FINITE_SPECIALS
    kind = draw(st.sampled_from(["uniform", "mixed", "constant", "zeros", "scaled"]))
    if kind == "uniform":
        values = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1)))
    elif kind == "mixed":
        elements = st.one_of(st.floats(0, 10), st.sampled_from(specials))
        values = draw(hnp.arrays(np.float64, shape, elements=elements))
    elif kind == "constant":
        values = np.full(shape, draw(st.sampled_from(specials)))
    elif kind == "zeros":
        values = np.zeros(shape)
    else:  # one matrix, scaled to the extremes
        scale = draw(st.sampled_from([HUGE, TINY, 1e15, 1e-15]))
        values = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1))) * scale
    # structural holes: an all-zero row / column, a row of NaN
    if draw(st.booleans()):
        values[draw(st.integers(0, rows - 1)), :] = 0.0
    if draw(st.booleans()):
        values[:, draw(st.integers(0, cols - 1))] = 0.0
    if allow_bad and draw(st.integers(0, 5)) == 0:
        values[draw(st.integers(0, rows - 1)), :] = np.nan

    dtype = draw(st.sampled_from(["float64", "float32", "float16", "int64", "int32", "uint8", "bool"]))
    with np.errstate(all="ignore"):
        if dtype in ("float64", "float32", "float16"):
            X = values.astype(dtype)
        else:
            # integer/boolean data cannot hold NaN/inf; keep small non-negative integers
            clean = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
            clean = np.clip(np.abs(clean), 0, 200)
            X = (clean > 0.5) if dtype == "bool" else np.round(clean).astype(dtype)

    layout = draw(st.sampled_from(["C", "F", "strided", "readonly", "list", "csr", "csc", "coo"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":  # a non-contiguous view into a bigger Fortran array
        big = np.zeros((2 * rows, 3 * cols), dtype=X.dtype, order="F")
        big[::2, ::3] = X
        X = big[::2, ::3]
    elif layout == "readonly":
        X = X.copy()
        X.flags.writeable = False
    elif layout == "list":
        X = X.tolist()
    elif layout in ("csr", "csc", "coo"):
        if X.dtype == np.float16:  # scipy.sparse has no float16
            X = X.astype(np.float32)
        X = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix}[layout](X)
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    with np.errstate(all="ignore"):
        dense = dense.astype(np.float64)
    return X, dense


def snapshot(X):
    """A deep copy to compare the caller's input with afterwards."""
    if sp.issparse(X):
        return X.copy()
    if isinstance(X, list):
        return [list(row) for row in X]
    return np.array(X, copy=True)


def assert_unchanged(X, before):
    if sp.issparse(X):
        assert type(X) is type(before)
        np.testing.assert_array_equal(X.toarray(), before.toarray())
    elif isinstance(X, list):
        assert np.array_equal(np.asarray(X, dtype=float), np.asarray(before, dtype=float), equal_nan=True)
    else:
        assert X.dtype == before.dtype
        if X.dtype.kind == "f":
            assert np.array_equal(X, before, equal_nan=True), "the caller's array was modified"
        else:
            assert np.array_equal(X, before), "the caller's array was modified"


def expected_error(spec, est, X, dense):
    """(exception types, words one of which the message must contain), or None for valid input."""
    if sp.issparse(X) and not spec.sparse_ok:
        return TypeError, ("sparse",)
    if np.isinf(dense).any():
        return ValueError, ("infinite", "inf")
    nan = np.isnan(dense)
    if nan.any() and est.nan_policy == "raise":
        return ValueError, ("NaN",)
    if nan.all():
        return ValueError, ("observed", "NaN")
    if spec.non_negative(est) and (np.where(nan, 0.0, dense) < 0).any():
        return ValueError, ("negative",)
    return None


def known_bug(spec, est, dense) -> str | None:
    """The id of a known library bug this input triggers (see KNOWN_BUGS), else None."""
    observed = dense[np.isfinite(dense)]
    big = observed.size and np.abs(observed).max() >= 1e20 and est.dtype == "float32"
    small = observed.size == 0 or np.abs(observed).max() <= 1e-6
    if spec.name == "DeepMultiplicativeNMF" and big and "dmu-huge-nan" in KNOWN_BUGS:
        return "dmu-huge-nan"
    if spec.name == "DeepMultiplicativeNMF" and "dmu-transform-singular" in KNOWN_BUGS:
        # all-zero (or nearly) data makes the warm start's Gram matrix singular
        if small or np.linalg.matrix_rank(np.nan_to_num(dense)) < min(dense.shape):
            return "dmu-transform-singular"
    if (
        "empty-batch" in KNOWN_BUGS
        and isinstance(est, (WNMF,) + tuple(c for c in (DeepWNMF, DeconvWNMF) if c is not None))
        and est.nan_policy == "omit"
        and np.isnan(dense).all(axis=1).any()
    ):
        return "empty-batch"
    if getattr(est, "loss", None) == "kl" and big and "wnmf-kl-transform-huge" in KNOWN_BUGS:
        return "wnmf-kl-transform-huge"
    return None


def assert_clear_error(exc, types, words):
    assert isinstance(exc, types), f"expected {types}, got {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert any(w.lower() in msg.lower() for w in words), f"message does not name the problem {words}: {msg!r}"


def flat_components(est):
    comps = est.components_
    return [np.asarray(c) for c in comps] if isinstance(comps, list) else [np.asarray(comps)]


def check_fitted(spec, est, Z, n_samples, n_features, dtype):
    Z = np.asarray(Z)
    assert Z.shape == (n_samples, spec.latent_dim(est)), Z.shape
    assert Z.dtype == np.dtype(dtype), Z.dtype
    assert np.isfinite(Z).all(), "non-finite latents"
    for C in flat_components(est):
        assert C.dtype == np.dtype(dtype)
        assert np.isfinite(C).all(), "non-finite components"
    assert np.isfinite(est.reconstruction_err_), est.reconstruction_err_
    assert len(est.loss_curve_) >= 1 and np.isfinite(est.loss_curve_).all(), est.loss_curve_
    assert est.n_features_in_ == n_features


# ------------------------------------------------------------------ fit contract
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_fit_contract(spec, data):
    X, dense = data.draw(matrices(), label="X")
    n, m = dense.shape
    k = data.draw(st.integers(1, 4), label="n_components")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    nan_policy = data.draw(st.sampled_from(["raise", "omit"]), label="nan_policy")
    est = spec.make(lambda options: data.draw(st.sampled_from(options)), k, (n, m), dtype, nan_policy)
    error = expected_error(spec, est, X, dense)
    assume(error is not None or known_bug(spec, est, dense) is None)
    before = snapshot(X)
    try:
        Z = est.fit_transform(X)
    except Exception as exc:  # noqa: BLE001 - the type is the assertion
        assert error is not None, f"valid input rejected: {type(exc).__name__}: {exc}"
        assert_clear_error(exc, *error)
        assert_unchanged(X, before)
        return
    assert error is None, f"invalid input accepted (expected {error[0].__name__} naming {error[1]})"
    assert_unchanged(X, before)
    check_fitted(spec, est, Z, n, m, dtype)

    # the fitted model on the same data: transform, then back
    Zt = np.asarray(est.transform(X))
    assert_unchanged(X, before)
    assert Zt.shape == (n, spec.latent_dim(est)) and Zt.dtype == np.dtype(dtype)
    assert np.isfinite(Zt).all(), "non-finite transform output"
    if spec.has_inverse:
        Xh = np.asarray(est.inverse_transform(Zt))
        assert Xh.shape == (n, m) and np.isfinite(Xh).all()


# ------------------------------------------------------- transform on new data
FIT_FEATURES = 4


def _fitted(spec, k=2, dtype="float32", nan_policy="raise"):
    """A model fitted on clean data with FIT_FEATURES features (re-fitted per call: cheap)."""
    X = np.random.default_rng(0).uniform(0.1, 1.0, (10, FIT_FEATURES))
    est = spec.make(_first, k, X.shape, dtype, nan_policy)
    est.fit(X)
    return est


def _first(options):
    """Deterministic choice for the spec factories: the first (simplest) option."""
    return options[0]


_MODELS: dict = {}


def fitted(spec, nan_policy):
    key = (spec.name, nan_policy)
    if key not in _MODELS:
        _MODELS[key] = _fitted(spec, nan_policy=nan_policy)
    return _MODELS[key]


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_transform_contract(spec, data):
    nan_policy = data.draw(st.sampled_from(["raise", "omit"]), label="nan_policy")
    est = fitted(spec, nan_policy)
    wrong_width = data.draw(st.integers(0, 7)) == 0
    n_features = data.draw(st.sampled_from([1, 3, 5])) if wrong_width else FIT_FEATURES
    X, dense = data.draw(matrices(n_features=n_features), label="X")
    error = expected_error(spec, est, X, dense)
    if error is None and wrong_width:
        error = (ValueError, ("features",))
    assume(error is not None or known_bug(spec, est, dense) is None)
    before = snapshot(X)
    try:
        Z = est.transform(X)
    except Exception as exc:  # noqa: BLE001
        assert error is not None, f"valid input rejected: {type(exc).__name__}: {exc}"
        assert_clear_error(exc, *error)
        assert_unchanged(X, before)
        return
    assert error is None, f"invalid input accepted (expected {error[0].__name__} naming {error[1]})"
    assert_unchanged(X, before)
    Z = np.asarray(Z)
    assert Z.shape == (dense.shape[0], spec.latent_dim(est)) and Z.dtype == np.float32
    assert np.isfinite(Z).all(), "non-finite transform output"


INVERSE_SPECS = [s for s in SPECS if s.has_inverse]


@pytest.mark.parametrize("spec", INVERSE_SPECS, ids=[s.name for s in INVERSE_SPECS])
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_inverse_transform_contract(spec, data):
    est = fitted(spec, "raise")
    k = spec.latent_dim(est)
    rows = data.draw(st.integers(1, MAX_ROWS))
    finite = st.one_of(st.floats(-10, 10), st.sampled_from([0.0, HUGE / 1e10, TINY]))
    Z = data.draw(hnp.arrays(np.float64, (rows, k), elements=finite), label="Z")
    Z = Z.astype(data.draw(st.sampled_from(["float64", "float32", "int64"])))
    before = Z.copy()
    out = np.asarray(est.inverse_transform(Z))
    np.testing.assert_array_equal(Z, before)
    assert out.shape == (rows, FIT_FEATURES)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("spec", INVERSE_SPECS, ids=[s.name for s in INVERSE_SPECS])
@pytest.mark.parametrize(
    "case", ["wrong_width", "three_d", "strings", "sparse"]
)
def test_inverse_transform_rejects_bad_shape(spec, case):
    est = fitted(spec, "raise")
    k = spec.latent_dim(est)
    Z = {
        "wrong_width": np.ones((3, k + 1)),
        "three_d": np.ones((3, k, 1)),
        "strings": np.array([["a"] * k]),
        "sparse": None,
    }[case]
    if case == "sparse":
        Z = sp.csr_matrix(np.ones((3, k)))
        try:  # a sparse Z is fine if it decodes correctly
            out = est.inverse_transform(Z)
        except CLEAR_ERRORS:
            return
        out = out.toarray() if sp.issparse(out) else np.asarray(out)
        np.testing.assert_allclose(out, np.asarray(est.inverse_transform(np.ones((3, k)))), rtol=1e-5)
        return
    with pytest.raises(CLEAR_ERRORS):
        est.inverse_transform(Z)


# ---------------------------------------------------- targeted, deterministic cases
def _make(spec, k=2, **params):
    est = spec.make(_first, k, (6, 4), "float32", "raise")
    return est.set_params(**params)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize(
    "case",
    ["readonly", "fortran", "strided", "bool", "int", "uint8", "float16", "list", "constant", "zero_row", "zero_col", "1x1"],
)
def test_layouts_and_dtypes_fit(spec, case):
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, (6, 4))
    X = {
        "readonly": base.copy(),
        "fortran": np.asfortranarray(base),
        "strided": np.asfortranarray(rng.uniform(0, 1, (12, 8)))[::2, ::2],
        "bool": base > 0.5,
        "int": np.round(base * 9).astype(np.int64),
        "uint8": np.round(base * 255).astype(np.uint8),
        "float16": base.astype(np.float16),
        "list": base.tolist(),
        "constant": np.full((6, 4), 2.5),
        "zero_row": np.vstack([np.zeros((1, 4)), base[1:]]),
        "zero_col": np.hstack([base[:, :3], np.zeros((6, 1))]),
        "1x1": np.array([[0.7]]),
    }[case]
    if case == "readonly":
        X.flags.writeable = False
    est = _make(spec)
    if spec.name == "DeconvWNMF":
        est.set_params(image_shape=(np.shape(X)[1], 1))
    before = snapshot(X)
    Z = est.fit_transform(X)
    assert_unchanged(X, before)
    n, m = np.shape(X)
    check_fitted(spec, est, Z, n, m, "float32")
    assert np.isfinite(np.asarray(est.transform(X))).all()
    assert_unchanged(X, before)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_nan_omit_fits(spec):
    X = np.random.default_rng(2).uniform(0, 1, (8, 4))
    X[0, 0] = X[3, :2] = X[5, 3] = np.nan
    X[7, :] = np.nan  # a sample with nothing observed
    est = _make(spec, nan_policy="omit")
    before = X.copy()
    Z = est.fit_transform(X)
    assert np.array_equal(X, before, equal_nan=True)
    check_fitted(spec, est, Z, 8, 4, "float32")
    assert np.isfinite(np.asarray(est.transform(X))).all()
    with pytest.raises(ValueError, match="NaN"):
        _make(spec).fit(X)
    with pytest.raises(ValueError, match="observed"):
        _make(spec, nan_policy="omit").fit(np.full((3, 4), np.nan))


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("bad", ["1d", "3d", "empty_rows", "empty_cols", "complex", "strings", "object_strings", "ragged"])
def test_malformed_input_rejected(spec, bad):
    X = {
        "1d": np.ones(4),
        "3d": np.ones((2, 3, 4)),
        "empty_rows": np.ones((0, 4)),
        "empty_cols": np.ones((4, 0)),
        "complex": np.ones((3, 4), dtype=complex),
        "strings": np.array([["a", "b"], ["c", "d"]]),
        "object_strings": np.array([[1.0, "x"], [2.0, 3.0]], dtype=object),
        "ragged": [[1.0, 2.0], [3.0]],
    }[bad]
    with pytest.raises(CLEAR_ERRORS):
        _make(spec).fit(X)


# ------------------------------------------------------------- bug regressions
# Each is a minimal reproduction of a bug found by the property tests above.


def test_bug_dmu_huge_values_silent_nan():
    X = np.full((6, 4), 1e30)
    est = DeepMultiplicativeNMF((2, 3), max_iter=3, pretrain_iter=3, random_state=0)
    try:
        est.fit(X)
    except CLEAR_ERRORS:
        return
    assert np.isfinite(est.reconstruction_err_)
    assert all(np.isfinite(C).all() for C in flat_components(est))
    assert np.isfinite(est.loss_curve_).all()


def test_bug_dmu_transform_all_zero_singular():
    X = np.zeros((6, 4))
    est = DeepMultiplicativeNMF((2, 3), max_iter=3, pretrain_iter=3, random_state=0).fit(X)
    Z = est.transform(X)
    assert np.isfinite(Z).all()


@pytest.mark.parametrize("X", [np.full((6, 4), 1e30), np.array([[0.0, 1e30, 0.0]])], ids=["full", "zeros"])
def test_bug_wnmf_kl_transform_huge(X):
    """``zeros`` (found on a fresh CI clone) gave NaN latents from transform in float32: the
    least-squares warm start reconstructed a zero as -1e27, where KL's continuation below ε
    has curvature 1/ε, and the numba KL kernel read the NaN reconstruction as ε (finite
    loss, no divergence error). KL transforms now start from the mean training latent."""
    est = WNMF(2, loss="kl", max_epochs=3, batch_size=4, random_state=0).fit(X)
    assert np.isfinite(est.transform(X)).all()


@pytest.mark.parametrize("k2", [1, 4])
def test_bug_deep_kl_huge_values_overflow(k2):
    """Found by test_fit_contract on a fresh CI clone: a 1 x 1 matrix of 1e30 in float32
    with the KL loss diverged because every factor of the deep product started at the
    scale of a two-factor product."""
    est = DeepWNMF((1, k2), loss="kl", max_epochs=3, batch_size=4, dtype="float32", random_state=0)
    Z = est.fit_transform(np.array([[1e30]]))
    assert np.isfinite(Z).all() and np.isfinite(est.loss_curve_).all()


@pytest.mark.parametrize("name", ["WNMF", "MultiplicativeNMF"])
def test_bug_inverse_transform_unchecked(name):
    spec = next(s for s in SPECS if s.name == name)
    est = fitted(spec, "raise")
    with pytest.raises(ValueError):
        est.inverse_transform(np.full((3, 2), np.nan))
    with pytest.raises(ValueError):
        est.inverse_transform(np.ones(2))  # 1-D: returned a (4,) vector
    with pytest.raises(ValueError, match="latent dimension"):  # names the argument (Z, or W for MU) and the width
        est.inverse_transform(np.ones((3, 3)))


@pytest.mark.parametrize("spec", [s for s in SPECS if "Multiplicative" not in s.name], ids=lambda s: s.name)
def test_bug_batch_without_observed_entry(spec):
    X = np.array([[np.nan, np.nan, np.nan, np.nan], [1.0, 0.5, 0.2, 0.1], [0.3, 0.1, 0.9, 0.4]])
    est = _make(spec, nan_policy="omit", batch_size=1)
    if spec.name == "DeconvWNMF":
        est.set_params(image_shape=(4, 1))
    Z = est.fit_transform(X)  # every sample is its own batch: the first has nothing observed
    assert np.isfinite(Z).all()
    assert np.isfinite(est.transform(X)).all()


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_bug_values_beyond_working_dtype(spec):
    X = np.full((6, 4), 1e300)
    est = _make(spec)
    with pytest.raises(ValueError, match="float32|range|overflow|dtype"):
        est.fit(X)


# ==================================================================== issue 19
# The classes of input an independent hostile run found handled badly; each block
# covers the class for every estimator and method, and a test_bug_* reproduces the example.

ALL_METHODS = ["fit", "transform", "partial_fit", "inverse_transform"]


def _methods(spec):
    out = ["fit", "transform"]
    if hasattr(spec.make(_first, 2, (6, 4), "float32", "raise"), "partial_fit"):
        out.append("partial_fit")
    if spec.has_inverse:
        out.append("inverse_transform")
    return out


METHOD_CASES = [(s, m) for s in SPECS for m in _methods(s)]
METHOD_IDS = [f"{s.name}-{m}" for s, m in METHOD_CASES]


def _call(spec, method, X, *, nan_policy="raise", **kwargs):
    """``method`` of a fresh (fit, partial_fit) or fitted (transform, inverse_transform)
    estimator on X (for inverse_transform X is the latents)."""
    if method in ("fit", "partial_fit"):
        est = spec.make(_first, 2, (6, FIT_FEATURES), "float32", nan_policy)  # DeconvWNMF: images (4, 1)
        getattr(est, method)(X, **kwargs)
        return est
    return getattr(fitted(spec, nan_policy), method)(X, **kwargs)


# ------------------------------------------------------------ malformed input, every method
MALFORMED = {
    "1d": lambda w: np.ones(w),
    "3d": lambda w: np.ones((2, w, 1)),
    "empty_rows": lambda w: np.ones((0, w)),
    "empty_cols": lambda w: np.ones((3, 0)),
    "complex": lambda w: np.ones((3, w), dtype=complex),
    "strings": lambda w: np.array([["a"] * w, ["b"] * w]),
    "object_strings": lambda w: np.array([[1.0] * (w - 1) + ["x"], [2.0] * w], dtype=object),
    "ragged": lambda w: [[1.0] * w, [3.0]],
    "nan": lambda w: np.full((3, w), np.nan),
    "inf": lambda w: np.full((3, w), np.inf),
    "none": lambda w: None,
    "scalar": lambda w: 3.0,
}


@pytest.mark.parametrize("spec,method", METHOD_CASES, ids=METHOD_IDS)
@pytest.mark.parametrize("bad", sorted(MALFORMED))
def test_malformed_input_rejected_by_every_method(spec, method, bad):
    """fit, transform, partial_fit and inverse_transform all reject malformed input with
    ValueError/TypeError (issue 19 item 1: DeconvWNMF.inverse_transform passed NaN through)."""
    width = spec.latent_dim(fitted(spec, "raise")) if method == "inverse_transform" else FIT_FEATURES
    X = MALFORMED[bad](width)
    with pytest.raises(CLEAR_ERRORS):
        out = _call(spec, method, X)
        if method == "inverse_transform":  # NaN in, NaN out would be the bug
            assert np.isfinite(np.asarray(out)).all(), "non-finite output"


@pytest.mark.parametrize("spec", INVERSE_SPECS, ids=[s.name for s in INVERSE_SPECS])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_bug_inverse_transform_non_finite_latents(spec, value):
    """Issue 19 item 1: DeconvWNMF.inverse_transform returned NaN for a NaN latent."""
    est = fitted(spec, "raise")
    Z = np.asarray(est.transform(np.random.default_rng(0).uniform(0.1, 1.0, (3, FIT_FEATURES))), dtype=np.float64)
    Z[0, 0] = value
    with pytest.raises(ValueError, match="NaN or infinite"):
        est.inverse_transform(Z)
    with pytest.raises(ValueError, match="real"):
        est.inverse_transform(Z.astype(complex))
    with pytest.raises(ValueError, match="0 samples"):
        est.inverse_transform(Z[:0])


# ----------------------------------------------------------------------- masked arrays
def _masked(X, hidden, fill):
    data = np.array(X, dtype=np.float64)
    data[hidden] = fill
    return np.ma.masked_array(data, mask=hidden)


def _supports_mask(spec, method):
    """Whether ``method`` takes ``mask=`` (the reference a masked array must equal)."""
    if spec.name == "DeepMultiplicativeNMF":
        return method == "fit"
    return method in ("fit", "transform", "partial_fit")


@pytest.mark.parametrize("spec,method", [c for c in METHOD_CASES if c[1] != "inverse_transform"],
                         ids=[i for c, i in zip(METHOD_CASES, METHOD_IDS) if c[1] != "inverse_transform"])  # fmt: skip
@pytest.mark.parametrize("fill", [1e6, np.nan, np.inf, -5.0], ids=["huge", "nan", "inf", "negative"])
def test_masked_array_entries_are_missing_values(spec, method, fill):
    """Issue 19 item 9: the mask of a NumPy masked array was ignored (a masked 1e6 was
    fitted, a masked NaN raised). Masked entries are missing values, whatever they hold:
    the result equals the same call with ``mask=~X.mask`` (or, where a method takes no
    mask, the same call with the masked entries replaced by any other value)."""
    rng = np.random.default_rng(3)
    X = rng.uniform(0.1, 1.0, (10, FIT_FEATURES))
    hidden = np.zeros(X.shape, bool)
    hidden[0, 0] = hidden[4, 2] = hidden[7, 3] = True
    Xm = _masked(X, hidden, fill)
    before = Xm.copy()

    def outputs(est_or_out):
        if method in ("fit", "partial_fit"):
            return [np.asarray(c) for c in flat_components(est_or_out)] + [np.float64(est_or_out.reconstruction_err_)]
        return [np.asarray(est_or_out)]

    got = outputs(_call(spec, method, Xm))
    if _supports_mask(spec, method):
        want = outputs(_call(spec, method, np.where(hidden, 0.0, X), mask=~hidden))
    else:
        want = outputs(_call(spec, method, _masked(X, hidden, 0.5)))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(a).all() for a in got)
    np.testing.assert_array_equal(Xm.mask, before.mask)  # the caller's masked array is untouched
    np.testing.assert_array_equal(Xm.data, before.data)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_masked_array_without_masked_entries_is_plain_data(spec):
    X = np.random.default_rng(4).uniform(0.1, 1.0, (8, FIT_FEATURES))
    a = _call(spec, "fit", np.ma.masked_array(X, mask=False))
    b = _call(spec, "fit", X)
    for A, B in zip(flat_components(a), flat_components(b)):
        np.testing.assert_array_equal(A, B)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_fully_masked_array_is_rejected(spec):
    X = np.ma.masked_array(np.ones((5, FIT_FEATURES)), mask=True)
    with pytest.raises(ValueError, match="observed"):
        _call(spec, "fit", X)


@pytest.mark.parametrize("spec", INVERSE_SPECS, ids=[s.name for s in INVERSE_SPECS])
def test_masked_latents_are_rejected(spec):
    est = fitted(spec, "raise")
    Z = np.asarray(est.transform(np.random.default_rng(0).uniform(0.1, 1.0, (3, FIT_FEATURES))), dtype=np.float64)
    np.testing.assert_array_equal(est.inverse_transform(np.ma.masked_array(Z, mask=False)), est.inverse_transform(Z))
    with pytest.raises(ValueError, match="masked"):
        est.inverse_transform(np.ma.masked_array(Z, mask=np.eye(*Z.shape, dtype=bool)))


def test_unfolded_nmf_rejects_masked_entries():
    from wnmf_np import UnfoldedNMF

    X = np.ma.masked_array(np.random.default_rng(0).uniform(size=(6, 4)), mask=np.eye(6, 4, dtype=bool))
    with pytest.raises(ValueError, match="masked"):
        UnfoldedNMF(2, max_iter=2).fit(X)


@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_masked_array_property(data):
    """Any mask pattern on any values: a masked array fits as its data with ``mask=``."""
    spec = data.draw(st.sampled_from(SPECS), label="estimator")
    n, m = data.draw(st.integers(2, 8)), FIT_FEATURES
    X = data.draw(hnp.arrays(np.float64, (n, m), elements=st.floats(0.05, 1.0)))
    hidden = data.draw(hnp.arrays(bool, (n, m)))
    assume(not hidden.all())
    fill = data.draw(st.sampled_from([np.nan, np.inf, -1.0, 1e30, 0.0]))
    est = _call(spec, "fit", _masked(X, hidden, fill))
    ref = _call(spec, "fit", np.where(hidden, 0.0, X), mask=~hidden)
    for A, B in zip(flat_components(est), flat_components(ref)):
        np.testing.assert_array_equal(A, B)


# --------------------------------------------------------------------- extreme scales
SCALES = {"float32": [1e-30, 1e-15, 1e-5, 1e5, 1e15, 1e30], "float64": [1e-300, 1e-150, 1e-30, 1e30, 1e150, 1e300]}
SCALE_CASES = [(s, d, c) for s in SPECS for d in SCALES for c in SCALES[d]]


@pytest.mark.parametrize("spec,dtype,scale", SCALE_CASES, ids=[f"{s.name}-{d}-{c:g}" for s, d, c in SCALE_CASES])
def test_extreme_scales_per_dtype(spec, dtype, scale):
    """Issue 19 items 2 and 4: data far from unit scale, tiny and huge, in both working
    dtypes. Every estimator either fits (finite latents, components, transform,
    inverse_transform, reconstruction_err_ and loss_curve_; never inf reported as a
    result) or refuses the data up front with a ValueError saying to rescale; the
    multiplicative estimators fit every scale the dtype holds as well as unit scale."""
    X = np.random.default_rng(5).uniform(0.1, 1.0, (10, FIT_FEATURES)) * scale
    est = spec.make(_first, 2, X.shape, dtype, "raise")
    try:
        Z = est.fit_transform(X)
    except ValueError as exc:
        # the multiplicative estimators refuse only data whose objective (~ max² · size) exceeds float64
        assert "Multiplicative" not in spec.name or scale > 1e154, f"{spec.name} refused {scale:g}: {exc}"
        assert any(w in str(exc).lower() for w in ("large", "range", "rescale", "scal", "diverged")), str(exc)
        return
    check_fitted(spec, est, Z, *X.shape, dtype)
    Zt = np.asarray(est.transform(X))
    assert np.isfinite(Zt).all()
    if spec.has_inverse:
        assert np.isfinite(np.asarray(est.inverse_transform(Zt))).all()
    if "Multiplicative" in spec.name:
        unit = spec.make(_first, 2, X.shape, dtype, "raise").fit(X / scale)
        rel = est.reconstruction_err_ / scale
        assert rel == pytest.approx(unit.reconstruction_err_, rel=1e-3), (rel, unit.reconstruction_err_)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_bug_float64_near_1e300_never_reports_inf(spec):
    """Issue 19 item 4: float64 data near 1e300 gave inf in reconstruction_err_ (all
    estimators) and loss_curve_ (the multiplicative ones)."""
    X = np.random.default_rng(0).random((12, 16)) * 1e300
    est = spec.make(_first, 2, X.shape, "float64", "raise")
    try:
        est.fit(X)
    except ValueError as exc:
        assert "large" in str(exc) and "float64" in str(exc)
        return
    assert np.isfinite(est.reconstruction_err_) and np.isfinite(est.loss_curve_).all()


def test_bug_mu_float32_collapses_on_small_scale():
    """Issue 19 item 2: the float32 MU floor was absolute: relative error 1.0 at X·1e-5."""
    X = np.random.default_rng(0).random((12, 16))
    ref = MultiplicativeNMF(3, random_state=0).fit(X)
    for c in (1e-5, 1e-15, 1e-30):
        est = MultiplicativeNMF(3, random_state=0).fit((X * c).astype(np.float32))
        assert est.n_iter_ == ref.n_iter_
        assert est.reconstruction_err_ / c == pytest.approx(ref.reconstruction_err_, rel=1e-4)
        assert np.median(np.asarray(est.components_)) > 10 * np.finfo(np.float32).eps * c ** 0.5


# -------------------------------------------------------------------- edited checkpoints
SAVE_SPECS = [s for s in SPECS if hasattr(s.make(_first, 2, (6, 4), "float32", "raise"), "save")]


def _saved(spec, tmp_path):
    path = fitted(spec, "raise").save(tmp_path / spec.name)
    return path


def _leaves(node, path=()):
    """Every field of a metadata document: (path, value), nested objects and lists opened
    (except the checksums, which a tamperer recomputes)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if path == () and k == "sha256":
                continue
            yield from _leaves(v, (*path, k))
        if path:
            yield path, node
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
        yield path, node
    else:
        yield path, node


#: valid but would run (practically) forever: not a checkpoint problem
ITERATION_COUNTS = ("max_epochs", "max_iter", "pretrain_iter")


def _edits(field, value):
    """Hostile replacements for a field: null, wrong types, bad values."""
    out = [None, "text", [1], {"x": 1}]
    if isinstance(value, bool):
        out += [0, 1]
    elif isinstance(value, int):
        out += [-1, value + 7, 1.5, True] + ([] if field[-1] in ITERATION_COUNTS else [2**70])
    elif isinstance(value, float):
        out += [-1.0, 1e308, float("nan"), float("inf"), 0]
    elif isinstance(value, str):
        out += ["bogus", ""]
    elif isinstance(value, list):
        out += [[], [None], value + value]
    return out


def _set(meta, path, value, delete=False):
    node = meta
    for k in path[:-1]:
        node = node[k]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _assert_rejected_or_sound(spec, path):
    """Loading raises CheckpointError, or gives a model whose methods work and whose outputs are finite."""
    cls = type(fitted(spec, "raise"))
    try:
        est = cls.load(path)
    except wnmf_np.CheckpointError:
        return "rejected"
    X = np.random.default_rng(0).uniform(0.1, 1.0, (4, FIT_FEATURES))
    try:  # a valid but absurd parameter (lr=1e308) may make training diverge: said so, never NaN out
        Z = np.asarray(est.transform(X))
    except wnmf_np.DivergenceError:
        return "diverged"
    assert np.isfinite(Z).all()
    if spec.has_inverse:
        assert np.isfinite(np.asarray(est.inverse_transform(Z))).all()
    if hasattr(est, "train_state_"):
        est.set_params(max_epochs=est.n_iter_ + 1)
        try:
            est.fit(np.random.default_rng(0).uniform(0.1, 1.0, (10, FIT_FEATURES)), resume=True)
        except wnmf_np.DivergenceError:
            return "diverged"
        except ValueError as exc:  # e.g. an edited sample count: "the same data"
            assert "resume" in str(exc), exc
    return "loaded"


@pytest.mark.parametrize("spec", SAVE_SPECS, ids=[s.name for s in SAVE_SPECS])
def test_edited_checkpoint_metadata(spec, tmp_path, monkeypatch):
    """Issue 19 item 5: every field of the metadata removed, nulled, given a wrong type or
    a bad value (checksums recomputed): load raises CheckpointError naming the field, or
    the edit was harmless and the model loaded works. Never KeyError/TypeError."""
    from helpers import rewrite_checkpoint

    monkeypatch.chdir(tmp_path)
    original = _saved(spec, tmp_path)
    with np.load(original) as z:
        meta = json.loads(str(z["meta"]))
    outcomes = {}
    for field, value in list(_leaves(meta)):
        edits = [("delete", None)] if not isinstance(field[-1], int) else []
        edits += [("set", v) for v in _edits(field, value)]
        for kind, new in edits:
            path = tmp_path / "edited.npz"
            path.write_bytes(original.read_bytes())
            rewrite_checkpoint(path, edit_meta=lambda m, f=field, v=new, d=kind == "delete": _set(m, f, v, delete=d))
            outcome = _assert_rejected_or_sound(spec, path)
            outcomes[(field, kind, repr(new))] = outcome
    rejected = sum(v == "rejected" for v in outcomes.values())
    assert rejected > 0.6 * len(outcomes), rejected  # most such edits are caught, not ignored


def json_dump_meta(path):
    with np.load(path) as z:
        return json.loads(str(z["meta"]))


@pytest.mark.parametrize("spec", SAVE_SPECS, ids=[s.name for s in SAVE_SPECS])
def test_edited_checkpoint_arrays(spec, tmp_path, monkeypatch):
    """NaN, inf, a wrong shape or dtype, a missing or an extra array, with checksums
    recomputed: rejected with CheckpointError naming the array."""
    from helpers import rewrite_checkpoint

    monkeypatch.chdir(tmp_path)
    original = _saved(spec, tmp_path)
    with np.load(original) as z:
        keys = [k for k in z.files if k != "meta"]
    cls = type(fitted(spec, "raise"))

    def edited(a, how):
        """The array with edit ``how``, or None where it does not apply."""
        if how in ("nan", "inf"):
            if a.dtype.kind != "f" or not a.size:
                return None
            a = a.copy()
            a.flat[0 if how == "nan" else -1] = np.nan if how == "nan" else np.inf
            return a
        if how == "shape":
            return np.concatenate([a.ravel(), a.ravel()[:1]]) if a.ndim else np.ones(2, a.dtype)
        if how == "dtype":
            return a.astype(np.float16 if a.dtype.kind == "f" else np.float64)
        if how == "strings":
            return np.array(["x"] * max(a.size, 1))
        return a

    for key in keys:
        for how in ("nan", "inf", "shape", "dtype", "missing", "strings"):
            with np.load(original) as z:
                new = edited(z[key], how)
            if new is None:
                continue
            path = tmp_path / "edited.npz"
            path.write_bytes(original.read_bytes())

            def apply(arrays, key=key, new=new, how=how):
                if how == "missing":
                    del arrays[key]
                else:
                    arrays[key] = new

            rewrite_checkpoint(path, edit_arrays=apply)
            with pytest.raises(wnmf_np.CheckpointError, match="checkpoint (array|field) '"):
                cls.load(path)
    path = tmp_path / "extra.npz"
    path.write_bytes(original.read_bytes())
    rewrite_checkpoint(path, edit_arrays=lambda arrays: arrays.update({"param/extra": np.ones(3)}))
    with pytest.raises(wnmf_np.CheckpointError, match="param/extra"):
        cls.load(path)


@pytest.mark.parametrize("spec", SAVE_SPECS, ids=[s.name for s in SAVE_SPECS])
def test_byte_flips_are_caught_or_harmless(spec, tmp_path):
    """A flipped byte anywhere in the file (one at a time, over the whole file for the
    small ones, its tail and a spread for the rest): load raises CheckpointError or loads
    exactly the saved model (a flip in zip bytes that carry no content, e.g. a time
    stamp, is harmless; docs/large_data.md)."""
    original = _saved(spec, tmp_path)
    raw = original.read_bytes()
    ref = type(fitted(spec, "raise")).load(original)
    ref_arrays = _fitted_arrays(ref)
    positions = sorted(set(range(0, len(raw), max(1, len(raw) // 150))) | set(range(max(0, len(raw) - 400), len(raw))))
    path = tmp_path / "flipped.npz"
    for pos in positions:
        data = bytearray(raw)
        data[pos] ^= 0x5A
        path.write_bytes(bytes(data))
        try:
            est = type(ref).load(path)
        except wnmf_np.CheckpointError:
            continue
        for a, b in zip(_fitted_arrays(est), ref_arrays):
            np.testing.assert_array_equal(a, b, err_msg=f"byte {pos} changed the model silently")
        assert est.get_params() == ref.get_params()


def _fitted_arrays(est):
    if hasattr(est, "params_"):
        return [np.asarray(v) for _, v in sorted(est.params_.items())]
    return [np.asarray(c) for c in flat_components(est)]


@pytest.mark.parametrize("spec", SAVE_SPECS, ids=[s.name for s in SAVE_SPECS])
@pytest.mark.parametrize("case", ["empty", "random", "npy", "not_zip", "truncated", "pickle", "meta_not_str",
                                  "meta_json_list", "deep_json", "folder"])  # fmt: skip
def test_malformed_checkpoint_files(spec, tmp_path, case):
    cls = type(fitted(spec, "raise"))
    path = tmp_path / "bad.npz"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "npy":
        np.save(path.with_suffix(".npy"), np.ones(3))
        path.with_suffix(".npy").rename(path)
    elif case == "not_zip":
        path.write_bytes(b"\x93NUMPY\x01\x00" + (70).to_bytes(2, "little") + b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4 \n")
    elif case == "truncated":
        raw = _saved(spec, tmp_path).read_bytes()
        path.write_bytes(raw[: len(raw) * 2 // 3])
    elif case == "pickle":
        np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    elif case == "meta_not_str":
        np.savez(path, meta=np.ones(3))
    elif case == "meta_json_list":
        np.savez(path, meta=np.array("[1, 2]"))
    elif case == "deep_json":
        np.savez(path, meta=np.array("[" * 100000 + "]" * 100000))
    elif case == "folder":
        path.mkdir()
    with pytest.raises(wnmf_np.CheckpointError):
        cls.load(path)


# ---------------------------------------------------------------------- parameters
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (True, TypeError), (False, TypeError), (1.5, TypeError), ("0", TypeError)])
def test_bug_random_state_errors_name_it(spec, seed, exc):
    """Issue 19 item 10: random_state=-1 gave NumPy's message without naming the
    parameter, and random_state=True was accepted (n_components=True is not)."""
    est = _make(spec, random_state=seed)
    with pytest.raises(exc, match="random_state"):
        est.fit(np.random.default_rng(0).uniform(0.1, 1.0, (6, FIT_FEATURES)))


WNMF_FAMILY = [s for s in SPECS if s.name in ("WNMF", "DeepWNMF", "DeconvWNMF")]


@pytest.mark.parametrize("spec", WNMF_FAMILY, ids=[s.name for s in WNMF_FAMILY])
@pytest.mark.parametrize("method", ["partial_fit", "resume"])
def test_bug_size_changed_after_fit(spec, method):
    """Issue 19 item 10: set_params(n_components=...) after fit, then partial_fit, gave a
    NumPy matmul error (DeconvWNMF: "K has 30 channels ...")."""
    X = np.random.default_rng(0).uniform(0.1, 1.0, (10, FIT_FEATURES))
    est = _make(spec)
    if spec.name == "DeconvWNMF":
        est.set_params(image_shape=(FIT_FEATURES, 1))
    est.fit(X)
    est.set_params(**({"ranks": (3, 1)} if spec.name == "DeepWNMF" else {"n_components": 5}))
    with pytest.raises(ValueError, match="size was changed since the fit"):
        if method == "partial_fit":
            est.partial_fit(X)
        else:
            est.fit(X, resume=True)
