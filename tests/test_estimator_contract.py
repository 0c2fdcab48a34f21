"""The contract every estimator keeps: a seed fixes the fit, save/load gives the same model
back, and a bad parameter is refused with an error naming it.

One table of the six estimators (WNMF, DeepWNMF, DeconvWNMF, MultiplicativeNMF,
DeepMultiplicativeNMF, UnfoldedNMF) carries these checks; family-specific behaviour stays in
the family's own test file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pytest

from wnmf_np import WNMF, DeconvWNMF, DeepMultiplicativeNMF, DeepWNMF, MultiplicativeNMF, UnfoldedNMF

N_SAMPLES, IMAGE_SHAPE = 24, (6, 5)
N_FEATURES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


@dataclass(frozen=True)
class Case:
    """One estimator configured for a fast, seeded fit.

    ``bad`` holds (parameter, value) pairs that fit must refuse with an error naming the
    parameter; ``opaque`` the fitted attributes read only through transform and
    inverse_transform.
    """

    name: str
    cls: type
    params: dict
    bad: tuple = ()
    opaque: frozenset = field(default_factory=frozenset)

    def make(self, **overrides):
        return self.cls(**{**self.params, **overrides})


WNMF_FAST = dict(max_epochs=5, batch_size=8, random_state=0)
CASES = [
    Case("WNMF", WNMF, dict(n_components=3, **WNMF_FAST), bad=(
        ("n_components", 0), ("n_components", 2.5), ("eta", 1.5), ("l2", -1), ("l2_mode", "both"),
        ("loss", "l3"), ("batch_size", 0), ("max_epochs", 0), ("lr", 0), ("betas", (0.9,)),
        ("betas", (0.9, 1.0)), ("eta_schedule", "exp"), ("h_update", "eager"), ("init", "nndsvd"),
        ("dtype", "float16"), ("nan_policy", "drop"), ("huber_delta", 0.0), ("callback", 3),
        ("loss_reduction", "max"),
    )),
    Case("DeepWNMF", DeepWNMF, dict(ranks=(3, 5), **WNMF_FAST), bad=(
        ("ranks", ()), ("ranks", (3, 0)), ("ranks", "ab"), ("eta", 2.0), ("lr", 0), ("loss", "l3"),
    )),
    Case("DeconvWNMF", DeconvWNMF, dict(n_components=2, stride=2, image_shape=IMAGE_SHAPE, latent="raw", **WNMF_FAST), bad=(
        ("stride", 0), ("stride", -2), ("stride", 1.5), ("stride", "2"), ("stride", True),
        ("image_shape", (5, 5)), ("image_shape", (6,)), ("image_shape", (6, 0)), ("image_shape", None),
        ("image_shape", (4, -1)), ("image_shape", (-1, -1)), ("image_shape", (-1, 0)),
        ("image_shape", (True, -1)), ("latent", "mean"), ("n_components", 0), ("eta", -0.1),
    )),
    Case("MultiplicativeNMF", MultiplicativeNMF, dict(n_components=3, max_iter=10, tol=0, random_state=0), bad=(
        ("n_components", 0), ("n_components", 2.5), ("beta_loss", "hinge"), ("beta_loss", np.nan),
        ("l1", -1.0), ("init", "svd"), ("dtype", "int8"), ("nan_policy", "drop"),
    )),
    Case("DeepMultiplicativeNMF", DeepMultiplicativeNMF,
         dict(ranks=(3, 5), max_iter=5, pretrain_iter=5, tol=0, random_state=0), bad=(
        ("ranks", ()), ("ranks", (3, 0)), ("ranks", "abc"), ("l2", -1.0), ("pretrain_iter", -1), ("init", "custom"),
    ), opaque=frozenset({"components_"})),
    Case("UnfoldedNMF", UnfoldedNMF,
         dict(n_components=3, n_layers=2, max_iter=4, batch_size=8, init="perturbed", random_state=0), bad=(
        ("n_layers", 0), ("lr", 0.0), ("batch_size", 0), ("init", "random"), ("nnls", "lbfgs"),
        ("n_components", 0), ("max_iter", -1), ("dtype", "int8"), ("backend", "tpu"),
    )),
]  # fmt: skip
IDS = [c.name for c in CASES]
BAD = [pytest.param(c, p, v, id=f"{c.name}-{p}={v!r}") for c in CASES for p, v in c.bad]

#: WNMF options that change the training path; each must stay deterministic given the seed
WNMF_VARIANTS = [{"h_update": "dense"}, {"l2_mode": "penalty"}, {"eta_schedule": "cosine", "eta": 0.0}]
SEEDED = [pytest.param(c, {}, id=c.name) for c in CASES] + [
    pytest.param(CASES[0], kw, id="WNMF-" + "-".join(f"{k}={v}" for k, v in kw.items())) for kw in WNMF_VARIANTS
]


@pytest.fixture
def X():
    """Non-negative data of rank 3 plus noise, (24, 30), also read as 6 x 5 images."""
    rng = np.random.default_rng(7)
    return rng.uniform(size=(N_SAMPLES, 3)) @ rng.uniform(size=(3, N_FEATURES)) / 3 + 0.05 * rng.uniform(
        size=(N_SAMPLES, N_FEATURES)
    )


def _fit_transform(est, X):
    est.fit(X)
    return est, est.transform(X)


def _assert_same_reconstruction(a, b, Z):
    """``inverse_transform`` of both models equal on Z, for the estimators that have one."""
    assert hasattr(a, "inverse_transform") == hasattr(b, "inverse_transform")
    if hasattr(a, "inverse_transform"):
        np.testing.assert_array_equal(b.inverse_transform(Z), a.inverse_transform(Z))


def _assert_same(a, b, where):
    """Equal bit for bit: arrays, numbers, strings, and lists / tuples / dicts of them."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)) and not all(isinstance(v, (int, float, str)) for v in a):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{where}[{i}]")
    else:
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a), err_msg=where)


