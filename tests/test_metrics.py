"""Tests of wnmf_np.metrics: NMI of k-means on latents, factor statistics, reconstruction errors."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from wnmf_np.metrics import NMIResult, clustering_nmi, factor_stats, reconstruction_errors


@pytest.fixture(autouse=True, scope="module")
def single_openmp_thread():
    """Run k-means on one OpenMP thread: on a busy 2-core machine the spin-waiting of a
    second thread makes these tiny fits some 50 times slower, with identical results."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def blobs(rng: np.random.Generator, n_per_class: int = 30, n_classes: int = 4, dim: int = 5, spread: float = 0.01):
    """Gaussian blobs around far-apart centres; labels are strings to show they need not be ints."""
    centres = 10.0 * rng.standard_normal((n_classes, dim)) + 50.0 * np.eye(n_classes, dim)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    latents = centres[labels] + spread * rng.standard_normal((labels.size, dim))
    perm = rng.permutation(labels.size)
    return latents[perm], np.array([f"class-{c}" for c in labels[perm]])


# -------------------------------------------------------------------- clustering_nmi
def test_nmi_is_one_on_separated_blobs():
    latents, labels = blobs(np.random.default_rng(0))
    result = clustering_nmi(latents, labels, n_clusters=4, n_runs=5)
    assert isinstance(result, NMIResult)
    np.testing.assert_allclose(result.scores, 1.0)
    assert result.mean == pytest.approx(1.0) and result.std == pytest.approx(0.0, abs=1e-12)


def test_nmi_is_near_zero_when_latents_ignore_labels():
    rng = np.random.default_rng(1)
    latents = rng.standard_normal((600, 4))
    labels = rng.integers(0, 3, size=600)
    result = clustering_nmi(latents, labels, n_clusters=3, n_runs=10, random_state=3)
    assert result.scores.shape == (10,)
    assert np.all((0 <= result.scores) & (result.scores <= 1))
    assert result.mean < 0.1
    assert len(np.unique(result.scores)) > 1  # every run has its own seed
    assert result.mean == pytest.approx(result.scores.mean())
    assert result.std == pytest.approx(result.scores.std())
    assert isinstance(result.mean, float) and isinstance(result.std, float)


def test_nmi_is_reproducible_and_seeded():
    rng = np.random.default_rng(2)
    latents, labels = rng.standard_normal((200, 3)), rng.integers(0, 4, size=200)
    first = clustering_nmi(latents, labels, 4, n_runs=4, random_state=7)
    again = clustering_nmi(latents, labels, 4, n_runs=4, random_state=7)
    np.testing.assert_array_equal(first.scores, again.scores)
    other = clustering_nmi(latents, labels, 4, n_runs=4, random_state=8)
    assert not np.array_equal(first.scores, other.scores)


def test_nmi_average_method_max_is_the_smallest():
    rng = np.random.default_rng(3)
    latents, labels = blobs(rng, spread=20.0)  # overlapping: NMI strictly between 0 and 1
    arithmetic = clustering_nmi(latents, labels, 3, n_runs=2)
    by_max = clustering_nmi(latents, labels, 3, n_runs=2, average_method="max")
    assert np.all(by_max.scores <= arithmetic.scores + 1e-12)
    assert np.any(by_max.scores < arithmetic.scores)


@pytest.mark.parametrize(
    "latents, labels, n_clusters, message",
    [
        (np.ones((5, 2)), np.arange(4), 2, "labels has 4 entries"),
        (np.ones((5, 2)), np.arange(5), 0, "n_clusters"),
        (np.ones((5, 2)), np.arange(5), 6, "n_clusters"),
        (np.array([[0.0, np.nan]] * 5), np.arange(5), 2, "latents"),
        (np.ones(5), np.arange(5), 2, "latents must be 2-D"),
        (np.ones((5, 2)), np.ones((5, 1)), 2, "labels must be 1-D"),
    ],
)
def test_nmi_validation_names_the_argument(latents, labels, n_clusters, message):
    with pytest.raises(ValueError, match=message):
        clustering_nmi(latents, labels, n_clusters)


def test_nmi_rejects_bad_n_runs():
    with pytest.raises(ValueError, match="n_runs"):
        clustering_nmi(np.ones((4, 2)), np.arange(4), 2, n_runs=0)
    with pytest.raises(TypeError, match="n_clusters"):
        clustering_nmi(np.ones((4, 2)), np.arange(4), 2.5)


def test_nmi_accepts_cupy_arrays(cp):
    """NMI and factor statistics of CuPy latents equal those of the same NumPy latents."""
    latents, labels = blobs(np.random.default_rng(4))
    on_gpu = clustering_nmi(cp.asarray(latents), labels, 4, n_runs=2)
    on_cpu = clustering_nmi(latents, labels, 4, n_runs=2)
    np.testing.assert_array_equal(on_gpu.scores, on_cpu.scores)
    stats = factor_stats(cp.asarray(latents))
    assert stats == factor_stats(latents)


