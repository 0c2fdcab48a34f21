"""scikit-learn's estimator checks. Expected failures are listed with the reason."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from wnmf_np import WNMF, DeepWNMF

_TRANSFORM_REASON = (
    "fit_transform returns the latents learnt jointly with W by stochastic mini-batch training; "
    "transform re-fits latents with W fixed. They agree closely at convergence (tests/test_wnmf.py "
    "checks it), not to atol=1e-2 after the few epochs these checks can afford."
)
EXPECTED_FAILURES = {
    "check_transformer_general": _TRANSFORM_REASON,
    "check_transformer_data_not_an_array": _TRANSFORM_REASON,
}


@parametrize_with_checks(
    [
        WNMF(2, max_epochs=20, random_state=0),
        WNMF(2, max_epochs=10, loss="l2", dtype="float64", random_state=0),
        DeepWNMF((2, 3), max_epochs=20, random_state=0),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# DeconvWNMF is not in the list: it needs n_features == h * w of its image_shape, which the
# checks' arbitrary feature counts break; tests/test_deconv.py and tests/test_hostile_input.py cover it.
