"""Confidence-based performance estimation: expected metrics by hand, calibration, known results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.estimation import (
    MIN_ISOTONIC_ROWS,
    choose_calibration,
    estimate_current_performance,
    expected_confusion,
    expected_metric,
    fit_calibrator,
)
from evaluation.metrics import METRICS, ModelOutput
from evaluation.performance import LabelledScores, PerformanceResult, check_realised_performance

PROBABILITIES = np.array([0.9, 0.2, 0.6, 0.4])


def draw(
    seed: int, rows: int, low: float = 0.0, high: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities uniform in [low, high] and labels drawn with exactly those probabilities."""
    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(low, high, rows)
    labels = (rng.random(rows) < probabilities).astype(np.int8)
    return probabilities, labels


def estimate(
    validation: tuple[np.ndarray, np.ndarray], current_scores: np.ndarray, **overrides: object
) -> PerformanceResult:
    scores, labels = validation
    options: dict[str, object] = {
        "model_name": "m",
        "champion_version": "1",
        "validation_y": labels,
        "validation_scores": scores,
        "current_scores": current_scores,
        "primary_metric": "roc_auc",
        "margin": 0.02,
        "n_resamples": 200,
        "confidence_level": 0.95,
        "reference_source": "validation",
    }
    options.update(overrides)
    return estimate_current_performance(**options)  # type: ignore[arg-type]


def realised(
    validation: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray]
) -> PerformanceResult:
    return check_realised_performance(
        model_name="m",
        champion_version="1",
        reference=LabelledScores(
            pd.Series(validation[1]), ModelOutput("probabilities", validation[0])
        ),
        current=LabelledScores(pd.Series(current[1]), ModelOutput("probabilities", current[0])),
        task_type="classification",
        primary_metric="roc_auc",
        margin=0.02,
        n_resamples=200,
        confidence_level=0.95,
        reference_source="validation",
        n_current_rows=len(current[1]),
    )


def test_expected_accuracy_by_hand():
    # Labels at 0.5 are 1, 0, 1, 0; the chance each is right is 0.9, 0.8, 0.6 and 0.6.
    value = expected_metric(METRICS["accuracy"], PROBABILITIES, PROBABILITIES)
    assert value == pytest.approx((0.9 + 0.8 + 0.6 + 0.6) / 4)


def test_expected_f1_by_hand():
    # Expected TP = 0.9 + 0.6, FP = 0.1 + 0.4, FN = 0.2 + 0.4.
    value = expected_metric(METRICS["f1"], PROBABILITIES, PROBABILITIES)
    assert value == pytest.approx(2 * 1.5 / (2 * 1.5 + 0.5 + 0.6))


def test_expected_confusion_by_hand():
    counts = expected_confusion(PROBABILITIES, PROBABILITIES)
    assert counts["true_positive"] == pytest.approx(1.5)
    assert counts["false_positive"] == pytest.approx(0.5)
    assert counts["false_negative"] == pytest.approx(0.6)
    assert counts["true_negative"] == pytest.approx(1.4)


def test_expected_auc_matches_double_loop():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.05, 0.95, 9)
    scores = np.round(rng.uniform(0, 1, 9), 1)  # rounded, so some scores tie
    wins = 0.0
    for i in range(9):
        for j in range(9):
            pair = probabilities[i] * (1 - probabilities[j])
            if scores[i] > scores[j]:
                wins += pair
            elif scores[i] == scores[j]:
                wins += 0.5 * pair
    expected = wins / (probabilities.sum() * (1 - probabilities).sum())
    assert expected_metric(METRICS["roc_auc"], probabilities, scores) == pytest.approx(expected)


def test_expected_auc_with_certain_labels_is_realised():
    # Probabilities of exactly 0 and 1 are known labels, so the expectation is the realised AUC.
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.6, 0.55, 0.1])
    value = expected_metric(METRICS["roc_auc"], labels, scores)
    assert value == pytest.approx(roc_auc_score(labels, scores))


def test_expected_metric_per_resample():
    counts = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 2.0, 0.0]])
    values = expected_metric(METRICS["accuracy"], PROBABILITIES, PROBABILITIES, counts)
    assert np.asarray(values) == pytest.approx([0.725, (2 * 0.9 + 2 * 0.6) / 4])


def test_calibration_choice_by_rows():
    assert choose_calibration(MIN_ISOTONIC_ROWS) == "isotonic"
    assert choose_calibration(MIN_ISOTONIC_ROWS - 1) == "platt"


def test_calibrator_one_class_rejected():
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator(np.zeros(50, dtype=np.int8), np.linspace(0, 1, 50))


def test_isotonic_recovers_true_probabilities():
    probabilities, labels = draw(1, 20000)
    scores = probabilities**3  # same order, far from calibrated
    calibrator = fit_calibrator(labels, scores)
    grid = np.array([0.2, 0.5, 0.8])
    assert calibrator.method == "isotonic"
    assert np.abs(calibrator(grid**3) - grid).max() < 0.05


def test_platt_on_few_rows():
    probabilities, labels = draw(2, 400)
    calibrator = fit_calibrator(labels, probabilities)
    assert calibrator.method == "platt"
    assert abs(float(calibrator(np.array([0.5]))[0]) - 0.5) < 0.1


def test_cbpe_close_to_realised_under_covariate_shift():
    validation = draw(3, 20000)
    # The current window holds less certain rows, so the model ranks them worse: its AUC falls.
    current = draw(4, 20000, low=0.3, high=0.7)
    estimated = estimate(validation, current[0])
    measured = realised(validation, current)
    assert estimated.current is not None and measured.current is not None
    assert measured.current.value is not None and measured.current.value < 0.65
    assert estimated.current.value == pytest.approx(measured.current.value, abs=0.015)
    assert estimated.significant_drop is True


def test_cbpe_corrects_miscalibrated_scores():
    probabilities, labels = draw(5, 20000)
    current_probabilities, current_labels = draw(6, 20000, low=0.1, high=0.6)
    estimated = estimate(
        (probabilities**3, labels), current_probabilities**3, primary_metric="accuracy"
    )
    expected_accuracy = np.mean((current_probabilities**3 > 0.5) == current_labels)
    assert estimated.current is not None
    assert estimated.current.value == pytest.approx(expected_accuracy, abs=0.015)


def test_cbpe_blind_to_label_flip():
    validation = draw(7, 10000)
    scores, labels = draw(8, 10000)
    rng = np.random.default_rng(9)
    flip = rng.random(len(labels)) < 0.3
    drifted_labels = np.where(flip, 1 - labels, labels)
    estimated = estimate(validation, scores)
    measured = realised(validation, (scores, drifted_labels))
    assert measured.significant_drop is True
    assert estimated.significant_drop is False
    assert estimated.drop is not None and abs(estimated.drop.drop or 0.0) < 0.02


def test_cbpe_result_reports_method():
    validation = draw(10, 3000)
    result = estimate(validation, draw(11, 500)[0], n_labelled_rows=0)
    assert result.kind == "estimated"
    assert result.details["method"] == "cbpe"
    assert result.details["calibration"] == "isotonic"
    assert result.n_current_rows == 500
    assert "assumes no concept drift" in result.message


def test_cbpe_in_sample_warning():
    validation = draw(12, 3000)
    result = estimate(validation, draw(13, 500)[0], reference_source="reference_window")
    assert result.reference_in_sample is True
    assert any("probably trained on" in warning for warning in result.warnings)