# ---------------------------------------------------------------------- factor_stats
def hoyer(values: np.ndarray) -> float:
    """Hoyer's sparsity written out directly (the oracle)."""
    v = np.abs(values.ravel())
    n = v.size
    return (np.sqrt(n) - v.sum() / np.sqrt((v**2).sum())) / (np.sqrt(n) - 1)


def test_factor_stats_hand_made_matrix():
    A = np.array([[1.0, -1.0, 0.0], [2.0, 0.0005, -3.0]])
    stats = factor_stats(A)
    assert stats["min"] == -3.0 and stats["max"] == 2.0
    assert stats["frac_negative"] == pytest.approx(2 / 6)
    assert stats["negative_mass"] == pytest.approx((1 + 3) / (1 + 1 + 2 + 0.0005 + 3))
    # zero if |a| <= 1e-3 * 3: the exact 0 and 0.0005
    assert stats["sparsity"] == pytest.approx(2 / 6)
    assert stats["hoyer"] == pytest.approx(hoyer(A))
    assert all(isinstance(v, float) for v in stats.values())


def test_factor_stats_extremes():
    one_hot = np.zeros((4, 5))
    one_hot[2, 3] = 7.0
    stats = factor_stats(one_hot)
    assert stats["hoyer"] == pytest.approx(1.0) and stats["sparsity"] == pytest.approx(19 / 20)
    flat = factor_stats(np.full((3, 3), -2.0))
    assert flat["hoyer"] == pytest.approx(0.0, abs=1e-12)
    assert flat["frac_negative"] == 1.0 and flat["negative_mass"] == 1.0 and flat["sparsity"] == 0.0
    zero = factor_stats(np.zeros((2, 2)))
    assert np.isnan(zero["hoyer"]) and zero["negative_mass"] == 0.0 and zero["sparsity"] == 1.0


def test_factor_stats_non_negative_random_and_rtol():
    A = np.random.default_rng(5).random((20, 6))
    stats = factor_stats(A)
    assert stats["frac_negative"] == 0.0 and stats["negative_mass"] == 0.0 and stats["min"] >= 0
    np.testing.assert_allclose(factor_stats(A, rtol=0.5)["sparsity"], np.mean(A <= 0.5 * A.max()))
    assert 0.0 <= stats["hoyer"] <= 1.0


def test_factor_stats_validation():
    with pytest.raises(ValueError, match="A contains NaN"):
        factor_stats(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="A must be 2-D"):
        factor_stats(np.ones(3))


# ------------------------------------------------------------- reconstruction_errors
def test_reconstruction_errors_match_numpy_formulas():
    rng = np.random.default_rng(6)
    X, X_hat = rng.random((7, 5)), rng.random((7, 5))
    errors = reconstruction_errors(X, X_hat)
    E = X - X_hat
    assert errors["mae"] == pytest.approx(np.mean(np.abs(E)))
    assert errors["rmse"] == pytest.approx(np.sqrt(np.mean(E**2)))
    assert errors["frobenius"] == pytest.approx(np.linalg.norm(E, "fro"))
    assert errors["relative_frobenius"] == pytest.approx(np.linalg.norm(E) / np.linalg.norm(X))
    perfect = reconstruction_errors(X, X.copy())
    assert all(value == 0.0 for value in perfect.values())


def test_reconstruction_errors_mask_restricts_to_observed():
    rng = np.random.default_rng(7)
    X, X_hat = rng.random((6, 4)), rng.random((6, 4))
    mask = rng.random((6, 4)) < 0.5
    X_missing = X.copy()
    X_missing[~mask] = np.nan  # unobserved entries may be missing values
    errors = reconstruction_errors(X_missing, X_hat, mask=mask)
    E = (X - X_hat)[mask]
    assert errors["mae"] == pytest.approx(np.mean(np.abs(E)))
    assert errors["rmse"] == pytest.approx(np.sqrt(np.mean(E**2)))
    assert errors["frobenius"] == pytest.approx(np.linalg.norm(E))
    assert errors["relative_frobenius"] == pytest.approx(np.linalg.norm(E) / np.linalg.norm(X[mask]))
    full = reconstruction_errors(X, X_hat, mask=np.ones_like(mask))
    assert full == reconstruction_errors(X, X_hat)


def test_reconstruction_errors_zero_data():
    assert reconstruction_errors(np.zeros((2, 2)), np.ones((2, 2)))["relative_frobenius"] == np.inf
    assert reconstruction_errors(np.zeros((2, 2)), np.zeros((2, 2)))["relative_frobenius"] == 0.0


@pytest.mark.parametrize(
    "X_hat, mask, message",
    [
        (np.ones((3, 2)), None, "X_hat must have the shape of X"),
        (np.ones((2, 2)), np.ones((2, 3), dtype=bool), "mask must have the shape"),
        (np.ones((2, 2)), np.ones((2, 2)), "mask must be boolean"),
        (np.ones((2, 2)), np.zeros((2, 2), dtype=bool), "no True entry"),
        (np.full((2, 2), np.nan), None, "finite"),
    ],
)
def test_reconstruction_errors_validation(X_hat, mask, message):
    with pytest.raises(ValueError, match=message):
        reconstruction_errors(np.ones((2, 2)), X_hat, mask=mask)
