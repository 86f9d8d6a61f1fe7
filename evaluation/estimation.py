"""Confidence-based performance estimation (CBPE) for a window whose labels have not arrived.

The champion's probabilities are calibrated on its validation rows, where the labels are known. On the
current window, each calibrated probability p_i is read as the chance that row i is positive, which
gives the expected confusion matrix and the expected primary metric without any label. The method
and its assumptions follow NannyML's description of CBPE ("Estimation of Performance of the
Monitored Model", docs/how_it_works/performance_estimation.rst in the nannyml repository):

- the calibrated probabilities stay calibrated on the current window, that is P(y | score) is the
  same as on the validation rows. Covariate drift is allowed, but concept drift is invisible to the
  estimate;
- the current window does not move into regions of the input space the model never saw;
- the window is large enough for expected counts to be close to realised ones.

Every metric is computed as its realised version on a doubled set of rows: each row appears once as
a positive with weight p_i and once as a negative with weight 1 - p_i. Counts, accuracy and F1 then
become expected counts, and ROC AUC becomes the area under the expected ROC curve (expected TPR
against expected FPR over every threshold on the model's scores), which is how NannyML builds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from evaluation.bootstrap import resample_counts
from evaluation.metrics import DECISION_THRESHOLD, MetricSpec, probabilities_to_labels
from evaluation.performance import (
    CURRENT_SEED_OFFSET,
    MetricInterval,
    PerformanceDrop,
    PerformanceResult,
    ReferenceSource,
    bootstrap_samples,
    describe_comparison,
    independent_drop,
    interval_from_samples,
    resolve_metric,
)

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["isotonic", "platt"]

# Isotonic regression needs many rows per step to be stable; below this many validation rows the
# two-parameter Platt scaling is used instead.
MIN_ISOTONIC_ROWS = 1000
# Probabilities are clipped away from 0 and 1 before the logit of Platt scaling.
_LOGIT_EPSILON = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from the model's scores to calibrated probabilities of the positive class."""

    method: CalibrationMethod
    n_rows: int
    transform: Callable[[np.ndarray], np.ndarray]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.clip(self.transform(scores.astype(np.float64)), 0.0, 1.0)


def choose_calibration(n_rows: int) -> CalibrationMethod:
    """Return isotonic regression for at least `MIN_ISOTONIC_ROWS` rows, else Platt scaling."""
    return "isotonic" if n_rows >= MIN_ISOTONIC_ROWS else "platt"


def fit_calibrator(
    y_true: np.ndarray, scores: np.ndarray, method: CalibrationMethod | None = None
) -> Calibrator:
    """Fit a calibration of `scores` against the 0/1 labels `y_true` of the same rows.

    Isotonic regression fits a non-decreasing step function, clipped to the fitted score range for
    scores outside it. Platt scaling fits a logistic regression on the logit of the score.

    Raises
    ------
    ValueError
        When the rows hold only one class, because no calibration can be fitted then.
    """
    if len(np.unique(y_true)) < 2:
        raise ValueError(
            f"calibration needs both classes in the validation rows, got only {np.unique(y_true)}"
        )
    method = method or choose_calibration(len(y_true))
    if method == "isotonic":
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        isotonic.fit(scores.astype(np.float64), y_true.astype(np.float64))
        return Calibrator("isotonic", len(y_true), isotonic.predict)

    platt = LogisticRegression()
    platt.fit(_logit_column(scores), y_true)
    return Calibrator(
        "platt", len(y_true), lambda values: platt.predict_proba(_logit_column(values))[:, 1]
    )