def _comparable(value) -> bool:
    """Whether ``value`` is data the contract compares (arrays, numbers, containers of them)."""
    if isinstance(value, dict):
        return all(_comparable(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_comparable(v) for v in value)
    return isinstance(value, (np.ndarray, np.generic, int, float, str))


def _fitted_data(est, opaque):
    """The public fitted attributes (``name_``) that hold data, minus ``opaque``."""
    return {
        k: v for k, v in vars(est).items()
        if k.endswith("_") and not k.startswith("_") and k not in opaque and _comparable(v)
    }  # fmt: skip


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("case", "variant"), SEEDED)
def test_same_seed_same_fit_other_seed_other_fit(case, variant, X):
    """Two fits with one seed give the same latents, reconstructions and fitted arrays bit for
    bit; another seed gives other latents (the seed is used, not ignored)."""
    a, Za = _fit_transform(case.make(**variant), X)
    b, Zb = _fit_transform(case.make(**variant), X)
    np.testing.assert_array_equal(Za, Zb)
    _assert_same_reconstruction(a, b, Za)
    data_a, data_b = _fitted_data(a, case.opaque), _fitted_data(b, case.opaque)
    assert data_a, "no fitted array to compare"
    _assert_same(data_a, data_b, case.name)
    _, Zc = _fit_transform(case.make(**variant, random_state=1), X)
    assert not np.array_equal(Za, Zc)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_then_load_gives_the_same_model(case, X, tmp_path):
    """A loaded model has the saved parameters and fitted data, and transforms and
    reconstructs exactly as the saved one."""
    model = case.make().fit(X)
    path = model.save(tmp_path / case.name)
    assert path.suffix == ".npz"
    loaded = type(model).load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    saved = _fitted_data(model, case.opaque)
    assert saved, "no fitted array to compare"
    _assert_same(saved, {k: getattr(loaded, k) for k in saved}, case.name)
    Z = model.transform(X[:5])
    np.testing.assert_array_equal(loaded.transform(X[:5]), Z)
    _assert_same_reconstruction(model, loaded, Z)


@pytest.mark.parametrize(("case", "param", "value"), BAD)
def test_a_bad_parameter_is_refused_naming_it(case, param, value, X):
    """fit refuses the value with a ValueError or TypeError whose message names the parameter."""
    with pytest.raises((ValueError, TypeError), match=rf"\b{re.escape(param)}\b"):
        case.make(**{param: value}).fit(X)
