"""scikit-learn's estimator checks on every estimator, and the sklearn conventions around
them: tags, feature names, ``set_output``, dtype, warnings. Expected failures are listed
per estimator, each with its reason."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks

from wnmf_np import WNMF, DeconvWNMF, DeepMultiplicativeNMF, DeepWNMF, MultiplicativeNMF, UnfoldedNMF

_TRANSFORM_REASON = (
    "fit_transform returns the latents learnt jointly with W by stochastic mini-batch training; "
    "transform re-fits latents with W fixed. They agree closely at convergence (tests/test_wnmf.py "
    "checks it), not to atol=1e-2 after the few epochs these checks can afford."
)
_MU_TRANSFORM_REASON = (
    "after max_iter=20 MU iterations fit_transform's W (fitted jointly with H) and transform's W "
    "(re-solved with H fixed, from another start) differ by more than atol=1e-2; the converged "
    "instances below (tol=1e-6 or 1e-7) pass the same checks"
)
_MEMMAP_REASON = (
    "a NumPy memmap is out-of-core input for MultiplicativeNMF, streamed for the Frobenius loss only; "
    "other losses refuse it with a message saying to load X into memory (tests/test_out_of_core.py)"
)
_WNMF_FAILURES = {
    "check_transformer_general": _TRANSFORM_REASON,
    "check_transformer_data_not_an_array": _TRANSFORM_REASON,
}
_MU_FAILURES = {
    "check_transformer_general": _MU_TRANSFORM_REASON,
    "check_transformer_data_not_an_array": _MU_TRANSFORM_REASON,
}

#: (estimator, its expected failures); the reasons are in the dicts above
CASES = [
    (WNMF(2, max_epochs=20, random_state=0), _WNMF_FAILURES),
    (WNMF(2, max_epochs=10, loss="l2", dtype="float64", random_state=0), _WNMF_FAILURES),
    (WNMF(2, max_epochs=10, loss="kl", random_state=0), _WNMF_FAILURES),  # positive_only through the tag
    (DeepWNMF((2, 3), max_epochs=20, random_state=0), _WNMF_FAILURES),
    # images of one row and any width: the checks' data have 1 to 10 features, rarely a square
    (DeconvWNMF(2, stride=1, image_shape=(1, -1), max_epochs=5, random_state=0), _WNMF_FAILURES),
    (MultiplicativeNMF(2, max_iter=20, random_state=0), _MU_FAILURES),
    (MultiplicativeNMF(2, tol=1e-6, max_iter=1000, random_state=0), {}),
    (MultiplicativeNMF(2, beta_loss="kullback-leibler", max_iter=20, random_state=0),
     {**_MU_FAILURES, "check_readonly_memmap_input": _MEMMAP_REASON}),
    (DeepMultiplicativeNMF((2, 3), max_iter=20, pretrain_iter=20, random_state=0), _MU_FAILURES),
    (DeepMultiplicativeNMF((2, 2), tol=1e-9, max_iter=4000, pretrain_iter=50, random_state=0), {}),
    (UnfoldedNMF(2, n_layers=3, max_iter=20, random_state=0), {}),
]


def _expected(estimator) -> dict:
    return next(failures for est, failures in CASES if est is estimator)


@parametrize_with_checks([est for est, _ in CASES], expected_failed_checks=_expected)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _fresh(est):
    return clone(est).set_params(random_state=0)


#: one short, cheap instance per estimator class for the convention tests below
SHORT = {type(est).__name__: est for est, _ in reversed(CASES)}
SHORT_IDS = sorted(SHORT)


def _data(n=12, m=9, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).uniform(0.1, 1.0, (n, m)).astype(dtype)


# ------------------------------------------------ sklearn checks outside check_estimator
#: checks that scikit-learn runs on its own estimators but check_estimator does not yield
_EXTRA_CHECKS = [
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_dataframe_column_names_consistency",
]


@pytest.mark.parametrize("check", _EXTRA_CHECKS)
@pytest.mark.parametrize("name", SHORT_IDS)
def test_feature_names_and_set_output_checks(name, check):
    """get_feature_names_out, set_output(transform="pandas") and feature_names_in_ from a
    DataFrame (all five estimators raised AttributeError, or ignored the column names)."""
    if "pandas" in check or "dataframe" in check:
        pytest.importorskip("pandas")
    getattr(ec, check)(name, _fresh(SHORT[name]))


@pytest.mark.parametrize("name", SHORT_IDS)
def test_dataframe_names_kept_and_checked(name):
    pd = pytest.importorskip("pandas")
    X = _data()
    columns = [f"f{j}" for j in range(X.shape[1])]
    est = _fresh(SHORT[name])
    Z = est.set_output(transform="pandas").fit(pd.DataFrame(X, columns=columns)).transform(pd.DataFrame(X, columns=columns))
    assert list(est.feature_names_in_) == columns
    prefix = name.lower()
    assert list(Z.columns) == [f"{prefix}{i}" for i in range(Z.shape[1])]
    assert list(est.get_feature_names_out()) == list(Z.columns)
    renamed = pd.DataFrame(X, columns=[*columns[:-1], "other"])
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(renamed)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.transform(X)


# ------------------------------------------------------------------------------ dtype
@pytest.mark.parametrize("name", SHORT_IDS)
@pytest.mark.parametrize(("given", "working"), [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float32)])
def test_dtype_follows_the_input(name, given, working):
    """dtype=None (the default) keeps float32 and float64 (float64 came back float32), other
    input works in float32; an explicit dtype still overrides it."""
    X = (_data() * 10).astype(given)
    est = _fresh(SHORT[name])
    assert est.get_params()["dtype"] is None
    Z = est.fit_transform(X)
    assert Z.dtype == working and est.components_.dtype == working and est.transform(X).dtype == working
    forced = _fresh(SHORT[name]).set_params(dtype="float32" if working == np.float64 else "float64")
    assert forced.fit_transform(X).dtype == np.dtype(forced.dtype)


@pytest.mark.parametrize("name", SHORT_IDS)
def test_transform_works_in_the_fitted_precision(name):
    est = _fresh(SHORT[name]).fit(_data(dtype=np.float32))
    assert est.transform(_data(seed=1)).dtype == np.float32


# --------------------------------------------------------------------------- warnings
@pytest.mark.parametrize("cls", [MultiplicativeNMF, DeepMultiplicativeNMF])
@pytest.mark.parametrize("output", ["default", "pandas"])
def test_convergence_warning_points_at_the_caller(cls, output):
    """The warning named sklearn/utils/_set_output.py (fit -> wrapped fit_transform)."""
    if output == "pandas":
        pytest.importorskip("pandas")
    est = (cls(2, max_iter=10, tol=1e-12) if cls is MultiplicativeNMF else cls((2, 2), max_iter=10, tol=1e-12))
    est.set_output(transform=output)
    for method in ("fit", "fit_transform"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(est, method)(_data())  # the line the warning must name
        hits = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        assert hits and all(w.filename == __file__ for w in hits), [(w.filename, w.lineno) for w in hits]


# ---------------------------------------------------------- transform is row by row
def _mu_cases():
    yield "mu-frobenius", MultiplicativeNMF(3, random_state=0), {}
    yield "mu-kl", MultiplicativeNMF(3, beta_loss="kullback-leibler", l2=0.01, random_state=0), {}
    yield "mu-sparse", MultiplicativeNMF(3, random_state=0), {"sparse": True}
    yield "mu-nan", MultiplicativeNMF(3, nan_policy="omit", random_state=0), {"nan": True}
    yield "deep-mu", DeepMultiplicativeNMF((2, 3), l2=0.01, random_state=0), {}


@pytest.mark.parametrize(("label", "est", "opts"), list(_mu_cases()), ids=[c[0] for c in _mu_cases()])
def test_mu_transform_of_a_sample_ignores_the_other_samples(label, est, opts):
    """check_methods_subset_invariance / sample_order_invariance failed for the MU
    estimators: transform started every row from the batch mean and stopped on the
    batch's summed objective, so one sample's latents moved by up to 0.5 % (MU) and 0.2 %
    (deep MU) with the batch it came in. Each row now starts and stops on its own."""
    rng = np.random.default_rng(3)
    X = 3 * rng.uniform(size=(30, 6))
    X[rng.random(X.shape) < 0.2] = 0.0
    if opts.get("nan"):
        X[rng.random(X.shape) < 0.1] = np.nan
    est = clone(est).fit(X)
    as_input = sp.csr_matrix if opts.get("sparse") else np.asarray
    full = np.asarray(est.transform(as_input(X)))
    one_by_one = np.vstack([np.asarray(est.transform(as_input(X[i : i + 1]))) for i in range(len(X))])
    np.testing.assert_allclose(one_by_one, full, rtol=1e-9, atol=1e-12)
    order = rng.permutation(len(X))
    np.testing.assert_allclose(np.asarray(est.transform(as_input(X[order]))), full[order], rtol=1e-9, atol=1e-12)
