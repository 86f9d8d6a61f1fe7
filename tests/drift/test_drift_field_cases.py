"""Inputs that broke drift tools in the field, each with its right value.

Expected numbers were computed independently with scipy 1.17 (`chi2_contingency`, `ks_2samp`) or by
hand from the PSI formula `sum((c - r) * ln(c / r))`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from drift.columns import DriftInputError
from drift.engine import DriftConfig, detect_drift_frames
from drift.statistical import (
    bin_counts,
    chi2_homogeneity,
    empty_bin_share,
    jensen_shannon_distance,
    psi,
    quantile_cut_points,
)

REL = 1e-6


def _reject_constant(name: str) -> None:
    raise ValueError(f"JSON contains {name}")


def _strict_json(text: str) -> dict:
    return json.loads(text, parse_constant=_reject_constant)


# Constant categorical column.
def test_constant_categorical_p_value_is_one(config: DriftConfig) -> None:
    report = detect_drift_frames(
        pd.DataFrame({"flag": ["N"] * 40}), pd.DataFrame({"flag": ["N"] * 60}), config=config
    )
    flag = report.feature("flag")
    assert flag.p_value == 1.0
    assert flag.drifted is False
    assert report.dataset.drift_share == 0.0
    assert _strict_json(report.to_json())["dataset"]["drift_share"] == 0.0


# All-empty column.
def test_all_empty_column_is_skipped(config: DriftConfig) -> None:
    reference = pd.DataFrame({"amount": [1, 2, 3, 4], "promo": [np.nan] * 4})
    current = pd.DataFrame({"amount": [1.5, 2.5, 3.5, 9], "promo": [np.nan] * 4})
    report = detect_drift_frames(reference, current, config=config)
    assert [item.name for item in report.features] == ["amount"]
    assert report.feature("amount").method == "ks"
    assert [item.name for item in report.skipped] == ["promo"]
    assert "empty in both windows" in report.skipped[0].reason
    assert any("promo" in warning for warning in report.warnings)
    assert report.dataset.n_tested == 1


# Empty current window.
def test_empty_current_window_raises(config: DriftConfig) -> None:
    reference = pd.DataFrame({"latency_ms": [12, 15, 11, 30]})
    current = reference.iloc[0:0]
    with pytest.raises(DriftInputError, match=r"current window is empty \(0 rows\)"):
        detect_drift_frames(reference, current, config=config)


def test_empty_current_window_raises_with_evidently() -> None:
    reference = pd.DataFrame({"latency_ms": [12, 15, 11, 30]})
    with pytest.raises(DriftInputError, match=r"current window is empty \(0 rows\)"):
        detect_drift_frames(reference, reference.iloc[0:0], config=DriftConfig(use_evidently=True))


# Empty bin in the current sample.
def test_psi_empty_current_bin_is_finite() -> None:
    value = psi(np.array([25, 25, 25, 25]), np.array([50, 50, 0, 0]))
    # Zero shares become 0.5 / 100 = 0.005:
    # 2 * 0.25 * ln(2) + 2 * (0.005 - 0.25) * ln(0.005 / 0.25) = 2.263464862939764
    assert value == pytest.approx(2.263464862939764, rel=REL)


def test_psi_empty_bin_feature_drifts(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": [1] * 25 + [2] * 25 + [3] * 25 + [4] * 25})
    current = pd.DataFrame({"x": [1] * 50 + [2] * 50})
    report = detect_drift_frames(reference, current, config=config)
    x = report.feature("x")
    assert x.psi == pytest.approx(2.263464862939764, rel=REL)
    assert x.drifted is True
    assert _strict_json(report.to_json())["features"][0]["psi"] == pytest.approx(2.263464862939764)


# Smoothing constant larger than a real share.
def test_empty_bin_share_is_below_smallest_share() -> None:
    assert empty_bin_share(100_000, 100_000) < 1e-5


def test_psi_rare_category_absent_from_current(config: DriftConfig) -> None:
    reference = pd.DataFrame({"c": ["a"] * 99_999 + ["b"]})
    current = pd.DataFrame({"c": ["a"] * 100_000})
    report = detect_drift_frames(reference, current, config=config)
    # 1e-5 * ln(1 / 0.99999) + (5e-6 - 1e-5) * ln(5e-6 / 1e-5) = 3.4658359e-06
    assert report.feature("c").psi == pytest.approx(3.4658359e-06, rel=1e-4)
    assert report.feature("c").drifted is False


# Quantile bins on zero-heavy and constant data.
def test_quantile_bins_zero_heavy_edges() -> None:
    reference = np.sort(np.array([0] * 80 + list(range(1, 21)), dtype=float))
    assert quantile_cut_points(reference).tolist() == pytest.approx([0.2, 10.1])


def test_quantile_bins_zero_heavy_counts() -> None:
    reference = np.sort(np.array([0] * 80 + list(range(1, 21)), dtype=float))
    current = np.sort(np.array([0] * 20 + list(range(1, 81)), dtype=float))
    cut_points = quantile_cut_points(reference)
    assert bin_counts(reference, cut_points).tolist() == [80, 10, 10]
    assert bin_counts(current, cut_points).tolist() == [20, 10, 70]


def test_quantile_bins_zero_heavy_psi(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": [0] * 80 + list(range(1, 21))})
    current = pd.DataFrame({"x": [0] * 20 + list(range(1, 81))})
    report = detect_drift_frames(reference, current, config=config)
    assert report.feature("x").psi == pytest.approx(1.999323, rel=REL)


def test_constant_against_constant_psi_is_zero(config: DriftConfig) -> None:
    frame = pd.DataFrame({"x": [5.0] * 20})
    report = detect_drift_frames(frame, frame.copy(), config=config)
    x = report.feature("x")
    assert x.psi == 0.0
    assert x.p_value == 1.0
    assert x.drifted is False


# Jensen-Shannon scale.
def test_jensen_shannon_disjoint_is_one() -> None:
    assert jensen_shannon_distance(np.array([100, 0]), np.array([0, 100])) == pytest.approx(
        1.0, rel=REL
    )


def test_jensen_shannon_disjoint_categories(config: DriftConfig) -> None:
    report = detect_drift_frames(
        pd.DataFrame({"c": ["a"] * 100}), pd.DataFrame({"c": ["b"] * 100}), config=config
    )
    assert report.feature("c").jensen_shannon == pytest.approx(1.0, rel=REL)


# Jensen-Shannon on identical distributions in float32.
def test_jensen_shannon_float32_identical_is_finite() -> None:
    p = np.array([0.756, 0.543], dtype=np.float32)
    value = jensen_shannon_distance(p, 3 * p)
    assert math.isfinite(value)
    assert value == pytest.approx(0.0, abs=1e-6)


# NaN and infinity in numeric values.
@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_values_left_out_of_ks(config: DriftConfig, bad_value: float) -> None:
    reference = pd.DataFrame({"x": [1.0, 2, 3, 4, 5]})
    current = pd.DataFrame({"x": [2.0, 3, 4, 5, 6, bad_value]})
    x = detect_drift_frames(reference, current, config=config).feature("x")
    assert x.method == "ks"
    assert x.statistic == pytest.approx(0.2, rel=REL)
    assert x.p_value == 1.0
    assert x.n_current == 5


def test_nan_counted_as_missing(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": [1.0, 2, 3, 4, 5]})
    current = pd.DataFrame({"x": [2.0, 3, 4, 5, 6, np.nan]})
    x = detect_drift_frames(reference, current, config=config).feature("x")
    assert x.missing_share_current == pytest.approx(1 / 6, rel=REL)
    assert x.non_finite_current == 0


def test_infinity_counted_as_non_finite(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": [1.0, 2, 3, 4, 5]})
    current = pd.DataFrame({"x": [2.0, 3, 4, 5, 6, np.inf]})
    x = detect_drift_frames(reference, current, config=config).feature("x")
    assert x.non_finite_current == 1
    assert x.missing_share_current == 0.0


# A jump in missing values.
def test_missing_share_jump_is_flagged(config: DriftConfig) -> None:
    values = np.arange(100, dtype=float)
    reference = pd.DataFrame({"x": values})
    current = pd.DataFrame({"x": np.concatenate([values, np.full(100, np.nan)])})
    x = detect_drift_frames(reference, current, config=config).feature("x")
    assert x.statistic == 0.0
    assert x.p_value == 1.0
    assert x.missing_share_reference == 0.0
    assert x.missing_share_current == 0.5
    # chi2_contingency([[100, 0], [100, 100]]).pvalue
    assert x.missing_p_value == pytest.approx(1.4590531895639036e-17, rel=REL)
    assert x.missing_drifted is True
    assert x.drifted is True


# Chi-squared with windows of different sizes.
def test_chi2_windows_of_different_sizes() -> None:
    statistic, p_value, dof = chi2_homogeneity(np.array([60, 40]), np.array([30, 30]))
    assert statistic == pytest.approx(1.144550, rel=REL)
    assert p_value == pytest.approx(0.284693, rel=REL)
    assert dof == 1


def test_chi2_windows_of_different_sizes_in_report(config: DriftConfig) -> None:
    reference = pd.DataFrame({"c": ["a"] * 60 + ["b"] * 40})
    current = pd.DataFrame({"c": ["a"] * 30 + ["b"] * 30})
    c = detect_drift_frames(reference, current, config=config).feature("c")
    assert c.method == "chi2"
    assert c.p_value == pytest.approx(0.284693, rel=REL)


# Category only in the current window.
def test_new_category_chi2(config: DriftConfig) -> None:
    reference = pd.DataFrame({"colour": ["red"] * 30 + ["blue"] * 20})
    current = pd.DataFrame({"colour": ["red"] * 25 + ["blue"] * 15 + ["green"] * 10})
    report = detect_drift_frames(reference, current, config=config)
    colour = report.feature("colour")
    assert colour.statistic == pytest.approx(11.168831, rel=REL)
    assert colour.p_value == pytest.approx(0.003756, rel=1e-4)
    assert colour.drifted is True
    assert colour.new_categories == ["green"]
    assert report.new_categories == {"colour": ["green"]}


def test_new_category_dof() -> None:
    _, _, dof = chi2_homogeneity(np.array([30, 20, 0]), np.array([25, 15, 10]))
    assert dof == 2


# Integer 0/1 column.
def test_integer_flag_is_categorical(config: DriftConfig) -> None:
    reference = pd.DataFrame({"y_pred": [0] * 70 + [1] * 30})
    current = pd.DataFrame({"y_pred": [0] * 50 + [1] * 50})
    y_pred = detect_drift_frames(reference, current, config=config).feature("y_pred")
    assert y_pred.kind == "categorical"
    assert y_pred.method == "chi2"
    assert y_pred.p_value == pytest.approx(0.006098945931214352, rel=REL)


def test_integer_flag_numeric_override(config: DriftConfig) -> None:
    reference = pd.DataFrame({"y_pred": [0] * 70 + [1] * 30})
    current = pd.DataFrame({"y_pred": [0] * 50 + [1] * 50})
    report = detect_drift_frames(reference, current, numeric=["y_pred"], config=config)
    y_pred = report.feature("y_pred")
    assert y_pred.kind == "numeric"
    assert y_pred.method == "ks"
    assert y_pred.statistic == pytest.approx(0.2, rel=REL)


# Boolean column.
def test_boolean_column_is_categorical(config: DriftConfig) -> None:
    reference = pd.DataFrame({"member": [True] * 6 + [False] * 4})
    current = pd.DataFrame({"member": [True] * 3 + [False] * 7})
    member = detect_drift_frames(reference, current, config=config).feature("member")
    assert member.kind == "categorical"
    assert member.p_value == pytest.approx(0.368688, rel=1e-5)
    assert member.drifted is False


# Duplicate column names.
def test_duplicate_columns_in_reference_raise(config: DriftConfig) -> None:
    reference = pd.DataFrame([[30, 1000, 31]], columns=["age", "income", "age"])
    current = pd.DataFrame([[30, 1000]], columns=["age", "income"])
    with pytest.raises(DriftInputError, match=r"duplicate column names in reference: \['age'\]"):
        detect_drift_frames(reference, current, config=config)


def test_duplicate_columns_checked_in_both_windows(config: DriftConfig) -> None:
    reference = pd.DataFrame([[30, 1000, 31]], columns=["age", "income", "age"])
    current = pd.DataFrame([[30, 1000, 1]], columns=["age", "income", "income"])
    with pytest.raises(DriftInputError) as error:
        detect_drift_frames(reference, current, config=config)
    assert "duplicate column names in reference: ['age']" in str(error.value)
    assert "duplicate column names in current: ['income']" in str(error.value)


# Target with one class in the current window.
def test_target_with_one_class_drifts(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": np.arange(100.0), "y": [0] * 80 + [1] * 20})
    current = pd.DataFrame({"x": np.arange(60.0), "y": [0] * 60})
    report = detect_drift_frames(reference, current, target="y", config=config)
    assert report.target is not None
    assert report.target.method == "chi2"
    assert report.target.p_value == pytest.approx(0.0005474523663836914, rel=REL)
    assert report.target.drifted is True
    assert [item.name for item in report.features] == ["x"]


def test_target_with_one_class_kl_divergence(config: DriftConfig) -> None:
    reference = pd.DataFrame({"x": np.arange(100.0), "y": [0] * 80 + [1] * 20})
    current = pd.DataFrame({"x": np.arange(60.0), "y": [0] * 60})
    target = detect_drift_frames(reference, current, target="y", config=config).target
    assert target is not None
    # Current shares [1, 0.5/100] and reference [0.8, 0.2], both renormalised; KL(current || reference)
    # = sum(c * ln(c / r)) = 0.19869320878114
    assert target.kl_divergence == pytest.approx(0.19869320878114, rel=1e-6)
    assert target.current_distribution == {"0": 1.0, "1": 0.0}
