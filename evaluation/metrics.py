"""Evaluation metrics on one window, with optional bootstrap weights, and model-output handling.

Every metric function takes the true values, the model's scores and optional `weights`. Without
weights it returns one float. With a weight matrix of shape (n_resamples, n_rows), such as the
bootstrap counts from `evaluation.bootstrap.resample_counts`, it returns one value per resample in a
single pass (matrix products and cumulative sums, no per-resample sort). An undefined value is NaN
here: ROC AUC when the window has one class, F1 without any positive, R² for a constant target.
`compute_metrics` turns NaN into None for reports.

Binary classification only: targets are encoded as 0/1 with `encode_binary_target`, and a
probability is the probability of the positive class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.summary import ScoreBasis
from watchtower.settings import TaskType

logger = logging.getLogger(__name__)

MetricName = Literal["roc_auc", "accuracy", "f1", "log_loss", "rmse", "mae", "r2"]

# Probability above which a probability output counts as the positive label. Like scikit-learn's
# binary `predict`, a probability of exactly 0.5 gives the negative label.
DECISION_THRESHOLD = 0.5

# Smallest distance from 0 and 1 a probability is clipped to before the logarithm, the float64
# machine epsilon that scikit-learn's `log_loss` also uses (scikit-learn 1.5 and later).
_LOG_LOSS_EPSILON = float(np.finfo(np.float64).eps)

Weights = np.ndarray | None


def _weighted_sum(values: np.ndarray, weights: Weights) -> Any:
    if weights is None:
        return values.sum(dtype=np.float64)
    return weights @ values.astype(np.float64)


def _total_weight(n_rows: int, weights: Weights) -> Any:
    if weights is None:
        return float(n_rows)
    return weights.sum(axis=-1, dtype=np.float64)


def _divide_or_nan(numerator: Any, denominator: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.divide(numerator, denominator)
    ratio = np.where(np.asarray(denominator) == 0, np.nan, ratio)
    return float(ratio) if np.ndim(ratio) == 0 else ratio


def accuracy(y_true: np.ndarray, labels: np.ndarray, weights: Weights = None) -> Any:
    """Share of rows whose predicted label equals the true label.

    Parameters
    ----------
    y_true, labels : arrays of shape (n_rows,) with 0/1 values.
    weights : None, or row counts of shape (n_resamples, n_rows).

    Returns
    -------
    float in [0, 1], or one value per resample.
    """
    correct = (y_true == labels).astype(np.float64)
    return _divide_or_nan(_weighted_sum(correct, weights), _total_weight(len(y_true), weights))


def f1(y_true: np.ndarray, labels: np.ndarray, weights: Weights = None) -> Any:
    """F1 score of the positive class: 2 TP / (2 TP + FP + FN).

    NaN when the window has no positive row and the model predicts none (0 / 0), where
    scikit-learn's `f1_score` returns 0 with a warning.

    Parameters
    ----------
    y_true, labels : arrays of shape (n_rows,) with 0/1 values.
    weights : None, or row counts of shape (n_resamples, n_rows).

    Returns
    -------
    float in [0, 1], or one value per resample.
    """
    true_positive = _weighted_sum((y_true == 1) & (labels == 1), weights)
    false_positive = _weighted_sum((y_true == 0) & (labels == 1), weights)
    false_negative = _weighted_sum((y_true == 1) & (labels == 0), weights)
    return _divide_or_nan(2 * true_positive, 2 * true_positive + false_positive + false_negative)


def log_loss(y_true: np.ndarray, probabilities: np.ndarray, weights: Weights = None) -> Any:
    """Mean negative log-likelihood of the true labels, in nats (natural logarithm).

    Probabilities are clipped to [eps, 1 - eps] with eps the float64 machine epsilon, as scikit-learn's
    `log_loss` does. Defined even when the window has one class.

    Parameters
    ----------
    y_true : array of shape (n_rows,) with 0/1 values.
    probabilities : array of shape (n_rows,), probability of the positive class.
    weights : None, or row counts of shape (n_resamples, n_rows).

    Returns
    -------
    float >= 0 (lower is better), or one value per resample.
    """
    clipped = np.clip(probabilities.astype(np.float64), _LOG_LOSS_EPSILON, 1 - _LOG_LOSS_EPSILON)
    row_loss = -(y_true * np.log(clipped) + (1 - y_true) * np.log1p(-clipped))
    return _divide_or_nan(_weighted_sum(row_loss, weights), _total_weight(len(y_true), weights))


def roc_auc(y_true: np.ndarray, scores: np.ndarray, weights: Weights = None) -> Any:
    """Area under the ROC curve: the probability that a random positive outscores a random negative.

    Computed from ranks (the Mann-Whitney U statistic divided by n_pos * n_neg), with tied scores
    counting one half, which equals scikit-learn's `roc_auc_score`. The rows are sorted once, and
    each resample only reweights them, so a weight matrix costs a cumulative sum, not a sort.

    Parameters
    ----------
    y_true : array of shape (n_rows,) with 0/1 values.
    scores : array of shape (n_rows,), higher meaning more likely positive.
    weights : None, or row counts of shape (n_resamples, n_rows).

    Returns
    -------
    float in [0, 1], NaN when the (resampled) window has only one class.
    """
    is_positive = y_true == 1
    negative_order = np.argsort(scores[~is_positive], kind="mergesort")
    negative_scores = scores[~is_positive][negative_order]
    positive_scores = scores[is_positive]

    # Each positive is credited with the weight of the negatives scored below it plus half the
    # negatives tied with it, read from the cumulative negative weight in score order.
    below = np.searchsorted(negative_scores, positive_scores, side="left")
    through = np.searchsorted(negative_scores, positive_scores, side="right")

    row_weights = np.ones(len(y_true)) if weights is None else weights
    negative_weights = row_weights[..., ~is_positive][..., negative_order]
    positive_weights = row_weights[..., is_positive]
    cumulative = np.cumsum(negative_weights, axis=-1)
    padded = np.concatenate([np.zeros_like(cumulative[..., :1]), cumulative], axis=-1)
    credited = 0.5 * (padded[..., below] + padded[..., through])

    wins = (positive_weights * credited).sum(axis=-1)
    pairs = positive_weights.sum(axis=-1) * negative_weights.sum(axis=-1)
    return _divide_or_nan(wins, pairs)


def rmse(y_true: np.ndarray, predictions: np.ndarray, weights: Weights = None) -> Any:
    """Root mean squared error, in the target's unit (lower is better)."""
    squared = (y_true.astype(np.float64) - predictions) ** 2
    mean_squared = _divide_or_nan(
        _weighted_sum(squared, weights), _total_weight(len(y_true), weights)
    )
    return np.sqrt(mean_squared) if weights is not None else math.sqrt(mean_squared)


