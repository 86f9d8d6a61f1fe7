"""The realised performance check: intervals, the drop between two windows and its verdict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from evaluation.metrics import ModelOutput
from evaluation.performance import (
    LabelledScores,
    PerformanceResult,
    check_realised_performance,
    independent_drop,
    interval_from_samples,
    unavailable,
)


def calibrated_rows(seed: int, rows: int, low: float = 0.0, high: float = 1.0) -> LabelledScores:
    """Scores drawn uniformly in [low, high] and labels drawn with exactly those probabilities."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(low, high, rows)
    labels = (rng.random(rows) < scores).astype(int)
    return LabelledScores(pd.Series(labels), ModelOutput("probabilities", scores))


def flipped(rows: LabelledScores, share: float, seed: int) -> LabelledScores:
    """Flip the labels of a random `share` of the rows: the relation between score and label changes."""
    rng = np.random.default_rng(seed)
    labels = rows.y_true.to_numpy().copy()
    chosen = rng.random(len(labels)) < share
    labels[chosen] = 1 - labels[chosen]
    return LabelledScores(pd.Series(labels), rows.output)


def check(
    reference: LabelledScores, current: LabelledScores, **overrides: object
) -> PerformanceResult:
    options: dict[str, object] = {
        "model_name": "m",
        "champion_version": "1",
        "reference": reference,
        "current": current,
        "task_type": "classification",
        "primary_metric": "roc_auc",
        "margin": 0.02,
        "n_resamples": 300,
        "confidence_level": 0.95,
        "reference_source": "validation",
        "n_current_rows": len(current.y_true),
    }
    options.update(overrides)
    return check_realised_performance(**options)  # type: ignore[arg-type]


def test_interval_from_known_samples():
    samples = np.concatenate([np.arange(101, dtype=float), [np.nan, np.nan]])
    interval = interval_from_samples(50.0, samples, n_rows=10, confidence_level=0.9)
    assert interval.value == 50.0
    assert interval.ci_low == pytest.approx(5.0)
    assert interval.ci_high == pytest.approx(95.0)
    assert interval.n_skipped == 2


def test_drop_from_independent_samples():
    reference = np.full(200, 0.80) + np.linspace(-0.01, 0.01, 200)
    current = np.full(200, 0.70) + np.linspace(0.01, -0.01, 200)
    drop = independent_drop(
        True, (0.80, reference), (0.70, current), margin=0.02, confidence_level=0.95
    )
    differences = reference - current
    assert drop.drop == pytest.approx(0.10)
    assert drop.ci_low == pytest.approx(float(np.quantile(differences, 0.025)))
    assert drop.ci_high == pytest.approx(float(np.quantile(differences, 0.975)))
    assert drop.significant is True


def test_drop_below_margin_not_significant():
    reference = np.full(100, 0.80)
    current = np.full(100, 0.79)
    drop = independent_drop(
        True, (0.80, reference), (0.79, current), margin=0.02, confidence_level=0.95
    )
    assert drop.drop == pytest.approx(0.01)
    assert drop.ci_low == pytest.approx(0.01)
    assert drop.significant is False


def test_drop_lower_is_better_sign():
    drop = independent_drop(
        False,
        (0.50, np.full(50, 0.50)),
        (0.60, np.full(50, 0.60)),
        margin=0.02,
        confidence_level=0.95,
    )
    assert drop.drop == pytest.approx(0.10)
    assert drop.significant is True


def test_drop_undefined_value_not_significant():
    drop = independent_drop(
        True,
        (None, np.full(10, np.nan)),
        (0.7, np.full(10, 0.7)),
        margin=0.0,
        confidence_level=0.95,
    )
    assert drop.drop is None
    assert drop.significant is False


def test_same_distribution_no_significant_drop():
    result = check(calibrated_rows(1, 4000), calibrated_rows(2, 4000))
    assert result.status == "available"
    assert result.drop is not None
    assert abs(result.drop.drop or 0.0) < 0.02
    assert result.drop.significant is False
    assert result.significant_drop is False


def test_values_match_sklearn():
    reference, current = calibrated_rows(3, 1000), calibrated_rows(4, 800)
    result = check(reference, current)
    assert result.reference is not None and result.current is not None
    expected_reference = roc_auc_score(reference.y_true, reference.output.values)
    expected_current = roc_auc_score(current.y_true, current.output.values)
    assert result.reference.value == pytest.approx(expected_reference)
    assert result.current.value == pytest.approx(expected_current)
    assert result.drop is not None
    assert result.drop.drop == pytest.approx(expected_reference - expected_current)


def test_label_flip_drop_is_significant():
    reference = calibrated_rows(5, 4000)
    current = flipped(calibrated_rows(6, 4000), share=0.3, seed=7)
    result = check(reference, current)
    assert result.drop is not None
    assert result.drop.drop is not None and result.drop.drop > 0.1
    assert result.drop.ci_low is not None and result.drop.ci_low > 0.0
    assert result.significant_drop is True
    assert "significant: it reaches the margin 0.02" in result.message


def test_interval_covers_reference_value():
    result = check(calibrated_rows(8, 2000), calibrated_rows(9, 2000))
    assert result.reference is not None
    assert result.reference.ci_low is not None and result.reference.ci_high is not None
    assert result.reference.ci_low <= (result.reference.value or 0.0) <= result.reference.ci_high


def test_labels_only_champion_uses_accuracy():
    reference = calibrated_rows(10, 1000)
    current = calibrated_rows(11, 1000)
    as_labels = LabelledScores(
        current.y_true, ModelOutput("labels", (current.output.values > 0.5).astype(int))
    )
    result = check(reference, as_labels)
    assert result.metric == "accuracy"
    assert result.basis == "labels"
    assert result.current is not None
    expected = accuracy_score(current.y_true, (current.output.values > 0.5).astype(int))
    assert result.current.value == pytest.approx(expected)
    assert "accuracy is compared instead of the primary metric roc_auc" in result.message


def test_reference_window_marked_in_sample():
    result = check(
        calibrated_rows(12, 500), calibrated_rows(13, 500), reference_source="reference_window"
    )
    assert result.reference_in_sample is True
    assert any("probably trained on" in warning for warning in result.warnings)


def test_log_loss_drop_positive_when_worse():
    reference = calibrated_rows(14, 3000)
    current = flipped(calibrated_rows(15, 3000), share=0.3, seed=16)
    result = check(reference, current, primary_metric="log_loss")
    assert result.higher_is_better is False
    assert result.drop is not None and result.drop.drop is not None
    assert result.drop.drop > 0.0


def test_result_dict_is_strict_json():
    result = unavailable("realised", "no_labels", "none labelled", "m")
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["status"] == "no_labels"
