"""The statistical primitives against scipy and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from drift.correction import corrected_threshold
from drift.statistical import (
    KS_EXACT_MAX_N,
    chi2_homogeneity,
    jensen_shannon_distance,
    kl_divergence,
    ks_and_wasserstein,
    missing_share_test,
    normalised_wasserstein,
    psi,
    quantile_cut_points,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261204)


def test_ks_small_sample_matches_scipy(rng: np.random.Generator) -> None:
    reference = np.sort(rng.normal(size=300))
    current = np.sort(rng.normal(0.3, size=200))
    expected = stats.ks_2samp(reference, current, method="auto")
    statistic, p_value, _ = ks_and_wasserstein(reference, current)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_large_sample_matches_scipy(rng: np.random.Generator) -> None:
    reference = np.sort(rng.normal(size=KS_EXACT_MAX_N + 5_000))
    current = np.sort(rng.normal(0.02, size=KS_EXACT_MAX_N + 1_000))
    expected = stats.ks_2samp(reference, current, method="auto")
    statistic, p_value, _ = ks_and_wasserstein(reference, current)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_large_sample_with_ties_matches_scipy(rng: np.random.Generator) -> None:
    reference = np.sort(rng.integers(0, 50, size=30_000).astype(float))
    current = np.sort(rng.integers(0, 52, size=20_000).astype(float))
    expected = stats.ks_2samp(reference, current)
    statistic, _, _ = ks_and_wasserstein(reference, current)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)


def test_ks_p_value_underflow_is_zero(rng: np.random.Generator) -> None:
    reference = np.sort(rng.normal(size=50_000))
    current = np.sort(rng.normal(5.0, size=50_000))
    _, p_value, _ = ks_and_wasserstein(reference, current)
    assert p_value == 0.0


def test_wasserstein_matches_scipy(rng: np.random.Generator) -> None:
    reference = np.sort(rng.normal(size=5_000))
    current = np.sort(rng.exponential(size=3_000))
    _, _, wasserstein = ks_and_wasserstein(reference, current)
    assert wasserstein == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-9)


def test_wasserstein_normalised_by_reference_std() -> None:
    reference = np.array([0.0, 2.0])
    current = np.array([3.0, 5.0])
    # The distance is 3 (a shift by 3) and the reference standard deviation is 1.
    assert normalised_wasserstein(reference, current, 3.0) == pytest.approx(3.0)


def test_wasserstein_constant_reference_uses_pooled_std() -> None:
    reference = np.array([1.0, 1.0])
    current = np.array([3.0, 3.0])
    # Pooled values [1, 1, 3, 3] have standard deviation 1; the distance is 2.
    assert normalised_wasserstein(reference, current, 2.0) == pytest.approx(2.0)


def test_jensen_shannon_matches_scipy_base_2(rng: np.random.Generator) -> None:
    p = rng.random(8)
    q = rng.random(8)
    expected = distance.jensenshannon(p, q, base=2)
    assert jensen_shannon_distance(p, q) == pytest.approx(expected, rel=1e-9)


def test_psi_identical_is_zero() -> None:
    assert psi(np.array([10, 20, 30]), np.array([1, 2, 3])) == pytest.approx(0.0, abs=1e-15)


def test_psi_by_hand() -> None:
    # Shares [0.5, 0.5] -> [0.2, 0.8]: (0.2-0.5)*ln(0.4) + (0.8-0.5)*ln(1.6) = 0.4158883083
    assert psi(np.array([50, 50]), np.array([20, 80])) == pytest.approx(0.4158883083, rel=1e-9)


def test_kl_identical_is_zero() -> None:
    assert kl_divergence(np.array([3, 7]), np.array([30, 70])) == pytest.approx(0.0, abs=1e-15)


def test_kl_by_hand() -> None:
    # KL([0.2, 0.8] || [0.5, 0.5]) = 0.2*ln(0.4) + 0.8*ln(1.6) = 0.19274476
    assert kl_divergence(np.array([50, 50]), np.array([20, 80])) == pytest.approx(
        0.19274476, rel=1e-6
    )


def test_cut_points_of_binary_numeric_column() -> None:
    reference = np.sort(np.array([0.0] * 95 + [1.0] * 5))
    assert quantile_cut_points(reference).tolist() == [0.0]


def test_cut_points_of_constant_column() -> None:
    assert quantile_cut_points(np.full(20, 5.0)).size == 0


def test_cut_points_at_most_nine_for_ten_bins(rng: np.random.Generator) -> None:
    reference = np.sort(rng.normal(size=1_000))
    assert quantile_cut_points(reference).size == 9


def test_chi2_constant_column_p_value_is_one() -> None:
    assert chi2_homogeneity(np.array([40]), np.array([60])) == (0.0, 1.0, 0)


def test_missing_share_no_missing_is_one() -> None:
    assert missing_share_test(0, 100, 0, 50) == 1.0


def test_bonferroni_threshold_is_alpha_over_n() -> None:
    assert corrected_threshold([0.01, 0.2, 0.5, 0.9], 0.05, "bonferroni") == pytest.approx(0.05 / 4)


def test_no_correction_threshold_is_alpha() -> None:
    assert corrected_threshold([0.01, 0.2], 0.05, "none") == 0.05


def test_benjamini_hochberg_threshold() -> None:
    # Sorted p-values 0.001, 0.012, 0.03, 0.2 against steps 0.0125, 0.025, 0.0375, 0.05: the
    # largest passing rank is 3, so the threshold is 3 * 0.05 / 4.
    p_values = [0.2, 0.012, 0.001, 0.03]
    assert corrected_threshold(p_values, 0.05, "benjamini_hochberg") == pytest.approx(0.0375)


def test_benjamini_hochberg_nothing_passes() -> None:
    assert corrected_threshold([0.5, 0.9], 0.05, "benjamini_hochberg") == pytest.approx(0.025)


def test_unknown_correction_raises() -> None:
    with pytest.raises(ValueError, match="holm"):
        corrected_threshold([0.1], 0.05, "holm")  # type: ignore[arg-type]