def mae(y_true: np.ndarray, predictions: np.ndarray, weights: Weights = None) -> Any:
    """Mean absolute error, in the target's unit (lower is better)."""
    absolute = np.abs(y_true.astype(np.float64) - predictions)
    return _divide_or_nan(_weighted_sum(absolute, weights), _total_weight(len(y_true), weights))


def r2(y_true: np.ndarray, predictions: np.ndarray, weights: Weights = None) -> Any:
    """Coefficient of determination, 1 - SS_res / SS_tot.

    NaN when the target is constant (SS_tot = 0), where scikit-learn's `r2_score` returns 0 or 1.
    The target is centred on its full-window mean first, so the weighted SS_tot formula keeps its
    precision for targets with a large mean.

    Returns
    -------
    float <= 1 (higher is better), or one value per resample.
    """
    centred = y_true.astype(np.float64) - y_true.mean()
    residual = (y_true - predictions).astype(np.float64)
    total_weight = _total_weight(len(y_true), weights)

    residual_sum = _weighted_sum(residual**2, weights)
    centred_sum = _weighted_sum(centred, weights)
    centred_square_sum = _weighted_sum(centred**2, weights)
    total_sum = centred_square_sum - centred_sum**2 / total_weight
    # A resample of rows that share one target value leaves rounding noise, not variance.
    total_sum = np.where(total_sum <= 1e-9 * centred_square_sum, 0.0, total_sum)
    return 1.0 - _divide_or_nan(residual_sum, total_sum)


