"""Metric values checked by hand and against scikit-learn, and model-output detection."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from evaluation import metrics
from evaluation.metrics import (
    compute_metrics,
    encode_binary_target,
    get_metric,
    labels_to_binary,
    read_model_output,
)

# Labels from `score > 0.5` on scores [0.1, 0.7, 0.9, 0.3] against truth [0, 1, 1, 1].
LABEL_TRUTH = np.array([0, 1, 1, 1])
THRESHOLD_LABELS = np.array([0, 1, 1, 0])


def test_accuracy_by_hand():
    assert metrics.accuracy(LABEL_TRUTH, THRESHOLD_LABELS) == pytest.approx(0.75)


def test_f1_by_hand():
    # TP = 2, FP = 0, FN = 1, so F1 = 4 / 5.
    assert metrics.f1(LABEL_TRUTH, THRESHOLD_LABELS) == pytest.approx(0.8)


def test_roc_auc_by_hand():
    # Pairs (positive, negative): 0.35 beats 0.1 only, 0.8 beats both, so 3 of 4.
    y = np.array([0, 0, 1, 1])
    assert metrics.roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_roc_auc_tie_counts_half():
    y = np.array([0, 1])
    assert metrics.roc_auc(y, np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_log_loss_by_hand():
    expected = -(math.log(0.8) + math.log(0.7)) / 2  # 0.289909
    assert metrics.log_loss(np.array([1, 0]), np.array([0.8, 0.3])) == pytest.approx(expected)


def test_regression_metrics_by_hand():
    y = np.array([1.0, 2.0, 3.0])
    predictions = np.array([1.0, 2.0, 5.0])
    assert metrics.rmse(y, predictions) == pytest.approx(math.sqrt(4 / 3))
    assert metrics.mae(y, predictions) == pytest.approx(2 / 3)
    # SS_res = 4 and SS_tot = 2.
    assert metrics.r2(y, predictions) == pytest.approx(-1.0)


def test_roc_auc_one_class_is_nan():
    # A window with one class leaves ROC AUC undefined.
    assert math.isnan(metrics.roc_auc(np.zeros(60, dtype=int), np.linspace(0, 1, 60)))


def test_f1_without_positives_is_nan():
    assert math.isnan(metrics.f1(np.zeros(5, dtype=int), np.zeros(5, dtype=int)))


def test_r2_constant_target_is_nan():
    assert math.isnan(metrics.r2(np.full(4, 3.0), np.array([3.0, 2.0, 3.0, 4.0])))


@pytest.fixture
def classified() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 400)
    # Rounded so that many scores tie.
    scores = np.round(np.clip(0.3 * y + 0.7 * rng.random(400), 0, 1), 2)
    return y, scores


def test_classification_metrics_match_sklearn(classified):
    y, scores = classified
    labels = (scores > 0.5).astype(int)
    assert metrics.roc_auc(y, scores) == pytest.approx(sk.roc_auc_score(y, scores))
    assert metrics.log_loss(y, scores) == pytest.approx(sk.log_loss(y, scores))
    assert metrics.accuracy(y, labels) == pytest.approx(sk.accuracy_score(y, labels))
    assert metrics.f1(y, labels) == pytest.approx(sk.f1_score(y, labels))


def test_weights_equal_resampled_rows(classified):
    y, scores = classified
    rng = np.random.default_rng(5)
    rows = rng.integers(0, len(y), size=(3, len(y)))
    weights = np.vstack([np.bincount(row, minlength=len(y)) for row in rows]).astype(float)

    weighted = metrics.roc_auc(y, scores, weights)
    for index, row in enumerate(rows):
        assert weighted[index] == pytest.approx(sk.roc_auc_score(y[row], scores[row]))


def test_weighted_regression_equals_resampled_rows():
    rng = np.random.default_rng(8)
    y = 1000 + rng.normal(size=300)
    predictions = y + rng.normal(scale=0.5, size=300)
    row = rng.integers(0, 300, 300)
    weights = np.bincount(row, minlength=300).astype(float)[None, :]

    assert metrics.r2(y, predictions, weights)[0] == pytest.approx(
        sk.r2_score(y[row], predictions[row])
    )
    assert metrics.rmse(y, predictions, weights)[0] == pytest.approx(
        math.sqrt(sk.mean_squared_error(y[row], predictions[row]))
    )


def test_compute_metrics_labels_skip_probability_metrics():
    result = compute_metrics("classification", "labels", LABEL_TRUTH, THRESHOLD_LABELS)
    assert set(result) == {"accuracy", "f1"}


def test_compute_metrics_one_class_auc_is_none():
    result = compute_metrics(
        "classification", "probabilities", np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.6, 0.3])
    )
    assert result["roc_auc"] is None
    assert result["accuracy"] == pytest.approx(0.75)


def test_get_metric_rejects_other_task():
    with pytest.raises(ValueError, match="unknown regression metric 'roc_auc'"):
        get_metric("roc_auc", "regression")


# Model outputs


def test_output_two_columns_is_probabilities():
    output = read_model_output(np.array([[0.9, 0.1], [0.2, 0.8]]), "classification", 2)
    assert output.basis == "probabilities"
    assert output.values.tolist() == [0.1, 0.8]


def test_output_float_vector_is_probabilities():
    assert (
        read_model_output(pd.Series([0.1, 0.7, 0.9, 0.3]), "classification", 4).basis
        == "probabilities"
    )


def test_output_zero_one_floats_are_labels():
    assert read_model_output(np.array([0.0, 1.0, 1.0]), "classification", 3).basis == "labels"


def test_output_integers_are_labels():
    assert read_model_output(np.array([0, 1, 1, 0]), "classification", 4).basis == "labels"


def test_output_strings_are_labels():
    assert read_model_output(np.array(["no", "yes"]), "classification", 2).basis == "labels"


def test_output_margins_rejected():
    with pytest.raises(ValueError, match="outside"):
        read_model_output(np.array([-1.5, 2.0]), "classification", 2)


def test_output_three_columns_rejected():
    with pytest.raises(ValueError, match="3 columns"):
        read_model_output(np.full((2, 3), 1 / 3), "classification", 2)


def test_output_row_count_checked():
    with pytest.raises(ValueError, match="3 predictions for 4 rows"):
        read_model_output(np.array([0.1, 0.2, 0.3]), "classification", 4)


def test_output_nan_rejected():
    with pytest.raises(ValueError, match="1 missing"):
        read_model_output(np.array([0.1, np.nan]), "classification", 2)


# Targets


def test_target_string_classes_positive_is_larger():
    target = encode_binary_target(pd.Series(["no", "yes", "no"]))
    assert target.positive_label == "yes"
    assert target.values.tolist() == [0, 1, 0]


def test_target_one_class_zero_positive_is_one():
    target = encode_binary_target(pd.Series([0] * 60))
    assert target.positive_label == 1


def test_target_three_classes_rejected():
    with pytest.raises(ValueError, match="3 classes"):
        encode_binary_target(pd.Series(["a", "b", "c"]))


def test_labels_outside_target_classes_rejected():
    target = encode_binary_target(pd.Series(["no", "yes"]))
    with pytest.raises(ValueError, match="maybe"):
        labels_to_binary(np.array(["yes", "maybe"]), target)