def _logit_column(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(scores.astype(np.float64), _LOGIT_EPSILON, 1 - _LOGIT_EPSILON)
    return np.asarray(logit(clipped)).reshape(-1, 1)


def expected_metric(
    spec: MetricSpec,
    probabilities: np.ndarray,
    scores: np.ndarray,
    weights: np.ndarray | None = None,
) -> float | np.ndarray:
    """Compute the expected value of a classification metric from calibrated probabilities.

    Parameters
    ----------
    spec : a classification metric of `evaluation.metrics`.
    probabilities : calibrated probability that each row is positive, shape (n_rows,).
    scores : the model's raw probabilities, shape (n_rows,). Metrics that need probabilities (ROC
        AUC, log loss) use them directly; label metrics use `scores > DECISION_THRESHOLD`.
    weights : None, or bootstrap row counts of shape (n_resamples, n_rows).

    Returns
    -------
    The expected metric, or one value per resample. ROC AUC is the area under the expected ROC
    curve; accuracy and F1 come from expected confusion counts; log loss is its expectation.
    """
    inputs = scores if spec.needs_probabilities else probabilities_to_labels(scores)
    n_rows = len(probabilities)
    doubled_truth = np.concatenate([np.ones(n_rows, np.int8), np.zeros(n_rows, np.int8)])
    doubled_inputs = np.concatenate([inputs, inputs])
    row_weights = np.ones(n_rows) if weights is None else weights
    doubled_weights = np.concatenate(
        [row_weights * probabilities, row_weights * (1.0 - probabilities)], axis=-1
    )
    if weights is None:
        doubled_weights = doubled_weights[None, :]
    values = spec.function(doubled_truth, doubled_inputs, doubled_weights)
    return float(values[0]) if weights is None else np.asarray(values)


def expected_confusion(probabilities: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Return the expected confusion counts at the decision threshold (`score > 0.5` is positive)."""
    predicted = probabilities_to_labels(scores).astype(bool)
    return {
        "true_positive": float(probabilities[predicted].sum()),
        "false_positive": float((1.0 - probabilities[predicted]).sum()),
        "false_negative": float(probabilities[~predicted].sum()),
        "true_negative": float((1.0 - probabilities[~predicted]).sum()),
        "decision_threshold": DECISION_THRESHOLD,
    }


def _expected_samples(
    spec: MetricSpec,
    probabilities: np.ndarray,
    scores: np.ndarray,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """Return the expected metric on each bootstrap resample of the current rows."""
    blocks = [
        np.atleast_1d(expected_metric(spec, probabilities, scores, counts))
        for counts in resample_counts(len(scores), n_resamples, seed, max_block_cells=1_000_000)
    ]
    return np.concatenate(blocks)


def estimate_current_performance(
    *,
    model_name: str,
    champion_version: str | None,
    validation_y: np.ndarray,
    validation_scores: np.ndarray,
    current_scores: np.ndarray,
    primary_metric: str,
    margin: float,
    n_resamples: int,
    confidence_level: float,
    reference_source: ReferenceSource,
    n_labelled_rows: int = 0,
    seed: int = 0,
) -> PerformanceResult:
    """Estimate the champion's metric on unlabelled current rows and compare it with validation.

    Parameters
    ----------
    validation_y : 0/1 labels of the validation rows.
    validation_scores, current_scores : the champion's probability of the positive class.
    margin : smallest drop, in the metric's unit, that counts as significant.
    reference_source : where the calibration rows come from; "reference_window" means the
        champion was probably fitted on them, so the calibration and reference are optimistic.
    n_labelled_rows : labelled current rows, reported only; the estimate never reads labels.

    Returns
    -------
    PerformanceResult of kind "estimated". Its interval comes from a bootstrap of the current rows
    and covers the variation of the window's composition only, not the randomness of the unseen
    labels or the calibration's own error.
    """
    spec, _ = resolve_metric(primary_metric, "classification", "probabilities")
    calibrator = fit_calibrator(validation_y, validation_scores)
    probabilities = calibrator(current_scores)

    reference_value = float(spec.function(validation_y, validation_scores, None))
    reference_samples = bootstrap_samples(
        spec.function, validation_y, validation_scores, n_resamples, seed
    )
    estimated_value = float(expected_metric(spec, probabilities, current_scores))
    estimated_samples = _expected_samples(
        spec, probabilities, current_scores, n_resamples, seed + CURRENT_SEED_OFFSET
    )
    reference = interval_from_samples(
        reference_value, reference_samples, len(validation_y), confidence_level
    )
    estimated = interval_from_samples(
        estimated_value, estimated_samples, len(current_scores), confidence_level
    )
    drop = independent_drop(
        spec.higher_is_better,
        (reference.value, reference_samples),
        (estimated.value, estimated_samples),
        margin=margin,
        confidence_level=confidence_level,
    )
    warnings = _estimate_warnings(reference_source, validation_y, calibrator)
    return PerformanceResult(
        kind="estimated",
        status="available",
        message=_estimate_message(spec.name, reference, estimated, drop, calibrator, warnings),
        model_name=model_name,
        champion_version=champion_version,
        metric=spec.name,
        higher_is_better=spec.higher_is_better,
        basis="probabilities",
        reference=reference,
        current=estimated,
        drop=drop,
        reference_source=reference_source,
        reference_in_sample=reference_source == "reference_window",
        n_current_rows=len(current_scores),
        n_labelled_rows=n_labelled_rows,
        details={
            "method": "cbpe",
            "calibration": calibrator.method,
            "calibration_rows": calibrator.n_rows,
            "expected_confusion": expected_confusion(probabilities, current_scores),
            "mean_calibrated_probability": float(probabilities.mean()),
            "validation_positive_share": float(np.mean(validation_y)),
        },
        warnings=warnings,
    )


def _estimate_warnings(
    reference_source: ReferenceSource, validation_y: np.ndarray, calibrator: Calibrator
) -> list[str]:
    warnings = [
        "The estimate assumes no concept drift: P(y | score) must be as on the calibration rows. "
        "A change in the relation between features and target does not move it."
    ]
    if reference_source == "reference_window":
        warnings.append(
            "The champion has no validation predictions, so it was calibrated on the reference "
            "window, which it was probably trained on. Calibration and reference value are "
            "optimistic."
        )
    if calibrator.method == "platt":
        warnings.append(
            f"Only {len(validation_y)} calibration rows (fewer than {MIN_ISOTONIC_ROWS}), so Platt "
            "scaling was used instead of isotonic regression."
        )
    return warnings


def _estimate_message(
    metric: str,
    reference: MetricInterval,
    estimated: MetricInterval,
    drop: PerformanceDrop,
    calibrator: Calibrator,
    warnings: list[str],
) -> str:
    comparison = describe_comparison(metric, reference, estimated, drop)
    return (
        f"Estimated (CBPE, {calibrator.method} calibration on {calibrator.n_rows} rows, no labels "
        f"read) {comparison} {' '.join(warnings)}"
    )