MetricFunction = Callable[[np.ndarray, np.ndarray, Weights], Any]


@dataclass(frozen=True)
class MetricSpec:
    """A metric, the task it applies to, its direction and whether it needs probabilities."""

    name: MetricName
    task_type: TaskType
    higher_is_better: bool
    needs_probabilities: bool
    function: MetricFunction


METRICS: dict[str, MetricSpec] = {
    "roc_auc": MetricSpec("roc_auc", "classification", True, True, roc_auc),
    "accuracy": MetricSpec("accuracy", "classification", True, False, accuracy),
    "f1": MetricSpec("f1", "classification", True, False, f1),
    "log_loss": MetricSpec("log_loss", "classification", False, True, log_loss),
    "rmse": MetricSpec("rmse", "regression", False, False, rmse),
    "mae": MetricSpec("mae", "regression", False, False, mae),
    "r2": MetricSpec("r2", "regression", True, False, r2),
}

# The label metric used when the configured primary metric needs probabilities that a model lacks.
LABEL_FALLBACK_METRIC: MetricName = "accuracy"


def get_metric(name: str, task_type: TaskType) -> MetricSpec:
    """Return the metric called `name`, or raise ValueError listing the metrics of `task_type`."""
    spec = METRICS.get(name)
    if spec is None or spec.task_type != task_type:
        valid = sorted(key for key, value in METRICS.items() if value.task_type == task_type)
        raise ValueError(f"unknown {task_type} metric {name!r}; use one of {valid}")
    return spec


def metrics_for_basis(task_type: TaskType, basis: ScoreBasis) -> list[MetricSpec]:
    """List the metrics that can be computed for a task on one score basis."""
    specs = [spec for spec in METRICS.values() if spec.task_type == task_type]
    if basis == "labels":
        specs = [spec for spec in specs if not spec.needs_probabilities]
    return specs


def compute_metrics(
    task_type: TaskType, basis: ScoreBasis, y_true: np.ndarray, scores: np.ndarray
) -> dict[str, float | None]:
    """Compute every metric the basis allows, with None for a metric undefined on this window.

    `scores` are probabilities of the positive class (basis "probabilities"), 0/1 labels ("labels")
    or predicted values ("values"). Label metrics on probabilities use `score > DECISION_THRESHOLD`.
    """
    results: dict[str, float | None] = {}
    for spec in metrics_for_basis(task_type, basis):
        inputs = scores
        if basis == "probabilities" and not spec.needs_probabilities:
            inputs = probabilities_to_labels(scores)
        value = float(spec.function(y_true, inputs, None))
        results[spec.name] = value if math.isfinite(value) else None
    return results


# Targets and model outputs


@dataclass(frozen=True)
class EncodedTarget:
    """A binary target as 0/1, with the original label that 1 stands for."""

    values: np.ndarray
    positive_label: Any
    classes: list[Any]


def _is_zero_one(classes: list[Any]) -> bool:
    return all(
        isinstance(value, (bool, int, float, np.bool_, np.number)) for value in classes
    ) and set(classes) <= {0, 1}


def encode_binary_target(
    y: pd.Series | np.ndarray, predicted_labels: list[Any] | None = None
) -> EncodedTarget:
    """Encode a binary target as 0/1.

    The positive class is 1 (or True) for 0/1 targets. Otherwise it is the larger of the two sorted
    classes, the class whose probability scikit-learn's `predict_proba` puts in column 1. A window
    with one class that is not 0/1 borrows the other class from `predicted_labels`.

    Raises
    ------
    ValueError
        When the target has more than two classes, or its positive class cannot be determined.
    """
    values = np.asarray(y)
    classes = sorted(pd.unique(values).tolist())
    if len(classes) > 2:
        raise ValueError(
            f"the target has {len(classes)} classes {classes[:10]}; only binary classification is "
            "supported, so encode the target as two classes"
        )

    if _is_zero_one(classes):
        positive: Any = 1
    else:
        known = sorted(set(classes) | set(predicted_labels or []))
        if len(known) != 2:
            raise ValueError(
                f"cannot tell the positive class from target classes {classes} and predicted labels "
                f"{sorted(set(predicted_labels or []))}; use 0/1 targets"
            )
        positive = known[1]
    return EncodedTarget(
        values=(values == positive).astype(np.int8), positive_label=positive, classes=classes
    )


