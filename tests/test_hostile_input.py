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
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import wnmf_np
from wnmf_np import WNMF, DeepMultiplicativeNMF, MultiplicativeNMF

try:  # exported once the deep/deconv work lands; the private modules exist before that
    DeepWNMF = getattr(wnmf_np, "DeepWNMF", None) or __import__("wnmf_np._deep_estimator", fromlist=["DeepWNMF"]).DeepWNMF
except ImportError:  # pragma: no cover - depends on the state of the tree
    DeepWNMF = None
try:
    DeconvWNMF = getattr(wnmf_np, "DeconvWNMF", None) or __import__(
        "wnmf_np._deconv_estimator", fromlist=["DeconvWNMF"]
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
        latent_dim=lambda e: e.ranks[0], has_inverse=False,
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