def probabilities_to_labels(probabilities: np.ndarray) -> np.ndarray:
    """Turn probabilities of the positive class into 0/1 labels with `p > DECISION_THRESHOLD`."""
    return (probabilities > DECISION_THRESHOLD).astype(np.int8)


@dataclass(frozen=True)
class ModelOutput:
    """What a model returned on the evaluation rows, reduced to one value per row.

    `values` are probabilities of the positive class, raw labels (not yet encoded as 0/1) or
    predicted values, depending on `basis`.
    """

    basis: ScoreBasis
    values: np.ndarray


def _as_array(raw: Any) -> np.ndarray:
    if isinstance(raw, (pd.DataFrame, pd.Series)):
        return raw.to_numpy()
    return np.asarray(raw)


def _is_probability_vector(values: np.ndarray) -> bool:
    if not np.issubdtype(values.dtype, np.floating) or not np.all(np.isfinite(values)):
        return False
    in_unit_interval = bool(np.all((values >= 0.0) & (values <= 1.0)))
    only_zero_one = bool(np.all((values == 0.0) | (values == 1.0)))
    return in_unit_interval and not only_zero_one


def _read_classifier_output(array: np.ndarray) -> ModelOutput:
    if array.ndim == 2 and array.shape[1] == 2:
        probabilities = array[:, 1].astype(np.float64)
        if not np.all((probabilities >= 0.0) & (probabilities <= 1.0)):
            raise ValueError("the model returned two columns that are not probabilities in [0, 1]")
        return ModelOutput("probabilities", probabilities)
    if array.ndim == 2:
        raise ValueError(
            f"the model returned {array.shape[1]} columns; only binary classifiers (two probability "
            "columns) or one column of labels or probabilities are supported"
        )

    if _is_probability_vector(array):
        return ModelOutput("probabilities", array.astype(np.float64))
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isin(array, (0.0, 1.0))):
        # Scores outside [0, 1] (such as decision_function margins) are neither labels nor
        # probabilities, so no metric on them would be honest.
        raise ValueError(
            "the model returned scores outside [0, 1] that are neither probabilities nor labels; "
            "log it with pyfunc_predict_fn='predict_proba' or make predict return labels"
        )
    return ModelOutput("labels", array)


def read_model_output(raw: Any, task_type: TaskType, n_rows: int) -> ModelOutput:
    """Reduce a pyfunc model's prediction to one value per row and detect its basis.

    Classification: an (n, 2) array is probabilities, with the positive class in column 1. A 1-D
    float array within [0, 1] that is not all 0 and 1 is probabilities too. Anything else is labels,
    so a model whose probabilities are all exactly 0 or 1 is read as returning labels.
    Regression: the values themselves.

    Raises
    ------
    ValueError
        When the number of rows differs from the input, or the output is neither labels nor
        probabilities (more than two columns, or scores outside [0, 1]).
    """
    array = _as_array(raw)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape[0] != n_rows:
        raise ValueError(f"the model returned {array.shape[0]} predictions for {n_rows} rows")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        missing = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"the model returned {missing} missing or infinite predictions")

    if task_type == "regression":
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
            raise ValueError(
                f"a regression model must return one number per row, got shape {array.shape}"
            )
        return ModelOutput("values", array.astype(np.float64))
    return _read_classifier_output(array)


def labels_to_binary(labels: np.ndarray, target: EncodedTarget) -> np.ndarray:
    """Encode predicted labels as 0/1 against the target's positive label.

    Raises
    ------
    ValueError
        When a predicted label is not one of the target's two classes.
    """
    allowed = set(target.classes) | {target.positive_label}
    if _is_zero_one(target.classes):
        allowed |= {0, 1}
    unknown = sorted(
        {value for value in pd.unique(labels).tolist() if value not in allowed}, key=str
    )
    if unknown:
        raise ValueError(
            f"the model predicted labels {unknown[:10]} that are not classes of the target "
            f"{sorted(allowed, key=str)}"
        )
    return (labels == target.positive_label).astype(np.int8)
